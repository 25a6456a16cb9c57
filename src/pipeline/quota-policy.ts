/**
 * Quota arithmetic (pure): UTC day windows and which quota, if any, an execution would exceed.
 */
import type { TenantPolicy } from '../config/policy.js';

export type QuotaName = 'concurrent' | 'executionsPerDay' | 'cpuSecondsPerDay';

export interface DayWindow {
  /** YYYY-MM-DD, UTC. */
  day: string;
  /** Start of the next UTC day, epoch ms. */
  resetsAt: number;
}

export function utcDay(nowMs: number): DayWindow {
  const d = new Date(nowMs);
  const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  return { day: new Date(start).toISOString().slice(0, 10), resetsAt: start + 86_400_000 };
}

export interface UsageSnapshot {
  concurrent: number;
  executions: number;
  cpuMs: number;
}

export interface QuotaExceeded {
  quota: QuotaName;
  limit: number;
  used: number;
}

/** The first quota that one more execution would break, or null. */
export function exceededQuota(quota: TenantPolicy['quota'], usage: UsageSnapshot): QuotaExceeded | null {
  if (usage.concurrent >= quota.concurrent) return { quota: 'concurrent', limit: quota.concurrent, used: usage.concurrent };
  if (usage.executions >= quota.executionsPerDay) {
    return { quota: 'executionsPerDay', limit: quota.executionsPerDay, used: usage.executions };
  }
  // CPU is charged after the fact, so the check is "is any CPU budget left", not "is there enough".
  const usedSeconds = usage.cpuMs / 1000;
  if (usedSeconds >= quota.cpuSecondsPerDay) {
    return { quota: 'cpuSecondsPerDay', limit: quota.cpuSecondsPerDay, used: Math.round(usedSeconds * 1000) / 1000 };
  }
  return null;
}
