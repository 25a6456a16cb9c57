/** Generated documentation tables must match the code they are generated from (run `npm run docs`). */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { settingsTable, withSettingsTable } from '../../src/config/settings-doc.js';
import { projectPath } from '../../src/project.js';

describe('generated docs', () => {
  it.each(['README.md', 'docs/configuration.md'])('%s holds the current settings table', (file) => {
    const text = readFileSync(projectPath(file), 'utf8');
    expect(withSettingsTable(text, settingsTable())).toBe(text);
  });

  it('lists every setting with its env var', () => {
    const table = settingsTable();
    for (const env of ['POLYRUN_OCI_RUNTIME', 'POLYRUN_POOL_MAX', 'POLYRUN_DATA_DIR']) expect(table).toContain(env);
  });
});
