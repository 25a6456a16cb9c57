/**
 * Loading the configuration: built-in defaults < config file (YAML or JSON) < environment < CLI flags.
 * The merging and parsing functions are pure; `loadConfig` is the only one that touches the disk.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { Value } from '@sinclair/typebox/value';
import { parse as parseYaml } from 'yaml';
import { ConfigSchema, defaultConfig, type PolyrunConfig } from './schema.js';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Kind = 'string' | 'int' | 'bool';

interface Setting {
  /** Dotted path in the config object. */
  path: string;
  kind: Kind;
  env: string[];
  flag?: string;
  description: string;
  /** How the docs show the default when the value itself would not tell (computed or derived ones). */
  defaultText?: string;
}

/**
 * Every setting that can come from the environment or a flag. The settings tables of README.md and
 * docs/configuration.md are generated from it (`npm run docs`; a unit test checks they are current).
 * When several env vars name one setting, the later one wins (POLYRUN_PORT over PORT).
 */
export const SETTINGS: readonly Setting[] = [
  { path: 'host', kind: 'string', env: ['HOST', 'POLYRUN_HOST'], flag: 'host', description: 'address to listen on' },
  { path: 'port', kind: 'int', env: ['PORT', 'POLYRUN_PORT'], flag: 'port', description: 'TCP port' },
  { path: 'dataDir', kind: 'string', env: ['POLYRUN_DATA_DIR'], flag: 'data-dir', description: 'all state lives here: keys, usage, async results, caches' },
  { path: 'auth', kind: 'bool', env: ['POLYRUN_AUTH'], description: 'require API keys (flag: --no-auth); false for a local single-user setup' },
  { path: 'keysFile', kind: 'string', env: ['POLYRUN_KEYS_FILE'], flag: 'keys-file', description: 'API key hashes and their tenants', defaultText: 'DATA_DIR/keys.json' },
  { path: 'bodyLimitBytes', kind: 'int', env: ['POLYRUN_BODY_LIMIT_BYTES'], flag: 'body-limit', description: 'largest request body (413 above)' },
  { path: 'slots', kind: 'int', env: ['POLYRUN_SLOTS'], flag: 'slots', description: 'executions running at once', defaultText: 'number of CPUs' },
  { path: 'queue.maxQueued', kind: 'int', env: ['POLYRUN_QUEUE_MAX'], flag: 'queue-max', description: 'executions waiting for a slot (503 QUEUE_FULL above)' },
  { path: 'queue.waitTimeoutMs', kind: 'int', env: ['POLYRUN_QUEUE_TIMEOUT_MS'], flag: 'queue-timeout-ms', description: 'longest wait for a slot (503 QUEUE_TIMEOUT)' },
  { path: 'results.ttlMs', kind: 'int', env: ['POLYRUN_RESULTS_TTL_MS'], description: 'how long results of async executions are kept' },
  { path: 'results.maxEntries', kind: 'int', env: ['POLYRUN_RESULTS_MAX'], description: 'async results kept at most (oldest dropped first)' },
  { path: 'longPollMaxMs', kind: 'int', env: ['POLYRUN_LONG_POLL_MAX_MS'], description: 'ceiling of GET /v1/executions/:id?wait=MS' },
  { path: 'shutdownGraceMs', kind: 'int', env: ['POLYRUN_SHUTDOWN_GRACE_MS'], flag: 'shutdown-grace-ms', description: 'on SIGTERM/SIGINT, time running executions get before they are cancelled' },
  { path: 'logLevel', kind: 'string', env: ['POLYRUN_LOG_LEVEL'], flag: 'log-level', description: 'pino log level: fatal error warn info debug trace silent' },
  { path: 'trustProxy', kind: 'bool', env: ['POLYRUN_TRUST_PROXY'], description: 'take the client IP from X-Forwarded-For (behind a reverse proxy)' },
  { path: 'audit.includeSource', kind: 'bool', env: ['POLYRUN_AUDIT_INCLUDE_SOURCE'], description: 'put source files, stdout and stderr in the audit log lines' },
  { path: 'sandbox.backend', kind: 'string', env: ['POLYRUN_SANDBOX_BACKEND'], flag: 'sandbox-backend', description: 'what starts sandboxes: auto (the cheapest backend that works on this host), oci, bwrap or gvisor' },
  { path: 'sandbox.ociRuntime', kind: 'string', env: ['POLYRUN_OCI_RUNTIME'], flag: 'oci-runtime', description: 'OCI runtime of the oci backend: runc, crun, or auto (crun where it works, else runc)' },
  { path: 'sandbox.stateDir', kind: 'string', env: ['POLYRUN_STATE_DIR'], flag: 'state-dir', description: 'runtime state, bundles and the prepared read-only root' },
  { path: 'sandbox.pool', kind: 'bool', env: ['POLYRUN_POOL'], description: 'keep pre-started sandboxes ready (warm pool); each is still used once' },
  { path: 'sandbox.poolMax', kind: 'int', env: ['POLYRUN_POOL_MAX'], flag: 'pool-max', description: 'most pre-started sandboxes kept (the pool starts at slots and adapts)' },
  { path: 'sandbox.compileCacheBytes', kind: 'int', env: ['POLYRUN_COMPILE_CACHE_BYTES'], description: 'compile cache size in DATA_DIR/compile-cache (LRU); 0 disables it' },
  { path: 'role', kind: 'string', env: ['POLYRUN_ROLE'], flag: 'role', description: 'all (API + worker), api (HTTP only) or worker (runs jobs); api and worker need redis.url' },
  { path: 'runtimes', kind: 'string', env: ['POLYRUN_RUNTIMES'], flag: 'runtimes', description: 'comma-separated runtime names this node offers, e.g. python,bash (a worker pool per toolchain)', defaultText: 'all that pass their self-test' },
  { path: 'nodeName', kind: 'string', env: ['POLYRUN_NODE_NAME'], flag: 'node-name', description: "this node's name in GET /v1/workers and the metrics' node label", defaultText: 'host name' },
  { path: 'redis.url', kind: 'string', env: ['POLYRUN_REDIS_URL'], flag: 'redis-url', description: 'Redis for a multi-node cluster (redis://host:port or a socket path); unset = in-process queue', defaultText: '(none)' },
  { path: 'redis.prefix', kind: 'string', env: ['POLYRUN_REDIS_PREFIX'], description: 'namespace of every Redis key and channel (several clusters can share one Redis)' },
  { path: 'redis.lockDurationMs', kind: 'int', env: ['POLYRUN_REDIS_LOCK_MS'], description: "a job's lock in Redis: a dead worker's jobs run again elsewhere after about this (at-least-once)" },
  { path: 'sandbox.compileCacheScope', kind: 'string', env: ['POLYRUN_COMPILE_CACHE_SCOPE'], description: 'tenant: one compile cache per tenant; global: shared by all tenants' },
  { path: 'network.upstreamDns', kind: 'string', env: ['POLYRUN_DNS_UPSTREAM'], description: "resolver the sandboxes' DNS filter forwards allowed names to, ip[:port]", defaultText: "the host's (/etc/resolv.conf)" },
  { path: 'network.linkPool', kind: 'string', env: ['POLYRUN_NETWORK_LINK_POOL'], description: 'IPv4 block the networked sandboxes take their /30 links from' },
];

function convert(kind: Kind, raw: string, origin: string): string | number | boolean {
  if (kind === 'string') return raw;
  if (kind === 'int') {
    if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(`${origin} must be an integer (got "${raw}")`);
    return Number(raw);
  }
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(`${origin} must be true or false (got "${raw}")`);
}

type Json = Record<string, unknown>;

function setPath(target: Json, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    if (typeof node[part] !== 'object' || node[part] === null) node[part] = {};
    node = node[part] as Json;
  }
  node[parts[parts.length - 1]!] = value;
}

/** The layer the environment contributes. */
export function configFromEnv(env: NodeJS.ProcessEnv): Json {
  const out: Json = {};
  for (const s of SETTINGS) {
    for (const name of s.env) {
      const raw = env[name];
      if (raw !== undefined && raw !== '') setPath(out, s.path, convert(s.kind, raw, name));
    }
  }
  return out;
}

export interface ParsedFlags {
  layer: Json;
  configPath?: string;
}

/** The layer the command line contributes, plus `--config`. Unknown flags are an error. */
export function configFromFlags(argv: string[]): ParsedFlags {
  const options: Record<string, { type: 'string' | 'boolean' }> = { config: { type: 'string' }, 'no-auth': { type: 'boolean' } };
  for (const s of SETTINGS) if (s.flag) options[s.flag] = { type: 'string' };
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as typeof values;
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const layer: Json = {};
  for (const s of SETTINGS) {
    const raw = s.flag ? values[s.flag] : undefined;
    if (typeof raw === 'string') setPath(layer, s.path, convert(s.kind, raw, `--${s.flag}`));
  }
  if (values['no-auth']) layer.auth = false;
  const configPath = typeof values.config === 'string' ? values.config : undefined;
  return configPath === undefined ? { layer } : { layer, configPath };
}

function isPlainObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge of plain objects; arrays and scalars of later layers replace earlier ones. */
export function mergeLayers(...layers: unknown[]): Json {
  const out: Json = {};
  for (const layer of layers) {
    if (!isPlainObject(layer)) continue;
    for (const [key, value] of Object.entries(layer)) {
      out[key] = isPlainObject(value) && isPlainObject(out[key]) ? mergeLayers(out[key], value) : value;
    }
  }
  return out;
}

/** Check a merged configuration; every problem is listed with its path. */
export function validateConfig(candidate: unknown): PolyrunConfig {
  if (Value.Check(ConfigSchema, candidate)) {
    // Separate API and worker processes only meet through Redis.
    if (candidate.role !== 'all' && !candidate.redis.url) {
      throw new ConfigError(`invalid configuration:\n  /role: "${candidate.role}" needs redis.url (POLYRUN_REDIS_URL, --redis-url)`);
    }
    return candidate;
  }
  const problems = [...Value.Errors(ConfigSchema, candidate)]
    .slice(0, 10)
    .map((e) => `  ${e.path || '/'}: ${e.message}${e.value === undefined ? '' : ` (got ${JSON.stringify(e.value)})`}`);
  throw new ConfigError(`invalid configuration:\n${problems.join('\n')}`);
}

export function parseConfigText(text: string, origin: string): Json {
  let parsed: unknown;
  try {
    parsed = parseYaml(text); // YAML is a superset of JSON, so one parser reads both
  } catch (err) {
    throw new ConfigError(`${origin}: ${(err as Error).message}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (!isPlainObject(parsed)) throw new ConfigError(`${origin}: the top level must be a mapping`);
  return parsed;
}

export interface LoadedConfig {
  config: PolyrunConfig;
  /** The file read, if any. */
  source?: string;
}

/**
 * The configuration of a command that takes only `--config FILE` of the service's flags (run, doctor,
 * runtimes): the same layers, so the sandbox settings are the service's.
 */
export function loadConfigFile(configPath: string | undefined, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  return loadConfig(configPath === undefined ? [] : ['--config', configPath], env);
}

/** Read and validate the configuration for `polyrun serve` (and `polyrun keys`). */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const flags = configFromFlags(argv);
  const path = flags.configPath ?? (env.POLYRUN_CONFIG || undefined);
  let fileLayer: Json = {};
  if (path) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    fileLayer = parseConfigText(text, path);
  }
  const merged = mergeLayers(defaultConfig(os.cpus().length), fileLayer, configFromEnv(env), flags.layer);
  const config = validateConfig(merged);
  return path ? { config, source: path } : { config };
}
