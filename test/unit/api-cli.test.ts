/**
 * The service's command-line side: config files and layers as `serve` reads them, `polyrun keys`, and the
 * first-start key.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { keysFilePath } from '../../src/api/app.js';
import { keysCommand } from '../../src/cli/keys.js';
import { ensureFirstKey } from '../../src/cli/serve.js';
import { loadConfig } from '../../src/config/load.js';
import { KeyStore, hashKey } from '../../src/store/keys.js';
import { tempDir, testConfig } from '../helpers/app.js';

const dirs: string[] = [];
function dir(): string {
  const d = tempDir();
  dirs.push(d);
  return d;
}
afterEach(() => {
  vi.restoreAllMocks();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function captureStdout(): string[] {
  const out: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out.push(String(chunk));
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  return out;
}

describe('loadConfig', () => {
  it('reads a YAML file from --config or POLYRUN_CONFIG, under env and flags', () => {
    const d = dir();
    const file = join(d, 'polyrun.yaml');
    writeFileSync(file, 'port: 3000\nslots: 3\ntenants:\n  acme:\n    languages: [python]\n');
    const viaFlag = loadConfig(['--config', file, '--slots', '5'], { POLYRUN_PORT: '3001' });
    expect(viaFlag.source).toBe(file);
    expect(viaFlag.config).toMatchObject({ port: 3001, slots: 5, tenants: { acme: { languages: ['python'] } } });
    expect(loadConfig([], { POLYRUN_CONFIG: file }).config.port).toBe(3000);
    writeFileSync(join(d, 'c.json'), JSON.stringify({ auth: false }));
    expect(loadConfig(['--config', join(d, 'c.json')], {}).config.auth).toBe(false);
  });

  it('says clearly what is wrong', () => {
    const d = dir();
    expect(() => loadConfig(['--config', join(d, 'missing.yaml')], {})).toThrow(/cannot read config file .*missing\.yaml: ENOENT/);
    writeFileSync(join(d, 'bad.yaml'), 'port: [1, 2\n');
    expect(() => loadConfig(['--config', join(d, 'bad.yaml')], {})).toThrow(/bad\.yaml/);
    writeFileSync(join(d, 'typo.yaml'), 'prot: 3000\n');
    expect(() => loadConfig(['--config', join(d, 'typo.yaml')], {})).toThrow(/invalid configuration:[\s\S]*prot/);
  });
});

describe('polyrun keys', () => {
  it('creates a key (printed once, stored hashed), lists and revokes it', async () => {
    const d = dir();
    const out = captureStdout();
    await keysCommand(['create', '--tenant', 'acme', '--data-dir', d]);
    const key = out.join('').trim();
    expect(key).toMatch(/^pr_[A-Za-z0-9_-]{43}$/);
    const file = readFileSync(join(d, 'keys.json'), 'utf8');
    expect(file).not.toContain(key);
    expect(file).toContain(hashKey(key));
    expect(new KeyStore(join(d, 'keys.json')).verify(key)?.tenant).toBe('acme');

    out.length = 0;
    await keysCommand(['list', '--json', '--data-dir', d]);
    const [listed] = JSON.parse(out.join(''));
    expect(listed).toMatchObject({ tenant: 'acme' });
    await keysCommand(['revoke', listed.id, '--data-dir', d]);
    expect(new KeyStore(join(d, 'keys.json')).verify(key)).toBeUndefined();
  });

  it('refuses bad usage', async () => {
    const d = dir();
    await expect(keysCommand(['create', '--data-dir', d])).rejects.toThrow(/--tenant/);
    await expect(keysCommand(['revoke', 'nope', '--data-dir', d])).rejects.toThrow(/no key with id nope/);
    await expect(keysCommand(['frobnicate', '--data-dir', d])).rejects.toThrow(/usage/);
  });
});

describe('first start', () => {
  it('creates one key for the "default" tenant when auth is on and there is none', () => {
    const config = testConfig(dir());
    const printed: string[] = [];
    ensureFirstKey(config, (l) => printed.push(l));
    ensureFirstKey(config, (l) => printed.push(l));
    expect(printed).toHaveLength(1);
    const key = /pr_[A-Za-z0-9_-]+/.exec(printed[0]!)![0];
    expect(new KeyStore(keysFilePath(config)).verify(key)?.tenant).toBe('default');
    const noAuth = testConfig(dir(), { auth: false });
    ensureFirstKey(noAuth, (l) => printed.push(l));
    expect(printed).toHaveLength(1);
  });
});
