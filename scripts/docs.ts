/** `npm run docs`: regenerate the generated tables in README.md and docs/. */
import { readFileSync, writeFileSync } from 'node:fs';
import { settingsTable, withSettingsTable } from '../src/config/settings-doc.js';
import { projectPath } from '../src/project.js';
import { languagesTable as judge0LanguagesTable, withLanguagesTable as withJudge0LanguagesTable } from '../src/compat/judge0/doc-table.js';
import { languagesTable, tableVersions, withLanguagesTable } from '../src/runtimes/languages-doc.js';
import { loadManifests, probeVersion } from '../src/runtimes/registry.js';

for (const file of ['README.md', 'docs/configuration.md']) {
  const path = projectPath(file);
  const before = readFileSync(path, 'utf8');
  const after = withSettingsTable(before, settingsTable());
  if (after !== before) writeFileSync(path, after);
  process.stdout.write(`${file}: settings table ${after === before ? 'current' : 'updated'}\n`);
}

// The Judge0 language id table of docs/api.md (src/compat/judge0/languages.json).
{
  const path = projectPath('docs', 'api.md');
  const before = readFileSync(path, 'utf8');
  const after = withJudge0LanguagesTable(before, judge0LanguagesTable());
  if (after !== before) writeFileSync(path, after);
  process.stdout.write(`docs/api.md (judge0 languages): ${after === before ? 'current' : 'updated'}\n`);
}

// The languages table shows the version of each toolchain on this host; one not installed here keeps the
// version the table had (so a docs run on a smaller machine does not erase them).
const readme = projectPath('README.md');
const readmeBefore = readFileSync(readme, 'utf8');
const manifests = await loadManifests();
const probed = await Promise.all(manifests.map(async (m) => [m.name, await probeVersion(m)] as const));
const versions = { ...tableVersions(readmeBefore), ...Object.fromEntries(probed.filter(([, v]) => v !== null)) };
const readmeAfter = withLanguagesTable(readmeBefore, languagesTable(manifests, versions));
if (readmeAfter !== readmeBefore) writeFileSync(readme, readmeAfter);
const missing = probed.filter(([, v]) => v === null).map(([n]) => n);
process.stdout.write(`README.md: languages table ${readmeAfter === readmeBefore ? 'current' : 'updated'}${missing.length ? ` (not installed here: ${missing.join(', ')})` : ''}\n`);
