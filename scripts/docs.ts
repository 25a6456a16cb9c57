/** `npm run docs`: regenerate the generated tables in README.md and docs/. */
import { readFileSync, writeFileSync } from 'node:fs';
import { settingsTable, withSettingsTable } from '../src/config/settings-doc.js';
import { projectPath } from '../src/project.js';

for (const file of ['README.md', 'docs/configuration.md']) {
  const path = projectPath(file);
  const before = readFileSync(path, 'utf8');
  const after = withSettingsTable(before, settingsTable());
  if (after !== before) writeFileSync(path, after);
  process.stdout.write(`${file}: ${after === before ? 'current' : 'updated'}\n`);
}
