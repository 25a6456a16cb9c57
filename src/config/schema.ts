/**
 * The shape of polyrun's service configuration, as TypeBox schemas (validated at start) plus the built-in
 * defaults. Pure data: loading and merging live in load.ts.
 */
import { Type, type Static } from '@sinclair/typebox';
import { ISOLATIONS, NETWORK_MODES } from '../contract/profile.js';
import { StageLimitsOverrideSchema } from '../limits/limits.js';

const PositiveInt = (description: string) => Type.Integer({ minimum: 1, description });

const NetworkModesSchema = Type.Array(Type.Union(NETWORK_MODES.map((m) => Type.Literal(m))), {
  uniqueItems: true,
  description: 'network modes the tenant may ask for ("none" is the default of every request)',
});

/** A tenant policy as written in the config file: every part optional, merged over the defaults. */
export const PolicyOverrideSchema = Type.Object(
  {
    rate: Type.Optional(
      Type.Object(
        {
          perSecond: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'sustained requests per second' })),
          burst: Type.Optional(PositiveInt('requests allowed at once (bucket size)')),
        },
        { additionalProperties: false },
      ),
    ),
    quota: Type.Optional(
      Type.Object(
        {
          concurrent: Type.Optional(PositiveInt('executions queued or running at once')),
          executionsPerDay: Type.Optional(Type.Integer({ minimum: 0, description: 'executions per UTC day' })),
          cpuSecondsPerDay: Type.Optional(Type.Number({ minimum: 0, description: 'sandbox CPU seconds per UTC day' })),
        },
        { additionalProperties: false },
      ),
    ),
    maxLimits: Type.Optional(
      Type.Object(
        { compile: Type.Optional(StageLimitsOverrideSchema), run: Type.Optional(StageLimitsOverrideSchema) },
        { additionalProperties: false },
      ),
    ),
    languages: Type.Optional(
      Type.Union([Type.Literal('*'), Type.Array(Type.String({ minLength: 1 }))], {
        description: '"*" or a list of runtime names/aliases the tenant may run',
      }),
    ),
    network: Type.Optional(
      Type.Union(
        [
          // The older form, still accepted: just the list of modes (same as `{ modes: [...] }`).
          NetworkModesSchema,
          Type.Object(
            {
              modes: Type.Optional(NetworkModesSchema),
              enabled: Type.Optional(Type.Boolean({ description: 'whether requests may reach the network through an allowlist (default false)' })),
              maxEntries: Type.Optional(PositiveInt('most allowlist entries per request')),
              allowCeiling: Type.Optional(
                Type.Array(Type.String({ minLength: 1 }), { description: 'allowlist entries every request entry must stay within (absent: any)' }),
              ),
              bytesPerExecution: Type.Optional(PositiveInt('bytes in + out per execution; then every connection is reset')),
              bandwidthBytesPerSecond: Type.Optional(PositiveInt('bandwidth per sandbox and direction, bytes/s')),
              maxConnections: Type.Optional(PositiveInt('connections open at once per sandbox')),
            },
            { additionalProperties: false },
          ),
        ],
        { description: 'network policy: modes, allowlisted egress (off by default) and its caps' },
      ),
    ),
    isolation: Type.Optional(
      Type.Array(Type.Union(ISOLATIONS.map((m) => Type.Literal(m))), {
        uniqueItems: true,
        description: 'isolation levels the tenant may ask for: ["default"] unless a hardened tier ("gvisor") is granted',
      }),
    ),
    sessions: Type.Optional(
      Type.Object(
        {
          maxOpen: Type.Optional(Type.Integer({ minimum: 0, description: 'sessions open at once (0: no sessions)' })),
          idleTimeoutMs: Type.Optional(PositiveInt('idle timeout of a session that names none, ms')),
          maxIdleTimeoutMs: Type.Optional(PositiveInt('longest idle timeout a session may ask for, ms')),
          lifetimeMs: Type.Optional(PositiveInt('lifetime of a session that names none, ms')),
          maxLifetimeMs: Type.Optional(PositiveInt('longest lifetime a session may ask for, ms')),
          memoryBytes: Type.Optional(PositiveInt("memory of a session's sandbox, bytes")),
          diskBytes: Type.Optional(PositiveInt("size of a session's working dir and of its /tmp, bytes")),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type PolicyOverride = Static<typeof PolicyOverrideSchema>;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const ConfigSchema = Type.Object(
  {
    host: Type.String({ minLength: 1 }),
    port: Type.Integer({ minimum: 0, maximum: 65535 }),
    dataDir: Type.String({ minLength: 1 }),
    auth: Type.Boolean(),
    keysFile: Type.Optional(Type.String({ minLength: 1 })),
    bodyLimitBytes: PositiveInt('largest request body'),
    slots: PositiveInt('executions running at once'),
    queue: Type.Object(
      {
        maxQueued: Type.Integer({ minimum: 0 }),
        waitTimeoutMs: PositiveInt('longest time a request may wait for a slot'),
      },
      { additionalProperties: false },
    ),
    results: Type.Object(
      { ttlMs: PositiveInt('how long async results are kept'), maxEntries: PositiveInt('async results kept at most') },
      { additionalProperties: false },
    ),
    longPollMaxMs: Type.Integer({ minimum: 0 }),
    shutdownGraceMs: Type.Integer({ minimum: 0 }),
    logLevel: Type.Union(LOG_LEVELS.map((l) => Type.Literal(l))),
    trustProxy: Type.Boolean(),
    audit: Type.Object({ includeSource: Type.Boolean() }, { additionalProperties: false }),
    sandbox: Type.Object(
      {
        backend: Type.Union(
          [Type.Literal('auto'), Type.Literal('oci'), Type.Literal('bwrap'), Type.Literal('gvisor')],
          { description: 'what starts sandboxes: auto (the cheapest that works here), oci, bwrap or gvisor' },
        ),
        ociRuntime: Type.String({ minLength: 1, description: 'OCI runtime binary: runc, crun, runsc, or auto (crun where it works)' }),
        stateDir: Type.String({ minLength: 1, description: 'runtime state, bundles and the prepared root' }),
        pool: Type.Boolean({ description: 'keep pre-started sandboxes ready (warm pool)' }),
        poolMax: PositiveInt('most pre-started sandboxes kept'),
        compileCacheBytes: Type.Integer({ minimum: 0, description: 'compile cache size on disk; 0 disables it' }),
        compileCacheScope: Type.Union([Type.Literal('tenant'), Type.Literal('global')]),
      },
      { additionalProperties: false },
    ),
    role: Type.Union([Type.Literal('all'), Type.Literal('api'), Type.Literal('worker')], {
      description: 'all: API and worker in one process; api: HTTP only (needs redis.url); worker: runs jobs (needs redis.url)',
    }),
    runtimes: Type.Optional(
      Type.String({ pattern: '^[^,\\s]+(,[^,\\s]+)*$', description: 'comma-separated runtime names this node offers (default: all that pass their self-test)' }),
    ),
    nodeName: Type.Optional(Type.String({ minLength: 1, description: "this node's name in /v1/workers and the metrics' node label" })),
    redis: Type.Object(
      {
        url: Type.Optional(Type.String({ minLength: 1, description: 'redis://host:port[/db] or a unix socket path; none = the in-process queue' })),
        prefix: Type.String({ minLength: 1, pattern: '^[^:\\s]+$', description: 'namespace of every key and channel' }),
        lockDurationMs: PositiveInt("a job's lock; a dead worker's jobs run again elsewhere after about this"),
      },
      { additionalProperties: false },
    ),
    network: Type.Object(
      {
        upstreamDns: Type.String({ description: 'resolver the sandboxes\' DNS filter forwards to, ip[:port]; "" = the host\'s (/etc/resolv.conf)' }),
        denyCidrs: Type.Array(Type.String({ minLength: 1 }), { description: 'destinations no allowlist reaches' }),
        linkPool: Type.String({ minLength: 1, description: 'IPv4 block the sandbox links take their /30 from' }),
      },
      { additionalProperties: false },
    ),
    defaultPolicy: PolicyOverrideSchema,
    anonymousPolicy: PolicyOverrideSchema,
    tenants: Type.Record(Type.String({ minLength: 1 }), PolicyOverrideSchema),
    judge0: Type.Object(
      {
        adminTenants: Type.Array(Type.String({ minLength: 1 }), {
          description:
            'tenants whose API keys, sent as X-Auth-User, authorize the Judge0 calls that need it (GET /submissions, DELETE); empty: those calls are always 403, as in Judge0',
        }),
        callbacks: Type.Object(
          {
            enabled: Type.Boolean({ description: 'accept callback_url (false: 422 "setting callback is not allowed", as Judge0)' }),
            allowedHosts: Type.Array(Type.String({ minLength: 1 }), { description: 'host names a callback may go to; empty: any host' }),
            allowPrivate: Type.Boolean({ description: 'let callbacks reach loopback, private and link-local addresses (never by default)' }),
            timeoutMs: PositiveInt('time one delivery attempt may take'),
            maxTries: PositiveInt('attempts per callback (only network errors are retried)'),
          },
          { additionalProperties: false },
        ),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
export type PolyrunConfig = Static<typeof ConfigSchema>;

const MiB = 1024 * 1024;

/**
 * Destinations no allowlist reaches (the host's own addresses and the link pool are added at run time):
 * "this" network, loopback, RFC 1918, CGNAT, link-local (cloud metadata), multicast and reserved, and
 * their IPv6 counterparts (IPv4-mapped, ULA, link-local, multicast).
 */
export const DEFAULT_DENY_CIDRS = [
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '224.0.0.0/4',
  '240.0.0.0/4',
  '::/128',
  '::1/128',
  '::ffff:0:0/96',
  'fc00::/7',
  'fe80::/10',
  'ff00::/8',
] as const;

/** Built-in defaults: the lowest layer of the configuration. `slots` is filled from the CPU count. */
export function defaultConfig(cpuCount: number): PolyrunConfig {
  return {
    host: '127.0.0.1',
    port: 2000,
    dataDir: './data',
    auth: true,
    bodyLimitBytes: 10 * MiB,
    slots: Math.max(1, cpuCount),
    queue: { maxQueued: 256, waitTimeoutMs: 30_000 },
    results: { ttlMs: 15 * 60_000, maxEntries: 1000 },
    longPollMaxMs: 30_000,
    shutdownGraceMs: 20_000,
    logLevel: 'info',
    trustProxy: false,
    audit: { includeSource: false },
    sandbox: {
      // auto: bwrap where it works (it passes the whole suite at the lowest cost), else oci (backends/choose.ts)
      backend: 'auto',
      ociRuntime: 'auto',
      stateDir: '/run/polyrun',
      pool: true,
      poolMax: 8,
      compileCacheBytes: 256 * MiB,
      compileCacheScope: 'tenant',
    },
    role: 'all',
    redis: { prefix: 'polyrun', lockDurationMs: 30_000 },
    network: { upstreamDns: '', denyCidrs: [...DEFAULT_DENY_CIDRS], linkPool: '10.203.0.0/16' },
    defaultPolicy: {},
    anonymousPolicy: {},
    tenants: {},
    judge0: { adminTenants: [], callbacks: { enabled: true, allowedHosts: [], allowPrivate: false, timeoutMs: 5_000, maxTries: 3 } },
  };
}
