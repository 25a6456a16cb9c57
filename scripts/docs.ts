/** `npm run docs`: regenerate the generated tables in README.md and docs/. */
import { readFileSync, writeFileSync } from 'node:fs';
import { settingsTable, withSettingsTable } from '../src/config/settings-doc.js';
import { projectPath } from '../src/project.js';
import { languagesTable, withLanguagesTable } from '../src/compat/judge0/doc-table.js';

for (const file of ['README.md', 'docs/configuration.md']) {
  const path = projectPath(file);
  const before = readFileSync(path, 'utf8');
  const after = withSettingsTable(before, settingsTable());
  if (after !== before) writeFileSync(path, after);
  process.stdout.write(`${file}: ${after === before ? 'current' : 'updated'}\n`);
}

// The Judge0 language id table of docs/api.md (src/compat/judge0/languages.json).
{
  const path = projectPath('docs', 'api.md');
  const before = readFileSync(path, 'utf8');
  const after = withLanguagesTable(before, languagesTable());
  if (after !== before) writeFileSync(path, after);
  process.stdout.write(`docs/api.md (judge0 languages): ${after === before ? 'current' : 'updated'}\n`);
}
