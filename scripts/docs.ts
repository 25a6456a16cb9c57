/** `npm run docs`: regenerate the generated tables in README.md and docs/. */
import { readFileSync, writeFileSync } from 'node:fs';
import { settingsTable, withSettingsTable } from '../src/config/settings-doc.js';
import { projectPath } from '../src/project.js';
import { languagesTable, tableVersions, withLanguagesTable } from '../src/runtimes/languages-doc.js';
import { loadManifests, probeVersion } from '../src/runtimes/registry.js';

for (const file of ['README.md', 'docs/configuration.md']) {
  const path = projectPath(file);
  const before = readFileSync(path, 'utf8');
  const after = withSettingsTable(before, settingsTable());
  if (after !== before) writeFileSync(path, after);
  process.stdout.write(`${file}: settings table ${after === before ? 'current' : 'updated'}\n`);
}

// The languages table shows the version of each toolchain on this host; one not installed here keeps the
// version the table had (so a docs run on a smaller machine does not erase them).
const readme = projectPath('README.md');
const before = readFileSync(readme, 'utf8');
const manifests = await loadManifests();
const probed = await Promise.all(manifests.map(async (m) => [m.name, await probeVersion(m)] as const));
const versions = { ...tableVersions(before), ...Object.fromEntries(probed.filter(([, v]) => v !== null)) };
const after = withLanguagesTable(before, languagesTable(manifests, versions));
if (after !== before) writeFileSync(readme, after);
const missing = probed.filter(([, v]) => v === null).map(([n]) => n);
process.stdout.write(`README.md: languages table ${after === before ? 'current' : 'updated'}${missing.length ? ` (not installed here: ${missing.join(', ')})` : ''}\n`);
