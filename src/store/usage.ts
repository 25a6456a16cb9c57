/**
 * Daily usage per tenant (executions and sandbox CPU time), persisted in SQLite in the data dir so that
 * quotas survive a restart. One row per tenant per UTC day; old rows are pruned.
 */
import type Database from 'better-sqlite3';
import { openDatabase } from './sqlite.js';

export interface DailyUsage {
  executions: number;
  cpuMs: number;
}

const KEEP_DAYS = 35;

export class UsageStore {
  private readonly db: Database.Database;
  private readonly selectStmt: Database.Statement<[string, string]>;
  private readonly addStmt: Database.Statement<[string, string, number, number]>;

  constructor(path: string) {
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
    return (this.selectStmt.get(tenant, day) as DailyUsage | undefined) ?? { executions: 0, cpuMs: 0 };
  }

  /** Add (or, with negative numbers, take back) usage for a day. */
  add(tenant: string, day: string, delta: Partial<DailyUsage>): void {
    this.addStmt.run(tenant, day, delta.executions ?? 0, Math.round(delta.cpuMs ?? 0));
  }

  /** Drop rows older than a few weeks; `today` is a YYYY-MM-DD day. */
  prune(today: string): void {
    const cutoff = new Date(Date.parse(`${today}T00:00:00Z`) - KEEP_DAYS * 86_400_000).toISOString().slice(0, 10);
    this.db.prepare('DELETE FROM usage WHERE day < ?').run(cutoff);
  }

  close(): void {
    this.db.close();
  }
}
