/**
 * Opening a SQLite file in the data dir the same way for every store (WAL, fsync at checkpoints only,
 * private to the service: dir 0700, files 0600), and the health of a store's writes: a failed write
 * (a full disk, an I/O error) is recorded and reported, never thrown into the request that caused it.
 */
import Database from 'better-sqlite3';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';

export class StoreOpenError extends Error {
  constructor(path: string, cause: unknown) {
    super(`cannot open ${path}: ${(cause as Error).message}`);
    this.name = 'StoreOpenError';
  }
}

/** The data dir holds every tenant's results and usage: only the service may read it. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

export function openDatabase(path: string): Database.Database {
  if (path === ':memory:') return new Database(path);
  try {
    ensurePrivateDir(dirname(path));
    // Created 0600 before SQLite opens it: SQLite gives its -wal and -shm files the database file's mode.
    closeSync(openSync(path, 'a', 0o600));
    for (const file of [path, `${path}-wal`, `${path}-shm`]) if (existsSync(file)) chmodSync(file, 0o600);
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    return db;
  } catch (err) {
    // Start-up on a full or read-only disk: say which file, not just "disk full".
    throw new StoreOpenError(path, err);
  }
}

export interface StoreStatus {
  ok: boolean;
  /** Why the last write failed, while the store is degraded. */
  problem?: string;
}

/**
 * Write health of one store. `write` runs a write and reports whether it succeeded; a failure is counted,
 * passed to `onFailure` (metrics, log) and leaves the store degraded until a write succeeds again.
 */
export class StoreHealth {
  private problem?: string;

  constructor(
    readonly name: string,
    readonly path: string,
    private readonly onFailure: (store: string, err: Error) => void = () => undefined,
  ) {}

  write(fn: () => void): boolean {
    try {
      fn();
      this.problem = undefined;
      return true;
    } catch (err) {
      this.problem = `${(err as Error).message} (${this.path})`;
      this.onFailure(this.name, err as Error);
      return false;
    }
  }

  status(): StoreStatus {
    return this.problem ? { ok: false, problem: this.problem } : { ok: true };
  }
}
