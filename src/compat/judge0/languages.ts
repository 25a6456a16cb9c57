/**
 * Judge0 language ids <-> polyrun runtimes. The table is data (languages.json): Judge0 CE's own ids where
 * the language exists, polyrun's ids from 1000 for runtimes Judge0 CE never had. It is resolved at run time
 * against the runtimes a tenant may use, so only installed runtimes are listed or accepted; the name shows
 * the version actually installed ("C (GCC 12.2.0)"). Pure (the table is read once at import).
 */
import { readFileSync } from 'node:fs';
import { projectPath } from '../../project.js';
import type { RuntimeInfo } from '../../runtimes/catalogue.js';

export interface LanguageRow {
  id: number;
  /** With `{version}` for the installed version. */
  name: string;
  /** polyrun runtime names or aliases, in order of preference. */
  runtimes: string[];
  /** Listed by GET /languages (the others are older Judge0 ids of the same language: accepted, in /languages/all). */
  primary: boolean;
}

interface Table {
  judge0: LanguageRow[];
  polyrun: LanguageRow[];
}

/** Judge0 CE's highest language id; polyrun's own ids start far above it. */
export const JUDGE0_MAX_ID = 89;
export const POLYRUN_FIRST_ID = 1000;

export const LANGUAGE_TABLE: Table = JSON.parse(readFileSync(projectPath('src', 'compat', 'judge0', 'languages.json'), 'utf8')) as Table;
export const LANGUAGE_ROWS: readonly LanguageRow[] = [...LANGUAGE_TABLE.judge0, ...LANGUAGE_TABLE.polyrun];

export interface Judge0Language {
  id: number;
  name: string;
  primary: boolean;
  runtime: RuntimeInfo;
}

/** The first runtime of `row` that is available (by name, then by alias). */
function runtimeOf(row: LanguageRow, available: readonly RuntimeInfo[]): RuntimeInfo | undefined {
  for (const wanted of row.runtimes) {
    const found = available.find((r) => r.name === wanted) ?? available.find((r) => r.aliases.includes(wanted));
    if (found) return found;
  }
  return undefined;
}

/** Every row whose runtime is available, with its resolved name. Sorted by id. */
export function resolveLanguages(available: readonly RuntimeInfo[], rows: readonly LanguageRow[] = LANGUAGE_ROWS): Judge0Language[] {
  const out: Judge0Language[] = [];
  for (const row of rows) {
    const runtime = runtimeOf(row, available);
    if (runtime) out.push({ id: row.id, name: row.name.replace('{version}', runtime.version), primary: row.primary, runtime });
  }
  return out.sort((a, b) => a.id - b.id);
}

/** Judge0 sorts GET /languages by name (database collation: case-insensitive here). */
export function byName(a: { name: string; id: number }, b: { name: string; id: number }): number {
  return a.name.localeCompare(b.name, 'en', { sensitivity: 'base' }) || a.id - b.id;
}
