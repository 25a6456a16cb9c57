/**
 * Which runtimes this host can actually serve: the toolchain must answer its version probe on the host and
 * the manifest's self-test must pass inside a real sandbox (which catches a missing mount, a library the
 * sandbox does not see, a limit too tight for the runtime to start).
 *
 * Self-tests start JVMs and compilers, so passing results are cached in a JSON file keyed by what could
 * change their outcome: the manifest's content, the toolchain's version and the mtime of its binary. A
 * restart with nothing changed skips them; an edited manifest or an upgraded toolchain is tested again.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, realpath, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { RuntimeManifest } from './manifest.js';
import { probeVersion } from './registry.js';

export interface SelfTestOutcome {
  ok: boolean;
  detail: string;
}

/** Runs the manifest's selfTest in the sandbox (supplied by the executor, so this module stays sandbox-free). */
export type SelfTest = (m: RuntimeManifest, version: string) => Promise<SelfTestOutcome>;

export interface AvailableRuntime {
  manifest: RuntimeManifest;
  version: string;
}

export interface UnavailableRuntime {
  name: string;
  reason: string;
}

export interface DetectionResult {
  available: AvailableRuntime[];
  unavailable: UnavailableRuntime[];
}

export interface DetectOptions {
  manifests: readonly RuntimeManifest[];
  selfTest: SelfTest;
  /** Where passing self-tests are remembered across restarts; no caching without it. */
  cacheFile?: string;
  /** Self-tests run at once; they are heavy (compilers, JVMs) and the typical host is small. */
  concurrency?: number;
  /** Replaceable for tests; defaults to running the manifest's version argv on the host. */
  probe?: (m: RuntimeManifest) => Promise<string | null>;
}

const SELF_TEST_CONCURRENCY = 2;
/** Version probes are short and mostly waiting on exec, so more run at once than self-tests. */
const PROBE_CONCURRENCY = 4;
const CACHE_FORMAT = 1;

interface CacheFile {
  format: number;
  /** runtime name -> key of the passing self-test and when it passed. */
  passed: Record<string, { key: string; version: string; testedAt: string }>;
}

export async function detectRuntimes(options: DetectOptions): Promise<DetectionResult> {
  const probe = options.probe ?? ((m: RuntimeManifest) => probeVersion(m));
  const cache = options.cacheFile ? await readCache(options.cacheFile) : emptyCache();

  type Outcome = { ok: true; version: string; key: string } | { ok: false; reason: string };
  const outcomes = await mapLimit(options.manifests, PROBE_CONCURRENCY, async (m) => {
    const version = await probe(m).catch(() => null);
    if (version === null) {
      return { m, version: null, key: '' };
    }
    return { m, version, key: await cacheKey(m, version) };
  });

  const results: Outcome[] = await mapLimit(outcomes, options.concurrency ?? SELF_TEST_CONCURRENCY, async (o) => {
    if (o.version === null) {
      return { ok: false, reason: `${o.m.version.argv.join(' ')} did not report a version (toolchain not installed?)` };
    }
    if (cache.passed[o.m.name]?.key === o.key) return { ok: true, version: o.version, key: o.key };
    let outcome: SelfTestOutcome;
    try {
      outcome = await options.selfTest(o.m, o.version);
    } catch (err) {
      outcome = { ok: false, detail: `self-test threw: ${(err as Error).message}` };
    }
    if (!outcome.ok) return { ok: false, reason: `self-test failed: ${outcome.detail}` };
    return { ok: true, version: o.version, key: o.key };
  });

  const detection: DetectionResult = { available: [], unavailable: [] };
  const nextCache = emptyCache();
  // Runtimes this run did not look at keep their entries: `polyrun install kotlin` self-tests kotlin alone and
  // must not make the service's next start test everything again.
  const tested = new Set(options.manifests.map((m) => m.name));
  for (const [name, entry] of Object.entries(cache.passed)) if (!tested.has(name)) nextCache.passed[name] = entry;
  const now = new Date().toISOString();
  results.forEach((r, i) => {
    const manifest = options.manifests[i] as RuntimeManifest;
    if (r.ok) {
      detection.available.push({ manifest, version: r.version });
      const previous = cache.passed[manifest.name];
      nextCache.passed[manifest.name] = {
        key: r.key,
        version: r.version,
        testedAt: previous?.key === r.key ? previous.testedAt : now,
      };
    } else {
      detection.unavailable.push({ name: manifest.name, reason: r.reason });
    }
  });
  if (options.cacheFile) await writeCache(options.cacheFile, nextCache);
  return detection;
}

/**
 * What a self-test result depends on. The binaries' mtimes catch a reinstalled toolchain whose version
 * string did not change (a Debian security update of the same upstream version); every program the
 * manifest starts counts, so TypeScript is re-tested when node (its run stage) changes, not only tsc.
 */
export async function cacheKey(m: RuntimeManifest, version: string): Promise<string> {
  const programs = [m.version.argv[0], m.compile?.argv[0], m.run.argv[0]].filter(
    (p): p is string => p !== undefined && p.startsWith('/'),
  );
  const binaries: string[] = [];
  for (const program of [...new Set(programs)]) {
    try {
      const resolved = await realpath(program);
      binaries.push(`${resolved}@${(await stat(resolved)).mtimeMs}`);
    } catch {
      // Probed fine but cannot be stat'ed (raced with an uninstall): the key just will not match next time.
      binaries.push(`${program}@missing`);
    }
  }
  return createHash('sha256')
    .update(JSON.stringify(m))
    .update('\0')
    .update(version)
    .update('\0')
    .update(binaries.join('\0'))
    .digest('hex');
}

function emptyCache(): CacheFile {
  return { format: CACHE_FORMAT, passed: {} };
}

async function readCache(file: string): Promise<CacheFile> {
  try {
    const data = JSON.parse(await readFile(file, 'utf8')) as Partial<CacheFile>;
    if (data.format !== CACHE_FORMAT || typeof data.passed !== 'object' || data.passed === null) return emptyCache();
    return { format: CACHE_FORMAT, passed: data.passed };
  } catch {
    // Missing or corrupt: every runtime is simply tested again.
    return emptyCache();
  }
}

/** Written to a temp file and renamed, so a crash or a concurrent reader never sees half a file. */
async function writeCache(file: string, cache: CacheFile): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(cache, null, 2)}\n`);
  await rename(tmp, file);
}

/** Map with at most `limit` calls in flight, results in input order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}
