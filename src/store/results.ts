/**
 * Asynchronous executions and their results: bounded by entry count and by a TTL counted from completion.
 * Pending entries (queued/running) are never evicted; their number is bounded by the queue. Readers may
 * wait for completion (long-poll) without polling.
 *
 * Live entries and their waiters are in memory. With a `path`, every execution is also written to SQLite
 * in the data dir, so finished results survive a restart, and executions a stopped process never finished
 * read back as an error instead of vanishing.
 *
 * A write that fails (a full data disk) never throws into the execution that finished: the result stays
 * in memory for everyone who reads it while it is there (waiters get it), the store reports itself
 * degraded, and once the result has left memory it reads back as STORAGE_FULL rather than vanishing.
 */
import type Database from 'better-sqlite3';
import { errors } from '../contract/errors.js';
import { StoreHealth, StoreOpenError, openDatabase, type StoreStatus } from './sqlite.js';
import type { ExecutionResult } from '../contract/result.js';

export type FinalRecord =
  | (ExecutionResult & { id: string })
  | { id: string; status: 'error'; error: { code: string; message: string; details?: unknown } };

export type ExecutionView = { id: string; status: 'queued' | 'running' } | FinalRecord;

interface Entry {
  id: string;
  tenant: string;
  state: 'queued' | 'running' | 'done';
  final?: FinalRecord;
  expiresAt: number;
  waiters: Set<() => void>;
}

export interface ResultStoreOptions {
  ttlMs: number;
  maxEntries: number;
  now?: () => number;
  /** SQLite file for durable results; memory only without it. */
  path?: string;
  /** Called for every failed write of the durable copy (metrics, log). */
  onWriteFailure?: (store: string, err: Error) => void;
}

/** Ids of results that could not be written, kept to answer STORAGE_FULL for them (a few bytes each). */
const MAX_UNSTORED_IDS = 10_000;

const INTERRUPTED = {
  code: 'INTERNAL',
  message: 'the service stopped before this execution finished; submit it again',
} as const;

/** The durable copy: one row per execution, `final` is null while it is pending. */
class DurableResults {
  private readonly db: Database.Database;
  private upsert!: Database.Statement<[string, string, string | null, number | null]>;
  private select!: Database.Statement<[string]>;

  constructor(path: string, now: number, ttlMs: number) {
    this.db = openDatabase(path);
    try {
      this.setUp(now, ttlMs);
    } catch (err) {
      this.db.close();
      throw new StoreOpenError(path, err);
    }
  }

  private setUp(now: number, ttlMs: number): void {
    this.db.exec(`CREATE TABLE IF NOT EXISTS results (
      id TEXT PRIMARY KEY,
      tenant TEXT NOT NULL,
      final TEXT,
      expires_at INTEGER
    );
    CREATE INDEX IF NOT EXISTS results_expiry ON results (expires_at)`);
    this.upsert = this.db.prepare(
      'INSERT INTO results (id, tenant, final, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET final = excluded.final, expires_at = excluded.expires_at',
    );
    this.select = this.db.prepare('SELECT tenant, final, expires_at AS expiresAt FROM results WHERE id = ?');
    // Whatever a previous process left pending will never finish: record it as interrupted.
    const pending = this.db.prepare('SELECT id FROM results WHERE final IS NULL').all() as { id: string }[];
    const mark = this.db.prepare('UPDATE results SET final = ?, expires_at = ? WHERE id = ?');
    for (const { id } of pending) mark.run(JSON.stringify({ id, status: 'error', error: INTERRUPTED }), now + ttlMs, id);
  }

  save(id: string, tenant: string, final: FinalRecord | null, expiresAt: number | null): void {
    this.upsert.run(id, tenant, final ? JSON.stringify(final) : null, expiresAt);
  }

  load(id: string): { tenant: string; final: FinalRecord | null; expiresAt: number | null } | undefined {
    const row = this.select.get(id) as { tenant: string; final: string | null; expiresAt: number | null } | undefined;
    if (!row) return undefined;
    return { tenant: row.tenant, final: row.final ? (JSON.parse(row.final) as FinalRecord) : null, expiresAt: row.expiresAt };
  }

  /** Drop expired results and all but the newest `keep` finished ones. */
  prune(now: number, keep: number): void {
    this.db.prepare('DELETE FROM results WHERE final IS NOT NULL AND expires_at <= ?').run(now);
    this.db
      .prepare(
        `DELETE FROM results WHERE final IS NOT NULL AND id NOT IN
           (SELECT id FROM results WHERE final IS NOT NULL ORDER BY expires_at DESC LIMIT ?)`,
      )
      .run(keep);
  }

  close(): void {
    this.db.close();
  }
}

export class ResultStore {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;
  private readonly durable?: DurableResults;
  private readonly health?: StoreHealth;
  /** Finished executions whose result could not be written, by id -> tenant (bounded like the results). */
  private readonly unstored = new Map<string, string>();

  constructor(private readonly options: ResultStoreOptions) {
    this.now = options.now ?? Date.now;
    if (options.path) {
      this.durable = new DurableResults(options.path, this.now(), options.ttlMs);
      this.health = new StoreHealth('results', options.path, options.onWriteFailure);
    }
  }

  status(): StoreStatus {
    return this.health?.status() ?? { ok: true };
  }

  /** Write to the durable copy, if there is one; false when that write failed. */
  private persist(write: (durable: DurableResults) => void): boolean {
    const { durable, health } = this;
    return !durable || !health || health.write(() => write(durable));
  }

  close(): void {
    this.durable?.close();
  }

  get size(): number {
    return this.entries.size;
  }

  create(id: string, tenant: string): void {
    this.prune();
    this.entries.set(id, { id, tenant, state: 'queued', expiresAt: Infinity, waiters: new Set() });
    this.persist((d) => d.save(id, tenant, null, null));
  }

  markRunning(id: string): void {
    const e = this.entries.get(id);
    if (e && e.state === 'queued') e.state = 'running';
  }

  complete(id: string, final: FinalRecord): void {
    const e = this.entries.get(id);
    if (!e) return;
    e.state = 'done';
    e.final = final;
    e.expiresAt = this.now() + this.options.ttlMs;
    // Re-insert so the Map's order is completion order: eviction then drops the oldest results first.
    this.entries.delete(id);
    this.entries.set(id, e);
    for (const wake of e.waiters) wake();
    e.waiters.clear();
    if (!this.persist((d) => d.save(id, e.tenant, final, e.expiresAt))) this.rememberUnstored(id, e.tenant);
    this.prune();
  }

  /** The view of an execution, or undefined when unknown, expired or owned by another tenant. */
  get(id: string, tenant: string): ExecutionView | undefined {
    const e = this.entries.get(id);
    if (!e) return this.fromDurable(id, tenant);
    if (e.tenant !== tenant) return undefined;
    if (e.state === 'done') {
      if (e.expiresAt <= this.now()) {
        this.entries.delete(id);
        return undefined;
      }
      return e.final!;
    }
    return { id, status: e.state };
  }

  /** Like get, but waits up to `waitMs` for the execution to finish. */
  async wait(id: string, tenant: string, waitMs: number): Promise<ExecutionView | undefined> {
    const e = this.entries.get(id);
    if (e && e.tenant === tenant && e.state !== 'done' && waitMs > 0) {
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          e.waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, waitMs);
        e.waiters.add(wake);
      });
    }
    return this.get(id, tenant);
  }

  private rememberUnstored(id: string, tenant: string): void {
    this.unstored.set(id, tenant);
    for (const oldest of this.unstored.keys()) {
      if (this.unstored.size <= MAX_UNSTORED_IDS) break;
      this.unstored.delete(oldest);
    }
  }

  /** A result finished by an earlier process (or pruned from memory but still on disk). */
  private fromDurable(id: string, tenant: string): ExecutionView | undefined {
    const row = this.durable?.load(id);
    // Pending entries never leave memory, and a previous process's pending rows were marked interrupted at
    // start: a pending row that is not in memory is one whose result could not be written.
    const unstored = this.unstored.get(id) === tenant || (row?.tenant === tenant && !row.final);
    if (unstored) return { id, status: 'error', error: errors.resultNotStored(this.options.path ?? 'results').toJSON().error };
    if (!row || row.tenant !== tenant || !row.final) return undefined;
    if (row.expiresAt !== null && row.expiresAt <= this.now()) return undefined;
    return row.final;
  }

  private prune(): void {
    const now = this.now();
    this.persist((d) => d.prune(now, this.options.maxEntries));
    let finished = 0;
    for (const e of this.entries.values()) if (e.state === 'done') finished++;
    for (const [id, e] of this.entries) {
      if (e.state !== 'done') continue;
      if (e.expiresAt <= now || finished > this.options.maxEntries) {
        this.entries.delete(id);
        finished--;
      }
    }
  }
}
