/**
 * Loading the runtime manifests (src/runtimes/manifests/*.json), asking the host which toolchain version is
 * installed, and looking a runtime up by what a caller calls it.
 */
import { execFile } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { LIMIT_FIELDS, type StageLimits } from '../limits/limits.js';
import { projectPath } from '../project.js';
import type { RuntimeManifest } from './manifest.js';
import { LIST_PLACEHOLDERS, SCALAR_PLACEHOLDERS, probeEnv } from './plan.js';

/**
 * The manifests ship as JSON next to the sources; tsc does not copy them, so from dist/src/runtimes we look
 * back into the source tree (dist/ sits at the repository root, like src/).
 */
export function defaultManifestDir(): string {
  return projectPath('src', 'runtimes', 'manifests');
}

export class ManifestError extends Error {
  constructor(
    readonly file: string,
    readonly field: string,
    problem: string,
  ) {
    super(`${file}: ${field}: ${problem}`);
    this.name = 'ManifestError';
  }
}

/** Read and validate every manifest (`*.json`, not `*.cases.json`) in `dir`, sorted by name. Throws ManifestError on the first bad one. */
export async function loadManifests(dir: string = defaultManifestDir()): Promise<RuntimeManifest[]> {
  const entries = (await readdir(dir)).filter((f) => f.endsWith('.json') && !f.endsWith('.cases.json')).sort();
  const manifests: RuntimeManifest[] = [];
  for (const entry of entries) {
    const file = path.join(dir, entry);
    const text = await readFile(file, 'utf8');
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (err) {
      throw new ManifestError(file, '(file)', `not valid JSON: ${(err as Error).message}`);
    }
    manifests.push(validateManifest(data, file));
  }
  checkUniqueNames(manifests, dir);
  return manifests;
}

/** Validate one parsed manifest; `file` only names it in errors. */
export function validateManifest(data: unknown, file: string): RuntimeManifest {
  const v = new Validator(file);
  const m = v.object(data, '(root)');
  v.string(m.name, 'name');
  if (typeof m.name === 'string' && !/^[a-z0-9][a-z0-9+#._-]*$/.test(m.name)) {
    v.fail('name', 'must be lower case letters, digits and + # . _ - only');
  }
  if (m.language !== undefined) {
    v.string(m.language, 'language');
    if (typeof m.language === 'string' && !/^[a-z0-9][a-z0-9+#._-]*$/.test(m.language)) {
      v.fail('language', 'must be lower case letters, digits and + # . _ - only');
    }
  }
  if (m.notes !== undefined) v.string(m.notes, 'notes');
  if (m.gvisorUnsupported !== undefined) v.string(m.gvisorUnsupported, 'gvisorUnsupported');
  v.stringArray(m.aliases, 'aliases');
  v.stringArray(m.extensions, 'extensions', { nonEmpty: true });
  for (const [i, ext] of (m.extensions as string[]).entries()) {
    if (!/^\.[A-Za-z0-9+._-]+$/.test(ext)) v.fail(`extensions[${i}]`, `"${ext}" must start with a dot`);
  }
  if (typeof m.core !== 'boolean') v.fail('core', 'must be true or false');
  if (m.onDemand !== undefined && typeof m.onDemand !== 'boolean') v.fail('onDemand', 'must be true or false');
  if (m.core === true && m.onDemand === true) v.fail('onDemand', 'a core runtime is always installed');

  const packages = v.object(m.packages, 'packages');
  if (packages.apt !== undefined) v.stringArray(packages.apt, 'packages.apt');
  if (packages.npm !== undefined) v.stringArray(packages.npm, 'packages.npm');

  const version = v.object(m.version, 'version');
  v.argv(version.argv, 'version.argv', []);
  v.regex(version.pattern, 'version.pattern');

  if (m.entry !== undefined) {
    const entry = v.object(m.entry, 'entry');
    if (entry.defaultName !== undefined) v.string(entry.defaultName, 'entry.defaultName');
    if (typeof entry.classPattern === 'string') {
      v.regex(entry.classPattern, 'entry.classPattern');
    } else if (entry.classPattern !== undefined) {
      v.stringArray(entry.classPattern, 'entry.classPattern', { nonEmpty: true });
      (entry.classPattern as string[]).forEach((p, i) => v.regex(p, `entry.classPattern[${i}]`));
    }
    if (entry.packagePattern !== undefined) {
      v.string(entry.packagePattern, 'entry.packagePattern');
      v.regex(entry.packagePattern as string, 'entry.packagePattern');
    }
    if (entry.renameTo !== undefined) {
      v.string(entry.renameTo, 'entry.renameTo');
      v.placeholders(entry.renameTo as string, 'entry.renameTo');
      if (entry.classPattern === undefined) v.fail('entry.renameTo', 'needs entry.classPattern');
    }
  }

  if (m.compile !== undefined) {
    const compile = v.object(m.compile, 'compile');
    v.argv(compile.argv, 'compile.argv', ['files', 'sources']);
    v.stringArray(compile.outputs, 'compile.outputs', { nonEmpty: true });
    for (const [i, out] of (compile.outputs as string[]).entries()) {
      v.placeholders(out, `compile.outputs[${i}]`);
      if (out.startsWith('/') || out.split('/').includes('..')) {
        v.fail(`compile.outputs[${i}]`, 'must be a path inside the working dir');
      }
    }
  }
  const run = v.object(m.run, 'run');
  v.argv(run.argv, 'run.argv', ['files', 'sources', 'args']);

  if (m.env !== undefined) {
    const env = v.object(m.env, 'env');
    for (const [key, value] of Object.entries(env)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) v.fail(`env.${key}`, 'is not a valid variable name');
      v.string(value, `env.${key}`);
      v.placeholders(value as string, `env.${key}`);
    }
  }
  if (m.mounts !== undefined) {
    v.stringArray(m.mounts, 'mounts');
    for (const [i, mount] of (m.mounts as string[]).entries()) {
      if (!mount.startsWith('/') || mount.split('/').includes('..')) v.fail(`mounts[${i}]`, 'must be an absolute path');
      if (['/', '/box', '/tmp', '/proc', '/dev'].includes(mount)) v.fail(`mounts[${i}]`, `"${mount}" cannot be mounted`);
    }
  }
  if (m.limits !== undefined) {
    const limits = v.object(m.limits, 'limits');
    for (const [stage, value] of Object.entries(limits)) {
      if (stage !== 'compile' && stage !== 'run') v.fail(`limits.${stage}`, 'only "compile" and "run" exist');
      for (const [field, n] of Object.entries(v.object(value, `limits.${stage}`))) {
        if (!LIMIT_FIELDS.includes(field as keyof StageLimits)) v.fail(`limits.${stage}.${field}`, 'is not a limit');
        if (!Number.isInteger(n) || (n as number) <= 0) v.fail(`limits.${stage}.${field}`, 'must be a positive integer');
      }
    }
  }

  const selfTest = v.object(m.selfTest, 'selfTest');
  if (!Array.isArray(selfTest.files) || selfTest.files.length === 0) v.fail('selfTest.files', 'must be a non-empty array');
  for (const [i, f] of (selfTest.files as unknown[]).entries()) {
    const fileEntry = v.object(f, `selfTest.files[${i}]`);
    v.string(fileEntry.name, `selfTest.files[${i}].name`);
    v.string(fileEntry.content, `selfTest.files[${i}].content`);
  }
  if (selfTest.stdin !== undefined) v.string(selfTest.stdin, 'selfTest.stdin');
  v.string(selfTest.expectStdout, 'selfTest.expectStdout');

  return data as RuntimeManifest;
}

class Validator {
  constructor(private readonly file: string) {}

  fail(field: string, problem: string): never {
    throw new ManifestError(this.file, field, problem);
  }

  object(value: unknown, field: string): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) this.fail(field, 'must be an object');
    return value as Record<string, unknown>;
  }

  string(value: unknown, field: string): void {
    if (typeof value !== 'string' || value.length === 0) this.fail(field, 'must be a non-empty string');
  }

  stringArray(value: unknown, field: string, opts: { nonEmpty?: boolean } = {}): void {
    if (!Array.isArray(value)) this.fail(field, 'must be an array of strings');
    if (opts.nonEmpty && value.length === 0) this.fail(field, 'must not be empty');
    value.forEach((item, i) => this.string(item, `${field}[${i}]`));
  }

  regex(pattern: unknown, field: string): void {
    this.string(pattern, field);
    let groups = 0;
    try {
      // An alternative that matches the empty string tells how many capture groups the regex has.
      groups = new RegExp(`${pattern as string}|`, 'm').exec('')!.length - 1;
    } catch (err) {
      this.fail(field, `not a valid regular expression: ${(err as Error).message}`);
    }
    if (groups < 1) this.fail(field, 'needs a capture group: group 1 is the value it extracts');
  }

  /** An argv: non-empty, absolute or ./-relative program, placeholders known and used where they may be. */
  argv(value: unknown, field: string, lists: readonly string[]): void {
    this.stringArray(value, field, { nonEmpty: true });
    const argv = value as string[];
    const program = argv[0] as string;
    if (!program.startsWith('/') && !program.startsWith('./')) {
      this.fail(`${field}[0]`, `"${program}" must be an absolute path (the sandbox does no PATH lookup)`);
    }
    argv.forEach((element, i) => {
      const whole = /^\{([A-Za-z]+)\}$/.exec(element)?.[1];
      if (whole !== undefined && (LIST_PLACEHOLDERS as readonly string[]).includes(whole)) {
        if (!lists.includes(whole)) this.fail(`${field}[${i}]`, `{${whole}} cannot be used here`);
        return;
      }
      this.placeholders(element, `${field}[${i}]`);
    });
  }

  /** Only scalar placeholders inside a string. */
  placeholders(text: string, field: string): void {
    for (const match of text.matchAll(/\{([A-Za-z]+)\}/g)) {
      const key = match[1] as string;
      if ((SCALAR_PLACEHOLDERS as readonly string[]).includes(key)) continue;
      if ((LIST_PLACEHOLDERS as readonly string[]).includes(key)) {
        this.fail(field, `{${key}} must be a whole argv element`);
      }
      this.fail(field, `unknown placeholder {${key}}`);
    }
  }
}

/**
 * A name or alias picks one runtime, so it belongs to one manifest; a language name may be shared by the
 * runtimes of that language (python and pypy are both "python"), but never be another runtime's name or alias.
 */
function checkUniqueNames(manifests: RuntimeManifest[], dir: string): void {
  const owner = new Map<string, string>();
  for (const m of manifests) {
    for (const key of [m.name, ...m.aliases].map((k) => k.toLowerCase())) {
      const previous = owner.get(key);
      if (previous !== undefined && previous !== m.name) {
        throw new ManifestError(path.join(dir, `${m.name}.json`), 'aliases', `"${key}" is already used by ${previous}`);
      }
      owner.set(key, m.name);
    }
  }
  for (const m of manifests) {
    const language = languageOf(m);
    const holder = manifests.find((other) => languageOf(other) !== language && [other.name, ...other.aliases].includes(language));
    if (holder) throw new ManifestError(path.join(dir, `${m.name}.json`), 'language', `"${language}" is a name or alias of ${holder.name}, another language`);
  }
}

/** The language a runtime implements: its `language`, else its own name (the reference implementation). */
export function languageOf(m: RuntimeManifest): string {
  return m.language ?? m.name;
}

/**
 * How long a version probe may take: a toolchain that cannot print its version in this time is unusable.
 * Generous, because the probes run at start-up beside everything else: `elixir --version` (a BEAM boot) took
 * over 5 s on a loaded 2-core machine, and a runtime must not vanish because its host was busy.
 */
export const VERSION_PROBE_TIMEOUT_MS = 20_000;

/**
 * The toolchain's version as installed on the host, or null when it is missing or does not answer. Runs the
 * manifest's argv directly (no shell) with the sandbox's base env plus the manifest's env, not the host
 * user's, so that e.g. a rustup toolchain on the host PATH cannot answer for Debian's.
 */
export function probeVersion(m: RuntimeManifest, timeoutMs = VERSION_PROBE_TIMEOUT_MS): Promise<string | null> {
  const [program, ...args] = m.version.argv;
  if (!program) return Promise.resolve(null);
  return new Promise((resolve) => {
    execFile(
      program,
      args,
      { timeout: timeoutMs, env: probeEnv(m), maxBuffer: 1024 * 1024, windowsHide: true },
      (err, stdout, stderr) => {
        // Some tools print their version to stderr (java -version) or exit non-zero after printing it.
        // A failed run (missing binary, timeout) has nothing to match, so err needs no separate check.
        void err;
        resolve(new RegExp(m.version.pattern, 'm').exec(`${stdout}\n${stderr}`)?.[1] ?? null);
      },
    );
  });
}

/**
 * Every runtime a request's language may mean, case-insensitive: a language name means all its runtimes
 * ("python": CPython and PyPy), a runtime's name or alias that runtime ("pypy", "py"); only when nothing
 * matches so, a file extension (".py" or "py") means the runtimes that take it.
 */
export function manifestsFor(manifests: readonly RuntimeManifest[], languageOrAliasOrExtension: string): RuntimeManifest[] {
  const key = languageOrAliasOrExtension.trim().toLowerCase();
  if (key === '') return [];
  const byName = manifests.filter(
    (m) => languageOf(m).toLowerCase() === key || m.name.toLowerCase() === key || m.aliases.some((a) => a.toLowerCase() === key),
  );
  if (byName.length > 0) return byName;
  const ext = key.startsWith('.') ? key : `.${key}`;
  return manifests.filter((m) => m.extensions.some((e) => e.toLowerCase() === ext));
}

/**
 * Find one manifest by name, alias or file extension (".py" or "py"), case-insensitive, as `manifestsFor`
 * does; of several, the language's reference implementation (".py" is python, not pypy). Names and aliases
 * win over extensions, so "c" is C even though no runtime uses ".c"-named aliases.
 */
export function findManifest(
  manifests: readonly RuntimeManifest[],
  languageOrAliasOrExtension: string,
): RuntimeManifest | undefined {
  const found = manifestsFor(manifests, languageOrAliasOrExtension);
  return found.find((m) => languageOf(m) === m.name) ?? found[0];
}
