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
}

/**
 * Every setting that can come from the environment or a flag. docs/configuration.md mirrors this table.
 * When several env vars name one setting, the later one wins (POLYRUN_PORT over PORT).
 */
export const SETTINGS: readonly Setting[] = [
  { path: 'host', kind: 'string', env: ['HOST', 'POLYRUN_HOST'], flag: 'host', description: 'address to listen on' },
  { path: 'port', kind: 'int', env: ['PORT', 'POLYRUN_PORT'], flag: 'port', description: 'TCP port' },
  { path: 'dataDir', kind: 'string', env: ['POLYRUN_DATA_DIR'], flag: 'data-dir', description: 'all state lives here' },
  { path: 'auth', kind: 'bool', env: ['POLYRUN_AUTH'], description: 'require API keys (flag: --no-auth)' },
  { path: 'keysFile', kind: 'string', env: ['POLYRUN_KEYS_FILE'], flag: 'keys-file', description: 'API key hashes' },
  { path: 'bodyLimitBytes', kind: 'int', env: ['POLYRUN_BODY_LIMIT_BYTES'], flag: 'body-limit', description: 'largest request body' },
  { path: 'slots', kind: 'int', env: ['POLYRUN_SLOTS'], flag: 'slots', description: 'executions running at once' },
  { path: 'queue.maxQueued', kind: 'int', env: ['POLYRUN_QUEUE_MAX'], flag: 'queue-max', description: 'executions waiting for a slot' },
  { path: 'queue.waitTimeoutMs', kind: 'int', env: ['POLYRUN_QUEUE_TIMEOUT_MS'], flag: 'queue-timeout-ms', description: 'longest wait for a slot' },
  { path: 'results.ttlMs', kind: 'int', env: ['POLYRUN_RESULTS_TTL_MS'], description: 'how long async results are kept' },
  { path: 'results.maxEntries', kind: 'int', env: ['POLYRUN_RESULTS_MAX'], description: 'async results kept at most' },
  { path: 'longPollMaxMs', kind: 'int', env: ['POLYRUN_LONG_POLL_MAX_MS'], description: 'ceiling of ?wait=' },
  { path: 'shutdownGraceMs', kind: 'int', env: ['POLYRUN_SHUTDOWN_GRACE_MS'], flag: 'shutdown-grace-ms', description: 'time running executions get on SIGTERM' },
  { path: 'logLevel', kind: 'string', env: ['POLYRUN_LOG_LEVEL'], flag: 'log-level', description: 'pino log level' },
  { path: 'trustProxy', kind: 'bool', env: ['POLYRUN_TRUST_PROXY'], description: 'use X-Forwarded-For for the client IP' },
  { path: 'audit.includeSource', kind: 'bool', env: ['POLYRUN_AUDIT_INCLUDE_SOURCE'], description: 'put source and output in audit lines' },
  { path: 'sandbox.ociRuntime', kind: 'string', env: ['POLYRUN_OCI_RUNTIME'], flag: 'oci-runtime', description: 'OCI runtime binary: runc, crun or runsc' },
  { path: 'sandbox.stateDir', kind: 'string', env: ['POLYRUN_STATE_DIR'], flag: 'state-dir', description: 'sandbox state (runtime state, bundles, prepared root)' },
  { path: 'sandbox.pool', kind: 'bool', env: ['POLYRUN_POOL'], description: 'keep pre-started sandboxes ready (warm pool)' },
  { path: 'sandbox.poolMax', kind: 'int', env: ['POLYRUN_POOL_MAX'], flag: 'pool-max', description: 'most pre-started sandboxes kept' },
  { path: 'sandbox.compileCacheBytes', kind: 'int', env: ['POLYRUN_COMPILE_CACHE_BYTES'], description: 'compile cache size on disk; 0 disables it' },
  { path: 'sandbox.compileCacheScope', kind: 'string', env: ['POLYRUN_COMPILE_CACHE_SCOPE'], description: 'compile cache per tenant ("tenant") or shared ("global")' },
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
  if (Value.Check(ConfigSchema, candidate)) return candidate;
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
