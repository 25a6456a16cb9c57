/**
 * The shape of a runtime manifest (src/runtimes/manifests/NAME.json): everything polyrun knows about one
 * language is data in that file, nothing about a language is code elsewhere.
 *
 * argv placeholders, expanded by `expandArgv` (never through a shell):
 *   {entry}     the entry file's name (the first file)
 *   {stem}      the entry file's name without its extension
 *   {files}     every file name, each its own argument
 *   {sources}   every file whose extension is one of `extensions`, each its own argument
 *   {mainClass} the class name found by `entry.classPattern` in the entry file (e.g. Java)
 *   {qualifiedClass} {mainClass} prefixed with the package `entry.packagePattern` finds ("com.acme.Main")
 *   {args}      the request's program arguments, each its own argument (run only)
 *   {memoryMiB} the stage's memory limit in MiB (for runtimes that cannot see the sandbox's cgroup limit)
 * {files}, {sources} and {args} must be a whole argv element; the others may sit inside one ("-out:{stem}.exe").
 * The expansion lives in src/runtimes/plan.ts (`planExecution`); src/runtimes/registry.ts rejects unknown
 * placeholders when it loads a manifest.
 */
import type { PartialLimitTable } from '../limits/limits.js';

export interface RuntimeManifest {
  /** The runtime's name: unique, its file's name, what a job and a result carry. */
  name: string;
  /**
   * The language this runtime implements when it is not the language's reference implementation (the
   * manifest named after the language): "python" for pypy, "c" for clang. Absent: the language is `name`.
   * A request for the language may get any of its runtimes (src/runtimes/versions.ts chooses).
   */
  language?: string;
  /** Free text: why the manifest looks the way it does (JSON has no comments). Ignored by code. */
  notes?: string;
  /**
   * Why this runtime cannot run under gVisor (the `gvisor` backend, isolation "gvisor"): a request for it
   * with isolation "gvisor" is refused with this reason, and a host whose default backend is gVisor lists
   * it as unavailable with it. Absent: it runs there.
   */
  gvisorUnsupported?: string;
  aliases: string[];
  /** File extensions, with the dot; the first is used to name an unnamed entry file. */
  extensions: string[];
  /** Installed by `scripts/setup` without `--all`. */
  core: boolean;
  /**
   * Installed only when asked for: `polyrun install NAME`, `polyrun install --all`, `scripts/setup --all` or
   * `--test`. Without it a runtime is in the standard set that `npm start` (`scripts/setup --standard`)
   * installs. Big or rarely used toolchains are on demand, so that a first start stays quick.
   */
  onDemand?: boolean;
  /**
   * What `scripts/setup` installs for this runtime. npm packages go to /usr/local/lib/polyrun/node_modules
   * (under /usr, so every sandbox sees them read-only), e.g. type definitions a compiler needs.
   */
  packages: { apt?: string[]; npm?: string[] };
  /** How to read the toolchain's version on the host: run argv, match pattern (group 1) on stdout+stderr. */
  version: { argv: string[]; pattern: string };
  entry?: {
    /** Name of the entry file when the request gives none, e.g. "main.py". */
    defaultName?: string;
    /**
     * Regex (JavaScript syntax, multiline flag) searched in the entry file; its first capture group is
     * {mainClass}. A list is tried in order and the first regex that matches wins, to express a preference
     * (a public class, else any top-level class). When none matches, {mainClass} is the entry file's stem
     * and the file keeps its name.
     */
    classPattern?: string | string[];
    /** Regex with one group: the entry file's package, for {qualifiedClass}. */
    packagePattern?: string;
    /** Rename the entry file to this template (e.g. "{mainClass}.java") when classPattern matches. */
    renameTo?: string;
  };
  compile?: {
    argv: string[];
    /**
     * Files (relative to the working dir) the run stage needs from the compile stage: what the cache keeps.
     * Entries may use {entry}, {stem} and {mainClass}, and `*` as a wildcard inside one path segment
     * ("*.class": javac writes one file per class, inner classes included). A pattern without "/"
     * matches a file's name in any subdirectory (package dirs); `matchOutputs` in plan.ts resolves them
     * against the working dir's recursive listing.
     */
    outputs: string[];
  };
  run: { argv: string[] };
  /** Added to the base env (PATH, HOME=/tmp, LANG, TMPDIR); values may use the scalar placeholders. */
  env?: Record<string, string>;
  /** Extra host paths bind-mounted read-only at the same place inside the sandbox (besides /usr). */
  mounts?: string[];
  /** Default limit overrides for this runtime. */
  limits?: PartialLimitTable;
  selfTest: {
    files: { name: string; content: string }[];
    stdin?: string;
    expectStdout: string;
  };
}
