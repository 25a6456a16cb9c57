/**
 * Each runtime's end-to-end test cases, kept as data beside its manifest: manifests/NAME.cases.json next to
 * manifests/NAME.json. test/sandbox/runtimes.test.ts runs them in real sandboxes; test/unit/runtime-cases
 * checks without a sandbox that every manifest has a valid cases file.
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { RuntimeManifest } from './manifest.js';
import { defaultManifestDir, validateManifest } from './registry.js';

export const CASES_SUFFIX = '.cases.json';

/** Replaced, in a program's files and its expected stdout, by a value unique to each test run. */
export const NONCE = '{nonce}';

/** A source text: a string, or its lines (each one followed by "\n"), easier to read in JSON. */
const Source = Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String(), { minItems: 1 })]);

const SourceFile = Type.Object(
  {
    /** Without a name the runtime names the file (entry.defaultName, or from its public class). */
    name: Type.Optional(Type.String({ minLength: 1 })),
    content: Source,
  },
  { additionalProperties: false },
);

/** One program: a single unnamed file, or files (the first is the entry). */
const Program = Type.Union([Source, Type.Array(SourceFile, { minItems: 1 })]);

/** A further program for this runtime (multi-file, naming rules...): it must run ok and print `stdout`. */
const ProgramCase = Type.Object(
  {
    /** The test's name. */
    title: Type.String({ minLength: 1 }),
    files: Program,
    stdout: Type.String(),
    /**
     * Run it twice: the first run compiles for real, the second is a compile-cache hit with the same output.
     * Needs {nonce} in a file, so that the first run never hits an entry of an earlier test run.
     */
    cachedOnRerun: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const RuntimeCasesSchema = Type.Object(
  {
    notes: Type.Optional(Type.String()),
    /** Prints "Hello, World!" and a newline. */
    hello: Program,
    /** Copies stdin to stdout unchanged, byte for byte. */
    echo: Program,
    /** Prints its arguments joined by "|" and a newline. */
    args: Program,
    /** Prints "partial" and a newline, then exits with status 3. */
    exit3: Program,
    /** Exactly for compiled runtimes (the manifest has `compile`): a program the compiler rejects. */
    compileError: Type.Optional(Program),
    programs: Type.Optional(Type.Array(ProgramCase)),
  },
  { additionalProperties: false },
);

export type SourceText = Static<typeof Source>;
export type CaseProgram = Static<typeof Program>;
export type ProgramCase = Static<typeof ProgramCase>;
export type RuntimeCases = Static<typeof RuntimeCasesSchema>;

export interface RuntimeWithCases {
  manifest: RuntimeManifest;
  /** The cases file's path. */
  file: string;
  cases: RuntimeCases;
}

export class CasesError extends Error {
  constructor(
    readonly file: string,
    readonly field: string,
    problem: string,
  ) {
    super(`${file}: ${field}: ${problem}`);
    this.name = 'CasesError';
  }
}

export function sourceText(source: SourceText): string {
  return typeof source === 'string' ? source : source.map((line) => `${line}\n`).join('');
}

/** A program's files as an execution request takes them. */
export function programFiles(program: CaseProgram): { name?: string; content: string }[] {
  if (typeof program === 'string' || program.every((item) => typeof item === 'string')) {
    return [{ content: sourceText(program as SourceText) }];
  }
  return (program as Static<typeof SourceFile>[]).map((f) => ({ ...(f.name ? { name: f.name } : {}), content: sourceText(f.content) }));
}

/**
 * Every manifest in `dir` (NAME.json) with its cases (NAME.cases.json), sorted by file name. Throws CasesError
 * when a manifest has no cases file, a cases file has no manifest, or a cases file is invalid.
 */
export async function loadCases(dir: string = defaultManifestDir()): Promise<RuntimeWithCases[]> {
  const names = (await readdir(dir)).sort();
  const casesFiles = new Set(names.filter((f) => f.endsWith(CASES_SUFFIX)));
  const manifestFiles = names.filter((f) => f.endsWith('.json') && !casesFiles.has(f));
  for (const f of casesFiles) {
    const manifestFile = `${f.slice(0, -CASES_SUFFIX.length)}.json`;
    if (!manifestFiles.includes(manifestFile)) throw new CasesError(path.join(dir, f), '(file)', `no manifest ${manifestFile} beside it`);
  }
  const out: RuntimeWithCases[] = [];
  for (const manifestFile of manifestFiles) {
    const base = manifestFile.slice(0, -'.json'.length);
    const manifest = validateManifest(await readJson(path.join(dir, manifestFile)), path.join(dir, manifestFile));
    const file = path.join(dir, `${base}${CASES_SUFFIX}`);
    if (!casesFiles.has(`${base}${CASES_SUFFIX}`)) {
      throw new CasesError(file, '(file)', `missing: every manifest needs its test cases (see src/runtimes/README.md)`);
    }
    out.push({ manifest, file, cases: validateCases(await readJson(file), file, manifest) });
  }
  return out;
}

/** Validate one parsed cases file against the schema and its manifest; `file` only names it in errors. */
export function validateCases(data: unknown, file: string, manifest: RuntimeManifest): RuntimeCases {
  if (!Value.Check(RuntimeCasesSchema, data)) {
    const first = Value.Errors(RuntimeCasesSchema, data).First();
    throw new CasesError(file, first?.path || '(root)', first?.message ?? 'invalid');
  }
  const compiled = manifest.compile !== undefined;
  if (compiled && data.compileError === undefined) throw new CasesError(file, 'compileError', `${manifest.name} compiles: needs a compile error case`);
  if (!compiled && data.compileError !== undefined) throw new CasesError(file, 'compileError', `${manifest.name} has no compile stage`);
  const titles = new Set<string>();
  for (const [i, p] of (data.programs ?? []).entries()) {
    if (titles.has(p.title)) throw new CasesError(file, `/programs/${i}/title`, `"${p.title}" is used twice`);
    titles.add(p.title);
    if (p.cachedOnRerun) {
      if (!compiled) throw new CasesError(file, `/programs/${i}/cachedOnRerun`, `${manifest.name} has no compile stage to cache`);
      if (!programFiles(p.files).some((f) => f.content.includes(NONCE))) {
        throw new CasesError(file, `/programs/${i}/files`, `needs ${NONCE} in a file, or an earlier run's cache entry would answer the first run`);
      }
    }
  }
  return data;
}

async function readJson(file: string): Promise<unknown> {
  const text = await readFile(file, 'utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CasesError(file, '(file)', `not valid JSON: ${(err as Error).message}`);
  }
}
