/**
 * Pipeline stage 3, quotas: concurrent executions (in memory), executions and CPU seconds per UTC day
 * (SQLite, survive restarts). Admission takes a lease: it counts the execution and holds a concurrency
 * slot; the lease is settled with the CPU time used, or cancelled (refunded) when the request fails
 * before anything ran.
 */
import { Type, type Static } from '@sinclair/typebox';
import fp from 'fastify-plugin';
import { errors, type PolyrunError } from '../contract/errors.js';
import type { Tenant } from '../config/policy.js';
import type { UsageStore } from '../store/usage.js';
import type { Metrics } from '../telemetry/metrics.js';
import { exceededQuota, utcDay, type QuotaName } from './quota-policy.js';
import './context.js';

export interface QuotaLease {
  /** The execution ran: free the concurrency slot and charge its CPU time. */
  settle(cpuMs: number): void;
  /** Nothing ran: free the slot and take back the execution count. */
  cancel(): void;
}

/**
 * What the pipeline needs of quotas: this process's QuotaGuard, or a cluster's quotas shared through Redis
 * (src/cluster/shared-quota.ts), which answer asynchronously.
 */
export interface Quota {
  /** Check every quota and, if none is exceeded, take a lease. Throws QUOTA_EXCEEDED. */
  admit(tenant: Tenant): QuotaLease | Promise<QuotaLease>;
  report(tenant: Tenant): UsageReport | Promise<UsageReport>;
}

const UsedOfLimit = Type.Object({ used: Type.Number(), limit: Type.Number() });

/** What GET /v1/usage answers: the tenant's usage of the current UTC day against its quotas. */
export const UsageReportSchema = Type.Object({
  tenant: Type.String(),
  day: Type.String({ description: 'YYYY-MM-DD, UTC' }),
  resetsAt: Type.String({ description: 'ISO time the daily quotas reset' }),
  concurrent: UsedOfLimit,
  executions: UsedOfLimit,
  cpuSeconds: UsedOfLimit,
});
export type UsageReport = Static<typeof UsageReportSchema>;

export class QuotaGuard implements Quota {
  private readonly concurrent = new Map<string, number>();
  private lastPrunedDay = '';

  constructor(
    private readonly usage: Pick<UsageStore, 'get' | 'add' | 'prune'>,
    private readonly metrics: Metrics,
    private readonly now: () => number = Date.now,
  ) {}

  /** Check every quota and, if none is exceeded, take a lease. Throws QUOTA_EXCEEDED. */
  admit(tenant: Tenant): QuotaLease {
    const window = utcDay(this.now());
    const daily = this.usage.get(tenant.id, window.day);
    const running = this.concurrent.get(tenant.id) ?? 0;
    const exceeded = exceededQuota(tenant.policy.quota, { concurrent: running, ...daily });
    if (exceeded) {
      this.metrics.quotaRejections.inc({ quota: exceeded.quota });
      throw quotaError(exceeded.quota, exceeded.limit, exceeded.used, window.resetsAt, this.now());
    }
    if (window.day !== this.lastPrunedDay) {
      this.write(() => this.usage.prune(window.day));
      this.lastPrunedDay = window.day;
    }
    // Counted before the slot is taken: if the count cannot be recorded, nothing is held.
    if (!this.write(() => this.usage.add(tenant.id, window.day, { executions: 1 }))) throw errors.storageUnavailable('usage');
    this.concurrent.set(tenant.id, running + 1);
    let open = true;
    const release = () => {
      if (!open) return false;
      open = false;
      const n = (this.concurrent.get(tenant.id) ?? 1) - 1;
      if (n <= 0) this.concurrent.delete(tenant.id);
      else this.concurrent.set(tenant.id, n);
      return true;
    };
    return {
      settle: (cpuMs) => {
        // Charged to the day of admission, so that a run across midnight cannot dodge the old day's quota.
        if (release() && cpuMs > 0) this.write(() => this.usage.add(tenant.id, window.day, { cpuMs }));
      },
      cancel: () => {
        if (release()) this.write(() => this.usage.add(tenant.id, window.day, { executions: -1 }));
      },
    };
  }

  /**
   * A usage write that cannot throw into the request: the slot is always given back first, and a store
   * that fails is counted (the SQLite store keeps what it could not write and reports itself degraded).
   */
  private write(fn: () => void): boolean {
    try {
      fn();
      return true;
    } catch {
      this.metrics.storeWriteFailures.inc({ store: 'usage' });
      return false;
    }
  }

  report(tenant: Tenant): UsageReport {
    const window = utcDay(this.now());
    const daily = this.usage.get(tenant.id, window.day);
    const q = tenant.policy.quota;
    return {
      tenant: tenant.id,
      day: window.day,
      resetsAt: new Date(window.resetsAt).toISOString(),
      concurrent: { used: this.concurrent.get(tenant.id) ?? 0, limit: q.concurrent },
      executions: { used: daily.executions, limit: q.executionsPerDay },
      cpuSeconds: { used: daily.cpuMs / 1000, limit: q.cpuSecondsPerDay },
    };
  }
}

export function quotaError(quota: QuotaName, limit: number, used: number, resetsAt: number, now: number): PolyrunError {
  if (quota === 'concurrent') {
    return errors.quotaExceeded(`concurrent executions quota exceeded (${limit} at once); wait for one to finish`, {
      quota,
      limit,
      used,
      retryAfterSeconds: 1,
    });
  }
  const what = quota === 'executionsPerDay' ? 'executions per day' : 'CPU seconds per day';
  const reset = new Date(resetsAt).toISOString();
  return errors.quotaExceeded(`${what} quota exceeded (limit ${limit}); it resets at ${reset}`, {
    quota,
    limit,
    used,
    resetsAt: reset,
    retryAfterSeconds: Math.max(1, Math.ceil((resetsAt - now) / 1000)),
  });
}

export interface QuotaStageOptions {
  guard: Quota;
}

/**
 * The Fastify side: routes marked `config.execution` take a lease before validation; if the request fails
 * before the execution service takes the lease over, it is cancelled when the response goes out.
 */
export const quotaCheck = fp<QuotaStageOptions>(
  async (app, { guard }) => {
    app.decorateRequest('quotaLease', null);
    app.addHook('preValidation', async (request) => {
      if (!request.routeOptions.config?.execution || !request.tenant) return;
      request.quotaLease = await guard.admit(request.tenant);
    });
    app.addHook('onResponse', async (request) => {
      request.quotaLease?.cancel();
      request.quotaLease = null;
    });
  },
  { name: 'polyrun-quota', dependencies: ['polyrun-authentication'] },
);
