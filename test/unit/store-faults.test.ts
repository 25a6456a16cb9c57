/**
 * Store faults that must not cost a slot or a secret: a usage store whose writes fail never leaks a
 * concurrency slot, and the data dir and its SQLite files are private to the service. (A real full disk,
 * on a tmpfs the test mounts, is test/sandbox/disk-full.test.ts.)
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { policyFor } from '../../src/config/policy.js';
import { QuotaGuard } from '../../src/pipeline/quota.js';
import type { DailyUsage } from '../../src/store/usage.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { FakeExecutor } from '../helpers/fake-executor.js';
import { appsCleanedAfterEach, body, tempDir } from '../helpers/app.js';

/** A usage store that fails every write while `failing` is set, like SQLite on a full disk. */
class FlakyUsage {
  failing = true;
  readonly rows = new Map<string, DailyUsage>();
  get(tenant: string, day: string): DailyUsage {
    return this.rows.get(`${tenant}/${day}`) ?? { executions: 0, cpuMs: 0 };
  }
  add(tenant: string, day: string, delta: Partial<DailyUsage>): void {
    if (this.failing) throw new Error('database or disk is full');
    const row = this.get(tenant, day);
    this.rows.set(`${tenant}/${day}`, { executions: row.executions + (delta.executions ?? 0), cpuMs: row.cpuMs + (delta.cpuMs ?? 0) });
  }
  prune(): void {
    if (this.failing) throw new Error('database or disk is full');
  }
}

describe('a failing usage store', () => {
  const tenant = { id: 't', anonymous: false, policy: policyFor({ defaultPolicy: { quota: { concurrent: 2 } }, tenants: {} }, 't') };

  it('refuses with 503 STORAGE_UNAVAILABLE and holds no slot, however often it fails', () => {
    const usage = new FlakyUsage();
    const metrics = createMetrics();
    const guard = new QuotaGuard(usage, metrics, () => Date.parse('2026-12-01T12:00:00Z'));
    for (let i = 0; i < 20; i++) {
      expect(() => guard.admit(tenant)).toThrow(expect.objectContaining({ code: 'STORAGE_UNAVAILABLE', httpStatus: 503 }));
    }
    expect(guard.report(tenant).concurrent.used).toBe(0);
    // The disk has room again: the tenant gets its full concurrency, not 429 forever.
    usage.failing = false;
    const leases = [guard.admit(tenant), guard.admit(tenant)];
    expect(() => guard.admit(tenant)).toThrow(expect.objectContaining({ code: 'QUOTA_EXCEEDED' }));
    // Settling while the store fails again gives the slot back all the same, and throws nothing.
    usage.failing = true;
    leases[0]!.settle(100);
    leases[1]!.cancel();
    expect(guard.report(tenant).concurrent.used).toBe(0);
  });
});

describe('file modes of the data dir', () => {
  const start = appsCleanedAfterEach();

  it('the data dir is 0700 and its SQLite files 0600', async () => {
    const dataDir = join(tempDir(), 'data');
    const t = await start(new FakeExecutor(), { dataDir });
    await t.app.inject({ method: 'POST', url: '/v1/executions', headers: t.auth(), payload: body('print:x') });
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    for (const file of ['results.sqlite', 'usage.sqlite', 'results.sqlite-wal', 'usage.sqlite-wal']) {
      expect(statSync(join(dataDir, file)).mode & 0o777, file).toBe(0o600);
    }
  });
});
