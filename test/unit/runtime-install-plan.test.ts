/** What `polyrun install` / `uninstall` do, decided from the manifests (src/runtimes/install-plan.ts). */
import { describe, expect, test } from 'vitest';
import { installSet, isInstalled, packagesOf, removablePackages, resolveRuntimes } from '../../src/runtimes/install-plan.js';
import type { RuntimeManifest } from '../../src/runtimes/manifest.js';
import { loadManifests } from '../../src/runtimes/registry.js';

function m(name: string, apt: string[], extra: Partial<RuntimeManifest> = {}): RuntimeManifest {
  return {
    name,
    aliases: [],
    extensions: [`.${name}`],
    core: false,
    packages: { apt },
    version: { argv: ['/usr/bin/true'], pattern: '(1)' },
    run: { argv: ['/usr/bin/true'] },
    selfTest: { files: [{ name: 'x', content: 'x' }], expectStdout: '' },
    ...extra,
  };
}

const c = m('c', ['gcc', 'libc6-dev'], { core: true });
const java = m('java', ['default-jdk-headless']);
const kotlin = m('kotlin', ['kotlin', 'default-jre-headless', 'default-jdk-headless'], { onDemand: true, aliases: ['kt'] });
const clang = m('clang', ['clang', 'libc6-dev'], { language: 'c', onDemand: true });
const all = [c, clang, java, kotlin];

describe('install plan', () => {
  test('names, aliases and languages resolve; a language means its reference runtime; unknown names apart', () => {
    expect(resolveRuntimes(all, ['kt', 'clang', 'c', 'kotlin', 'cobol'])).toEqual({ found: [kotlin, clang, c], unknown: ['cobol'] });
  });

  test('packages once each, in order', () => {
    expect(packagesOf([kotlin, java, c, clang])).toEqual({
      apt: ['kotlin', 'default-jre-headless', 'default-jdk-headless', 'gcc', 'libc6-dev', 'clang'],
      npm: [],
    });
  });

  test('installed means every Debian package is', () => {
    expect(isInstalled(java, new Set(['default-jdk-headless']))).toBe(true);
    expect(isInstalled(kotlin, new Set(['default-jdk-headless', 'kotlin']))).toBe(false);
  });

  test('the install sets', () => {
    expect([c, java, kotlin].map(installSet)).toEqual(['core', 'standard', 'on demand']);
  });

  test('uninstall keeps what another installed runtime or polyrun needs, and never a core runtime', () => {
    const installed = new Set(['gcc', 'libc6-dev', 'clang', 'default-jdk-headless', 'default-jre-headless', 'kotlin']);
    expect(removablePackages(all, [kotlin, clang, c], installed, ['gcc', 'libc6-dev'])).toEqual({
      remove: ['kotlin', 'default-jre-headless', 'clang'],
      kept: [
        { pkg: 'default-jdk-headless', by: 'java' },
        { pkg: 'libc6-dev', by: 'polyrun' },
      ],
      refused: ['c'],
    });
    // With java gone too, the JDK goes.
    expect(removablePackages(all, [kotlin, java], installed, []).remove).toEqual(['kotlin', 'default-jre-headless', 'default-jdk-headless']);
  });

  test('the shipped standard set is today\'s 14 runtimes; everything newer is on demand', async () => {
    const manifests = await loadManifests();
    expect(manifests.filter((x) => installSet(x) !== 'on demand').map((x) => x.name)).toEqual([
      'bash', 'c++', 'c', 'csharp', 'go', 'java', 'javascript', 'lua', 'perl', 'php', 'python', 'ruby', 'rust', 'typescript',
    ]);
  });
});
