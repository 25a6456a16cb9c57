/**
 * Judge0 submissions, kept in SQLite in the data dir (judge0.sqlite) so tokens survive a restart like
 * Judge0's database rows. Kept for `ttlMs` after creation, at most `maxEntries` (oldest dropped first).
 * A submission belongs to the tenant that created it; admins (X-Auth-User) list and delete across tenants.
 */
import type Database from 'better-sqlite3';
import { openDatabase } from '../../store/sqlite.js';
import type { SubmissionRecord } from './submission.js';

export interface SubmissionStoreOptions {
  path: string;
  ttlMs: number;
  maxEntries: number;
  now: () => number;
}

export class SubmissionStore {
  private readonly db: Database.Database;

  constructor(private readonly o: SubmissionStoreOptions) {
    this.db = openDatabase(o.path);
    this.db.exec(`CREATE TABLE IF NOT EXISTS submissions (
      token TEXT PRIMARY KEY, tenant TEXT NOT NULL, created_at INTEGER NOT NULL, record TEXT NOT NULL)`);
    this.db.exec('CREATE INDEX IF NOT EXISTS submissions_created ON submissions (created_at)');
  }

  put(record: SubmissionRecord): void {
    this.db
      .prepare('INSERT OR REPLACE INTO submissions (token, tenant, created_at, record) VALUES (?, ?, ?, ?)')
      .run(record.token, record.tenant, record.created_at, JSON.stringify(record));
    this.expire();
  }

  /** A submission of `tenant` (any tenant's when null), or undefined. */
  get(token: string, tenant: string | null): SubmissionRecord | undefined {
    const row = this.db.prepare('SELECT record, tenant FROM submissions WHERE token = ? AND created_at > ?').get(token, this.o.now() - this.o.ttlMs) as
      | { record: string; tenant: string }
      | undefined;
    if (!row || (tenant !== null && row.tenant !== tenant)) return undefined;
    return JSON.parse(row.record) as SubmissionRecord;
  }

  /** Newest first, every tenant's. */
  list(offset: number, limit: number): { records: SubmissionRecord[]; total: number } {
    const since = this.o.now() - this.o.ttlMs;
    const total = (this.db.prepare('SELECT COUNT(*) AS n FROM submissions WHERE created_at > ?').get(since) as { n: number }).n;
    const rows = this.db
      .prepare('SELECT record FROM submissions WHERE created_at > ? ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?')
      .all(since, limit, offset) as { record: string }[];
    return { records: rows.map((r) => JSON.parse(r.record) as SubmissionRecord), total };
  }

  delete(token: string): void {
    this.db.prepare('DELETE FROM submissions WHERE token = ?').run(token);
  }

  private expire(): void {
    this.db.prepare('DELETE FROM submissions WHERE created_at <= ?').run(this.o.now() - this.o.ttlMs);
    this.db
      .prepare('DELETE FROM submissions WHERE token IN (SELECT token FROM submissions ORDER BY created_at DESC LIMIT -1 OFFSET ?)')
      .run(this.o.maxEntries);
  }

  close(): void {
    this.db.close();
  }
}
