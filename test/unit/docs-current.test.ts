/** Generated documentation tables must match the code they are generated from (run `npm run docs`). */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { settingsTable, withSettingsTable } from '../../src/config/settings-doc.js';
import { projectPath } from '../../src/project.js';
import { languagesTable, tableVersions, withLanguagesTable } from '../../src/runtimes/languages-doc.js';
import { loadManifests, probeVersion } from '../../src/runtimes/registry.js';

describe('generated docs', () => {
  it.each(['README.md', 'docs/configuration.md'])('%s holds the current settings table', (file) => {
    const text = readFileSync(projectPath(file), 'utf8');
    expect(withSettingsTable(text, settingsTable())).toBe(text);
  });

  it('lists every setting with its env var', () => {
    const table = settingsTable();
    for (const env of ['POLYRUN_OCI_RUNTIME', 'POLYRUN_POOL_MAX', 'POLYRUN_DATA_DIR']) expect(table).toContain(env);
  });

  it('README.md holds the current languages table (manifests, and the versions of the toolchains installed here)', async () => {
    const text = readFileSync(projectPath('README.md'), 'utf8');
    const manifests = await loadManifests();
    // A toolchain missing on this machine cannot contradict the table; one that is here must match it.
    const probed = await Promise.all(manifests.map(async (m) => [m.name, await probeVersion(m)] as const));
    const versions = { ...tableVersions(text), ...Object.fromEntries(probed.filter(([, v]) => v !== null)) };
    expect(withLanguagesTable(text, languagesTable(manifests, versions))).toBe(text);
  }, 30_000);

  it('the languages table has a row per runtime and counts them', async () => {
    const manifests = await loadManifests();
    const table = languagesTable(manifests, { python: '3.11.2' });
    expect(table.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| runtime'))).toHaveLength(manifests.length);
    expect(table).toContain('| python | py, python3, py3 | .py | interpreted | 3.11.2 | core | `python3` |');
    expect(table).toContain('| pypy (python) | pypy3 | .py | interpreted | - | `polyrun install pypy` | `pypy3` |');
    expect(table).toMatch(/\n\d+ runtimes of \d+ languages\.$/);
  });
});
