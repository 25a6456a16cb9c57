/**
 * Tenant policies: what one tenant may do (rate, quotas, limit ceilings, languages). Pure logic: the
 * built-in policy, overlaid by the config's `defaultPolicy`, overlaid by the tenant's own entry.
 */
import { NETWORK_MODES, type Isolation, type NetworkMode } from '../contract/profile.js';
import { MAX_LIMITS, overlay, type LimitTable } from '../limits/limits.js';
import type { PolicyOverride, PolyrunConfig } from './schema.js';

export interface TenantPolicy {
  rate: { perSecond: number; burst: number };
  quota: { concurrent: number; executionsPerDay: number; cpuSecondsPerDay: number };
  /** The ceiling of limits a request may ask for (MAX_LIMITS overlaid with the policy's overrides). */
  maxLimits: LimitTable;
  languages: '*' | string[];
  network: NetworkPolicy;
  /** Isolation levels a request may ask for (the gVisor tier only when granted). */
  isolation: Isolation[];
  sessions: SessionPolicy;
}

/** What a tenant may do with the network (docs/configuration.md). */
export interface NetworkPolicy {
  /** Modes without any outside access a request may ask for ("none", "loopback"). */
  modes: NetworkMode[];
  /** Whether requests may reach the network through an allowlist at all (default false). */
  enabled: boolean;
  maxEntries: number;
  /** Entries every request entry must stay within; null = any destination outside the deny set. */
  allowCeiling: string[] | null;
  bytesPerExecution: number;
  bandwidthBytesPerSecond: number;
  maxConnections: number;
}

/** Stateful sessions (POST /v1/sessions): how many, how long, how large. */
export interface SessionPolicy {
  /** Sessions open at once; 0 disables sessions for the tenant. */
  maxOpen: number;
  /** Idle timeout when the request names none, and the most it may ask for. */
  idleTimeoutMs: number;
  maxIdleTimeoutMs: number;
  /** Lifetime when the request names none, and the most it may ask for. */
  lifetimeMs: number;
  maxLifetimeMs: number;
  /** Memory of the session's sandbox (every exec's memory limit is within it). */
  memoryBytes: number;
  /** Size of the session's working dir (tmpfs); /tmp has the same size. */
  diskBytes: number;
}

export interface Tenant {
  id: string;
  policy: TenantPolicy;
  /** True when auth is off: the rate limit is then per client IP instead of per tenant. */
  anonymous: boolean;
  /** The key may install and remove runtimes (`polyrun keys create --admin`); never with auth off. */
  admin?: boolean;
}

export const BUILTIN_POLICY: TenantPolicy = {
  rate: { perSecond: 10, burst: 20 },
  quota: { concurrent: 8, executionsPerDay: 10_000, cpuSecondsPerDay: 3_600 },
  maxLimits: MAX_LIMITS,
  languages: '*',
  network: {
    modes: [...NETWORK_MODES],
    enabled: false,
    maxEntries: 16,
    allowCeiling: null,
    bytesPerExecution: 64 * 1024 * 1024,
    bandwidthBytesPerSecond: 8 * 1024 * 1024,
    maxConnections: 32,
  },
  isolation: ['default'],
  sessions: {
    maxOpen: 4,
    idleTimeoutMs: 5 * 60_000,
    maxIdleTimeoutMs: 30 * 60_000,
    lifetimeMs: 60 * 60_000,
    maxLifetimeMs: 4 * 60 * 60_000,
    memoryBytes: 512 * 1024 * 1024,
    diskBytes: 64 * 1024 * 1024,
  },
};

export function applyPolicyOverride(base: TenantPolicy, patch: PolicyOverride | undefined): TenantPolicy {
  if (!patch) return base;
  return {
    rate: { ...base.rate, ...patch.rate },
    quota: { ...base.quota, ...patch.quota },
    maxLimits: overlay(base.maxLimits, patch.maxLimits),
    languages: patch.languages ?? base.languages,
    network: overlayNetwork(base.network, patch.network),
    isolation: patch.isolation ?? base.isolation,
    sessions: { ...base.sessions, ...Object.fromEntries(Object.entries(patch.sessions ?? {}).filter(([, v]) => v !== undefined)) },
  };
}

/** The policy's `network` as written: a list of modes (the older form) or an object, merged field by field. */
function overlayNetwork(base: NetworkPolicy, patch: PolicyOverride['network']): NetworkPolicy {
  if (patch === undefined) return base;
  if (Array.isArray(patch)) return { ...base, modes: patch };
  const set = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
  return { ...base, ...set };
}

/** The policy of a named tenant; tenants without an entry of their own get the default policy. */
export function policyFor(config: Pick<PolyrunConfig, 'defaultPolicy' | 'tenants'>, tenantId: string): TenantPolicy {
  const base = applyPolicyOverride(BUILTIN_POLICY, config.defaultPolicy);
  return applyPolicyOverride(base, config.tenants[tenantId]);
}

/** The policy used when auth is off: the default policy overlaid with `anonymousPolicy`. */
export function anonymousPolicy(config: Pick<PolyrunConfig, 'defaultPolicy' | 'anonymousPolicy'>): TenantPolicy {
  return applyPolicyOverride(applyPolicyOverride(BUILTIN_POLICY, config.defaultPolicy), config.anonymousPolicy);
}

/** Whether a policy lets a runtime (known by its name and aliases) run. */
export function languageAllowed(policy: TenantPolicy, runtime: { name: string; aliases: string[]; language?: string }): boolean {
  if (policy.languages === '*') return true;
  const allowed = new Set(policy.languages.map((l) => l.toLowerCase()));
  // A language allows all its runtimes ("python": CPython and PyPy); a runtime's name or alias only that one.
  return [runtime.name, ...(runtime.language ? [runtime.language] : []), ...runtime.aliases].some((n) => allowed.has(n.toLowerCase()));
}

/** Whether an address to listen on is loopback only ("127.0.0.1", "::1", "localhost"). */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * Auth off on a loopback address, with no anonymousPolicy.rate of the operator's: one local user, no rate
 * limit (as Piston has none). Auth off on any other address keeps the per-IP limit.
 */
export function anonymousUnlimited(config: Pick<PolyrunConfig, 'auth' | 'host' | 'anonymousPolicy'>): boolean {
  return !config.auth && isLoopbackHost(config.host) && config.anonymousPolicy.rate === undefined;
}
