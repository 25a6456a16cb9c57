/**
 * Quotas shared by every API node of a cluster, in Redis: concurrent executions and the daily executions
 * and CPU seconds of each tenant, so that spreading requests over nodes gains nothing.
 *
 * Atomic by "take, then check": one Lua script drops expired leases, reads the usage, and takes a lease
 * and counts the execution, in one step; the node then applies the one quota rule (exceededQuota in
 * pipeline/quota-policy.ts) to the usage as it was *before* its own step and gives the step back when a
 * quota is exceeded. Every admission sees all earlier ones, so no quota is exceeded; two racing at the
 * limit may both be refused (the conservative side).
 *
 * Concurrency is a set of leases with an expiry (`leaseTtlMs`), not a counter: a node that dies with
 * executions in flight cannot hold its tenants' slots for ever, only until its leases expire.
 * Daily usage is a hash per tenant and UTC day, expiring after a few days.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { errors } from '../contract/errors.js';
import type { Tenant } from '../config/policy.js';
import { quotaError, type Quota, type QuotaLease, type UsageReport } from '../pipeline/quota.js';
import { exceededQuota, utcDay } from '../pipeline/quota-policy.js';
import type { Metrics } from '../telemetry/metrics.js';

const TAKE = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local concurrent = redis.call('ZCARD', KEYS[1])
local usage = redis.call('HMGET', KEYS[2], 'executions', 'cpuMs')
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('HINCRBY', KEYS[2], 'executions', 1)
redis.call('EXPIRE', KEYS[2], ARGV[5])
return {concurrent, tonumber(usage[1] or '0'), tonumber(usage[2] or '0')}
`;

const DAY_KEY_TTL_SECONDS = 3 * 86_400;

export interface SharedQuotaOptions {
  redis: Redis;
  prefix: string;
  metrics: Metrics;
  now?: () => number;
  /** How long a lease holds a concurrency slot if its node dies before giving it back. */
  leaseTtlMs?: number;
}

export class SharedQuota implements Quota {
  private readonly now: () => number;
  private readonly leaseTtlMs: number;

  constructor(private readonly o: SharedQuotaOptions) {
    this.now = o.now ?? Date.now;
    this.leaseTtlMs = o.leaseTtlMs ?? 15 * 60_000;
  }

  private leasesKey = (tenant: string) => `${this.o.prefix}:pr:quota:leases:${tenant}`;
  private dayKey = (tenant: string, day: string) => `${this.o.prefix}:pr:quota:day:${tenant}:${day}`;

  async admit(tenant: Tenant): Promise<QuotaLease> {
    const now = this.now();
    const window = utcDay(now);
    const leases = this.leasesKey(tenant.id);
    const day = this.dayKey(tenant.id, window.day);
    const id = randomUUID();
    let before: [number, number, number];
    try {
      before = (await this.o.redis.eval(TAKE, 2, leases, day, now, id, now + this.leaseTtlMs, this.leaseTtlMs, DAY_KEY_TTL_SECONDS)) as [
        number,
        number,
        number,
      ];
    } catch {
      throw errors.queueUnavailable();
    }
    const [concurrent, executions, cpuMs] = before;
    const exceeded = exceededQuota(tenant.policy.quota, { concurrent, executions, cpuMs });
    const giveBack = () => this.o.redis.multi().zrem(leases, id).hincrby(day, 'executions', -1).exec();
    if (exceeded) {
      await giveBack().catch(() => undefined);
      this.o.metrics.quotaRejections.inc({ quota: exceeded.quota });
      throw quotaError(exceeded.quota, exceeded.limit, exceeded.used, window.resetsAt, now);
    }
    let open = true;
    const failed = () => this.o.metrics.storeWriteFailures.inc({ store: 'quota' });
    return {
      settle: (ms) => {
        if (!open) return;
        open = false;
        const writes = this.o.redis.multi().zrem(leases, id);
        if (ms > 0) writes.hincrby(day, 'cpuMs', Math.round(ms));
        writes.exec().catch(failed);
      },
      cancel: () => {
        if (!open) return;
        open = false;
        giveBack().catch(failed);
      },
    };
  }

  async report(tenant: Tenant): Promise<UsageReport> {
    const now = this.now();
    const window = utcDay(now);
    const q = tenant.policy.quota;
    let concurrent: number;
    let daily: (string | null)[];
    try {
      [concurrent, daily] = await Promise.all([
        this.o.redis.zcount(this.leasesKey(tenant.id), `(${now}`, '+inf'),
        this.o.redis.hmget(this.dayKey(tenant.id, window.day), 'executions', 'cpuMs'),
      ]);
    } catch {
      throw errors.queueUnavailable();
    }
    return {
      tenant: tenant.id,
      day: window.day,
      resetsAt: new Date(window.resetsAt).toISOString(),
      concurrent: { used: concurrent, limit: q.concurrent },
      executions: { used: Number(daily[0] ?? 0), limit: q.executionsPerDay },
      cpuSeconds: { used: Number(daily[1] ?? 0) / 1000, limit: q.cpuSecondsPerDay },
    };
  }
}
