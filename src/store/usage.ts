/**
 * Daily usage per tenant (executions and sandbox CPU time), persisted in SQLite in the data dir so that
 * quotas survive a restart. One row per tenant per UTC day; old rows are pruned.
 *
 * A write that fails (a full data disk) never fails the request and loses nothing: the usage is kept in
 * memory, counted by `get`, and written with the next write that succeeds. The store then reports itself
 * degraded (`health`) until a write succeeds again.
 */
import type Database from 'better-sqlite3';
import { StoreHealth, openDatabase } from './sqlite.js';

export interface DailyUsage {
  executions: number;
  cpuMs: number;
}

const KEEP_DAYS = 35;

export class UsageStore {
  readonly health: StoreHealth;
  private readonly db: Database.Database;
  private readonly selectStmt: Database.Statement<[string, string]>;
  private readonly addStmt: Database.Statement<[string, string, number, number]>;
  /** Usage not written yet, by tenant and day (at most one entry per tenant-day). */
  private readonly unsaved = new Map<string, { tenant: string; day: string } & DailyUsage>();

  constructor(path: string, onWriteFailure?: (store: string, err: Error) => void) {
    this.health = new StoreHealth('usage', path, onWriteFailure);
    this.db = openDatabase(path);
    this.db.exec(`CREATE TABLE IF NOT EXISTS usage (
      tenant TEXT NOT NULL,
      day TEXT NOT NULL,
      executions INTEGER NOT NULL DEFAULT 0,
      cpu_ms INTEGER NOT NULL DEFAULT 0,
      PRIMARY KEY (tenant, day)
    )`);
    this.selectStmt = this.db.prepare('SELECT executions, cpu_ms AS cpuMs FROM usage WHERE tenant = ? AND day = ?');
    this.addStmt = this.db.prepare(`INSERT INTO usage (tenant, day, executions, cpu_ms) VALUES (?, ?, ?, ?)
      ON CONFLICT (tenant, day) DO UPDATE SET executions = MAX(0, executions + excluded.executions),
                                              cpu_ms = MAX(0, cpu_ms + excluded.cpu_ms)`);
  }

  get(tenant: string, day: string): DailyUsage {
    const stored = (this.selectStmt.get(tenant, day) as DailyUsage | undefined) ?? { executions: 0, cpuMs: 0 };
    const pending = this.unsaved.get(`${tenant}\0${day}`);
    if (!pending) return stored;
    return { executions: Math.max(0, stored.executions + pending.executions), cpuMs: Math.max(0, stored.cpuMs + pending.cpuMs) };
  }

  /** Add (or, with negative numbers, take back) usage for a day. Never throws: see the header. */
  add(tenant: string, day: string, delta: Partial<DailyUsage>): void {
    const key = `${tenant}\0${day}`;
    const entry = this.unsaved.get(key) ?? { tenant, day, executions: 0, cpuMs: 0 };
    entry.executions += delta.executions ?? 0;
    entry.cpuMs += Math.round(delta.cpuMs ?? 0);
    this.unsaved.set(key, entry);
    this.health.write(() => this.flush());
  }

  /** Everything unsaved in one transaction: all of it is written, or none and it stays in memory. */
  private readonly flush = (): void => {
    this.db.transaction(() => {
      for (const u of this.unsaved.values()) this.addStmt.run(u.tenant, u.day, u.executions, u.cpuMs);
    })();
    this.unsaved.clear();
  };

  /** Drop rows older than a few weeks; `today` is a YYYY-MM-DD day. */
  prune(today: string): void {
    const cutoff = new Date(Date.parse(`${today}T00:00:00Z`) - KEEP_DAYS * 86_400_000).toISOString().slice(0, 10);
    this.health.write(() => this.db.prepare('DELETE FROM usage WHERE day < ?').run(cutoff));
    for (const [key, u] of this.unsaved) if (u.day < cutoff) this.unsaved.delete(key);
  }

  close(): void {
    this.health.write(() => this.flush());
    this.db.close();
  }
}
