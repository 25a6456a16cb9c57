/**
 * Compile cache: content-addressed compile outputs on disk, bounded in bytes with LRU eviction.
 *
 * Key: sha256 over the runtime, its version, the expanded compile argv and every planned file's name, mode
 * and content, within a scope (a tenant id, or "global"). An entry is a directory holding the output files
 * (stored as file-0, file-1, ...) and an index.json listing each file's name, mode, size and sha256. Entries are written to a temp dir and
 * renamed into place, so a reader never sees a partial entry; every file is re-hashed on read, so a
 * corrupt or tampered entry is dropped, never used.
 *
 * The files stored here come out of a sandbox, so they are only ever data to this host: written by name
 * from the index (names checked again), read back by those names, never executed or followed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileNameProblem } from '../contract/file-names.js';

export interface CachedFile {
  name: string;
  mode: number;
  content: Buffer;
}

/** What the compile that made an entry cost: a hit reports it, and is only used within the request's limits. */
export interface CompileFigures {
  cpuTimeMs: number;
  wallTimeMs: number;
  memoryBytes: number;
}

export interface CacheEntry {
  files: CachedFile[];
  /** The compile stage's output at the time it ran (warnings), replayed on a hit. */
  stdout: string;
  stderr: string;
  /** Absent in entries written before figures were kept. */
  figures?: CompileFigures;
}

interface IndexFile {
  format: 1;
  files: { name: string; mode: number; size: number; sha256: string }[];
  stdout: string;
  stderr: string;
  figures?: CompileFigures;
}

export interface CompileKeyInput {
  scope: string;
  runtime: string;
  version: string;
  argv: string[];
  files: { name: string; mode: number; content: Buffer }[];
}

/** Pure: the content address of one compile. */
export function compileKey(input: CompileKeyInput): string {
  const h = createHash('sha256');
  const field = (s: string | Buffer) => {
    const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
    const len = Buffer.alloc(8);
    len.writeBigUInt64BE(BigInt(b.length));
    h.update(len).update(b);
  };
  field('polyrun-compile-v1');
  field(input.scope);
  field(input.runtime);
  field(input.version);
  field(JSON.stringify(input.argv));
  for (const f of [...input.files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    field(f.name);
    field(String(f.mode));
    field(f.content);
  }
  return h.digest('hex');
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Longest relative path of a cached file (outputs may sit in subdirs: Java packages, nested TypeScript). */
const MAX_NAME_BYTES = 1024;

/**
 * Files are stored under their position in the index, never under their own (possibly nested) name: the
 * entry dir stays flat, and no name from a sandbox ever becomes a path on the host.
 */
const blobName = (index: number) => `file-${index}`;

export class CompileCache {
  /** key -> bytes and last use; Map order is the LRU order (oldest first). */
  private readonly entries = new Map<string, { bytes: number; usedAt: number }>();
  private totalBytes = 0;
  readonly stats = { hits: 0, misses: 0, evictions: 0, corrupt: 0 };

  private constructor(
    readonly dir: string,
    readonly maxBytes: number,
  ) {}

  static async open(dir: string, maxBytes: number): Promise<CompileCache> {
    const cache = new CompileCache(dir, maxBytes);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const found: { key: string; bytes: number; usedAt: number }[] = [];
    for (const name of await readdir(dir)) {
      if (name.startsWith('.tmp-')) {
        await rm(join(dir, name), { recursive: true, force: true }); // a crash mid-write
        continue;
      }
      try {
        const index = JSON.parse(await readFile(join(dir, name, 'index.json'), 'utf8')) as IndexFile;
        const info = await stat(join(dir, name, 'index.json'));
        found.push({ key: name, bytes: index.files.reduce((n, f) => n + f.size, 0), usedAt: info.mtimeMs });
      } catch {
        await rm(join(dir, name), { recursive: true, force: true });
      }
    }
    for (const f of found.sort((a, b) => a.usedAt - b.usedAt)) {
      cache.entries.set(f.key, { bytes: f.bytes, usedAt: f.usedAt });
      cache.totalBytes += f.bytes;
    }
    await cache.evict();
    return cache;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  get size(): number {
    return this.entries.size;
  }

  async get(key: string): Promise<CacheEntry | undefined> {
    // Another process sharing the data dir may have stored the entry since this one opened the cache.
    const meta = this.entries.get(key) ?? (await this.adopt(key));
    if (!meta) {
      this.stats.misses++;
      return undefined;
    }
    const entryDir = join(this.dir, key);
    try {
      const index = JSON.parse(await readFile(join(entryDir, 'index.json'), 'utf8')) as IndexFile;
      const files: CachedFile[] = [];
      for (const [i, f] of index.files.entries()) {
        if (fileNameProblem(f.name, MAX_NAME_BYTES)) throw new Error(`bad name ${f.name}`);
        const content = await readFile(join(entryDir, blobName(i)));
        if (content.length !== f.size || sha256(content) !== f.sha256) throw new Error(`${f.name} does not match its hash`);
        files.push({ name: f.name, mode: f.mode & 0o777, content });
      }
      this.entries.delete(key);
      this.entries.set(key, { ...meta, usedAt: Date.now() });
      const now = new Date();
      await utimes(join(entryDir, 'index.json'), now, now).catch(() => undefined);
      this.stats.hits++;
      return { files, stdout: index.stdout, stderr: index.stderr, ...(index.figures ? { figures: index.figures } : {}) };
    } catch {
      this.stats.corrupt++;
      this.stats.misses++;
      await this.remove(key);
      return undefined;
    }
  }

  async put(key: string, entry: CacheEntry): Promise<void> {
    const bytes = entry.files.reduce((n, f) => n + f.content.length, 0);
    if (bytes > this.maxBytes || this.entries.has(key)) return;
    for (const f of entry.files) {
      if (fileNameProblem(f.name, MAX_NAME_BYTES)) return; // only safe relative names are cached
    }
    const tmp = join(this.dir, `.tmp-${randomBytes(6).toString('hex')}`);
    await mkdir(tmp, { mode: 0o700 });
    try {
      for (const [i, f] of entry.files.entries()) await writeFile(join(tmp, blobName(i)), f.content, { mode: 0o600, flag: 'wx' });
      const index: IndexFile = {
        format: 1,
        files: entry.files.map((f) => ({ name: f.name, mode: f.mode, size: f.content.length, sha256: sha256(f.content) })),
        stdout: entry.stdout,
        stderr: entry.stderr,
        ...(entry.figures ? { figures: entry.figures } : {}),
      };
      // index.json last: an entry without it is incomplete and is removed at the next open.
      await writeFile(join(tmp, 'index.json'), JSON.stringify(index), { mode: 0o600 });
      await rename(tmp, join(this.dir, key));
    } catch {
      await rm(tmp, { recursive: true, force: true });
      // Usually another process stored the same key first: use its entry.
      await this.adopt(key);
      return;
    }
    this.entries.set(key, { bytes, usedAt: Date.now() });
    this.totalBytes += bytes;
    await this.evict();
  }

  /** Register an entry found on disk but not in this process's index; undefined when there is none. */
  private async adopt(key: string): Promise<{ bytes: number; usedAt: number } | undefined> {
    if (!/^[\w-]{1,128}$/.test(key)) return undefined; // a plain dir name, never a path
    try {
      const index = JSON.parse(await readFile(join(this.dir, key, 'index.json'), 'utf8')) as IndexFile;
      if (this.entries.has(key)) return this.entries.get(key);
      const meta = { bytes: index.files.reduce((n, f) => n + f.size, 0), usedAt: Date.now() };
      this.entries.set(key, meta);
      this.totalBytes += meta.bytes;
      return meta;
    } catch {
      return undefined;
    }
  }

  private async evict(): Promise<void> {
    for (const key of this.entries.keys()) {
      if (this.totalBytes <= this.maxBytes) break;
      await this.remove(key);
      this.stats.evictions++;
    }
  }

  private async remove(key: string): Promise<void> {
    const meta = this.entries.get(key);
    if (meta) {
      this.entries.delete(key);
      this.totalBytes -= meta.bytes;
    }
    await rm(join(this.dir, key), { recursive: true, force: true });
  }
}
