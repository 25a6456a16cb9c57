/**
 * Turning a request's files and arguments into the exact argv, env and file set of each stage, from the
 * runtime's manifest alone. Pure: no I/O, so every rule here is unit-tested (test/plan.test.ts) and the
 * executor only has to carry the plan out.
 */
import { errors } from '../contract/errors.js';
import { pathConflict } from '../contract/file-names.js';
import type { SourceFile } from '../contract/request.js';
import { DEFAULT_LIMITS, overlay, type LimitTable } from '../limits/limits.js';
import type { RuntimeManifest } from './manifest.js';

export interface StagePlan {
  argv: string[];
  env: Record<string, string>;
}

export interface PlannedFile {
  name: string;
  content: Buffer;
  mode: number;
}

export interface ExecutionPlan {
  files: PlannedFile[];
  compile: StagePlan | null;
  run: StagePlan;
  /** The manifest's compile.outputs with placeholders expanded; may still hold `*` (see matchOutputs). */
  compileOutputs: string[];
}

/**
 * What every stage starts from, before the manifest's own env. Nothing from the host's environment leaks in:
 * the PATH only names directories of the read-only /usr mount, and HOME/TMPDIR point at the writable tmpfs.
 */
export const BASE_ENV: Readonly<Record<string, string>> = Object.freeze({
  PATH: '/usr/local/bin:/usr/bin:/bin',
  HOME: '/tmp',
  LANG: 'C.UTF-8',
  TMPDIR: '/tmp',
});

/** Placeholders that expand to zero or more whole argv elements. */
export const LIST_PLACEHOLDERS = ['files', 'sources', 'args'] as const;
/**
 * Placeholders that expand to one string and may sit inside a longer argv element or an env value.
 * {memoryMiB} is the stage's memory limit in MiB: runtimes that size their heap from the machine's RAM
 * (the JVM) cannot see the sandbox's cgroup limit, so the manifest tells them.
 */
export const SCALAR_PLACEHOLDERS = ['entry', 'stem', 'mainClass', 'qualifiedClass', 'memoryMiB'] as const;

const PLACEHOLDER = /\{([A-Za-z]+)\}/g;
/** Source files are written readable by the sandbox user; nothing needs them executable (argv names the tool). */
const FILE_MODE = 0o644;

type ScalarValues = Record<(typeof SCALAR_PLACEHOLDERS)[number], string>;
type ListValues = Record<(typeof LIST_PLACEHOLDERS)[number], string[]>;

/**
 * `limits` are the execution's resolved limits; without them {memoryMiB} is the runtime's default (the
 * built-in defaults under the manifest's overrides).
 */
export function planExecution(
  m: RuntimeManifest,
  files: SourceFile[],
  args: string[],
  limits: LimitTable = overlay(DEFAULT_LIMITS, m.limits),
): ExecutionPlan {
  const [entryFile] = files;
  if (!entryFile) throw errors.validationFailed('at least one file is required');

  const names = files.map((f, i) => (f.name ? f.name : defaultFileName(m, i)));
  const entryName = names[0] as string;
  let stem = stripExtension(entryName);
  let mainClass = stem;
  const source = entryFile.content.toString('utf8');
  const pkg = m.entry?.packagePattern ? findMainClass(m.entry.packagePattern, source) : null;
  if (m.entry?.classPattern) {
    const found = findMainClass(m.entry.classPattern, source);
    if (found !== null) {
      mainClass = found;
      if (m.entry.renameTo) {
        names[0] = expandScalars(m.entry.renameTo, { entry: entryName, stem, mainClass, qualifiedClass: mainClass, memoryMiB: '' });
        stem = stripExtension(names[0]);
      }
    }
  }
  const entry = names[0] as string;
  const qualifiedClass = pkg ? `${pkg}.${mainClass}` : mainClass;

  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) {
      throw errors.fileNameCollision(name);
    }
    seen.add(name);
  }
  // A default name given here (the entry's) can still collide with a directory of a named file.
  const conflict = pathConflict(names);
  if (conflict) throw errors.fileIsNotADirectory(conflict.index, conflict.name, conflict.file);

  const lists: ListValues = {
    files: names,
    sources: names.filter((n) => hasExtension(m, n)),
    args,
  };
  const mib = (bytes: number) => String(Math.max(1, Math.floor(bytes / (1024 * 1024))));
  const compileScalars: ScalarValues = { entry, stem, mainClass, qualifiedClass, memoryMiB: mib(limits.compile.memoryBytes) };
  const runScalars: ScalarValues = { entry, stem, mainClass, qualifiedClass, memoryMiB: mib(limits.run.memoryBytes) };

  return {
    files: files.map((f, i) => ({ name: names[i] as string, content: f.content, mode: FILE_MODE })),
    compile: m.compile
      ? { argv: expandArgv(m.compile.argv, compileScalars, { ...lists, args: [] }), env: stageEnv(m, compileScalars) }
      : null,
    run: { argv: expandArgv(m.run.argv, runScalars, lists), env: stageEnv(m, runScalars) },
    compileOutputs: (m.compile?.outputs ?? []).map((o) => expandScalars(o, runScalars)),
  };
}

function stageEnv(m: RuntimeManifest, scalars: ScalarValues): Record<string, string> {
  const env: Record<string, string> = { ...BASE_ENV };
  for (const [key, value] of Object.entries(m.env ?? {})) env[key] = expandScalars(value, scalars);
  return env;
}

/**
 * The env for running a manifest's tool on the host outside any execution (the version probe): the same
 * base and manifest env as a run stage with the runtime's default limits, so e.g. GOMEMLIMIT is a number.
 */
export function probeEnv(m: RuntimeManifest): Record<string, string> {
  const memory = overlay(DEFAULT_LIMITS, m.limits).run.memoryBytes;
  return stageEnv(m, { entry: '', stem: '', mainClass: '', qualifiedClass: '', memoryMiB: String(Math.floor(memory / (1024 * 1024))) });
}

/** The name an unnamed file gets: the entry `entry.defaultName` or main.EXT, the others fileI.EXT. */
export function defaultFileName(m: RuntimeManifest, index: number): string {
  const ext = m.extensions[0] ?? '';
  if (index === 0) return m.entry?.defaultName ?? `main${ext}`;
  return `file${index}${ext}`;
}

/** Expand argv placeholders; list placeholders must be a whole element and may expand to nothing. */
export function expandArgv(argv: readonly string[], scalars: ScalarValues, lists: ListValues): string[] {
  const out: string[] = [];
  for (const element of argv) {
    const whole = /^\{([A-Za-z]+)\}$/.exec(element)?.[1];
    if (whole !== undefined && isListPlaceholder(whole)) {
      out.push(...lists[whole]);
    } else {
      out.push(expandScalars(element, scalars));
    }
  }
  return out;
}

function expandScalars(template: string, values: ScalarValues): string {
  return template.replace(PLACEHOLDER, (match, key: string) => {
    if (isScalarPlaceholder(key)) return values[key];
    // registry.ts rejects such manifests at load time; reaching this is a bug, not a user error.
    throw errors.internal(`placeholder ${match} cannot be used inside "${template}"`);
  });
}

function isListPlaceholder(key: string): key is (typeof LIST_PLACEHOLDERS)[number] {
  return (LIST_PLACEHOLDERS as readonly string[]).includes(key);
}

function isScalarPlaceholder(key: string): key is (typeof SCALAR_PLACEHOLDERS)[number] {
  return (SCALAR_PLACEHOLDERS as readonly string[]).includes(key);
}

/** Group 1 of the first of `patterns` that matches in `source`, or null. */
export function findMainClass(patterns: string | readonly string[], source: string): string | null {
  for (const pattern of typeof patterns === 'string' ? [patterns] : patterns) {
    const found = new RegExp(pattern, 'm').exec(source)?.[1];
    if (found) return found;
  }
  return null;
}

/** "dir/main.tar.gz" -> "dir/main.tar": only the last extension of the last segment goes. */
export function stripExtension(name: string): string {
  const slash = name.lastIndexOf('/');
  const dot = name.lastIndexOf('.');
  return dot > slash + 1 ? name.slice(0, dot) : name;
}

function hasExtension(m: RuntimeManifest, name: string): boolean {
  const lower = name.toLowerCase();
  return m.extensions.some((ext) => lower.endsWith(ext.toLowerCase()) && lower.length > ext.length);
}

/**
 * The language of a file from its extension, for callers that get a file but no language. The longest
 * matching extension wins, so ".d.ts"-style extensions could coexist with ".ts".
 */
export function runtimeLanguageForFile(manifests: readonly RuntimeManifest[], fileName: string): string | undefined {
  const lower = fileName.toLowerCase();
  let best: { name: string; length: number } | undefined;
  for (const m of manifests) {
    for (const ext of m.extensions) {
      const e = ext.toLowerCase();
      if (lower.endsWith(e) && lower.length > e.length && (!best || e.length > best.length)) {
        // The language, not the runtime: ".py" means python (CPython by default), not whichever of its
        // runtimes (pypy) sorts first.
        best = { name: m.language ?? m.name, length: e.length };
      }
    }
  }
  return best?.name;
}

/**
 * Which files of the working dir (relative paths, as listed after the compile stage) are compile outputs.
 * `*` matches any run of characters except "/"; every other character is literal. As in .gitignore, a
 * pattern without a "/" matches a file's name in any directory (Java package dirs, TypeScript output next
 * to sources in subdirs); a pattern with one matches the whole relative path.
 */
export function matchOutputs(patterns: readonly string[], fileNames: readonly string[]): string[] {
  const regexes = patterns.map((p) => ({
    anyDir: !p.includes('/'),
    regex: new RegExp(`^${p.split('*').map(escapeRegExp).join('[^/]*')}$`),
  }));
  const base = (name: string) => name.slice(name.lastIndexOf('/') + 1);
  return fileNames.filter((name) => regexes.some((r) => r.regex.test(r.anyDir ? base(name) : name)));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
