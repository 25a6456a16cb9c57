/**
 * The pure parts of the cluster: runtime lookup over the workers' catalogues, queue names, the role/redis
 * setting check, the worker view. The parts that talk to Redis are tested against a real server in test/redis/.
 */
import { describe, expect, it } from 'vitest';
import { findInfo, unionOfCatalogues } from '../../src/cluster/remote-executor.js';
import { toView } from '../../src/cluster/workers-route.js';
import { ConfigError, configFromEnv, loadConfig } from '../../src/config/load.js';
import type { RuntimeInfo } from '../../src/executor/types.js';
import { names, runtimeOfQueue, runtimeQueueName } from '../../src/queue/redis-names.js';
import { DEFAULT_LIMITS } from '../../src/limits/limits.js';

const info = (name: string, version: string, aliases: string[] = [], extensions: string[] = []): RuntimeInfo => ({
  language: name,
  name,
  version,
  aliases,
  extensions,
  compiled: false,
  limits: { defaults: DEFAULT_LIMITS, maximum: DEFAULT_LIMITS },
});

describe('an API node’s view of the workers’ runtimes', () => {
  const python311 = info('python', '3.11.2', ['py', 'python3'], ['.py']);
  const python312 = info('python', '3.12.1', ['py', 'python3'], ['.py']);
  const bash = info('bash', '5.2.15', ['sh'], ['.sh']);

  it('is the union of the live workers’ catalogues, one entry per name and version', () => {
    expect(unionOfCatalogues([[python311, bash], [bash], [python312]])).toEqual([bash, python311, python312]);
    expect(unionOfCatalogues([])).toEqual([]);
  });

  it('finds by name, alias or extension, and by version selector', () => {
    const all = [bash, python311, python312];
    expect(findInfo(all, 'PYTHON')).toBe(python311);
    expect(findInfo(all, 'py', '3.12')).toBe(python312);
    expect(findInfo(all, 'python3', '3.12.x')).toBe(python312);
    expect(findInfo(all, '.sh')).toBe(bash);
    expect(findInfo(all, 'sh')).toBe(bash); // an alias wins over an extension
    expect(findInfo(all, 'python', '2')).toBeUndefined();
    expect(findInfo(all, 'kotlin')).toBeUndefined();
    expect(findInfo(all, '  ')).toBeUndefined();
  });
});

describe('Redis names', () => {
  it('one BullMQ queue per runtime, named without ":" and reversible', () => {
    for (const runtime of ['python', 'c++', 'c#', 'odd:name', 'ünï']) {
      const q = runtimeQueueName(runtime);
      expect(q).not.toContain(':');
      expect(runtimeOfQueue(q)).toBe(runtime);
    }
  });

  it('every key and channel lives under the prefix', () => {
    const n = names('p1');
    for (const key of [n.runtimes, n.workers, n.catalogues, n.wake, n.events('j'), n.control('j'), n.job('j')]) {
      expect(key.startsWith('p1:')).toBe(true);
    }
    expect(n.events('abc').slice(n.eventsPrefix.length)).toBe('abc');
  });
});

describe('cluster settings', () => {
  it('default: role all, no Redis (the in-process queue)', () => {
    const { config } = loadConfig([], {});
    expect(config.role).toBe('all');
    expect(config.redis.url).toBeUndefined();
  });

  it('api and worker roles need redis.url', () => {
    expect(() => loadConfig(['--role', 'api'], {})).toThrow(ConfigError);
    expect(() => loadConfig(['--role', 'worker'], {})).toThrow(/needs redis\.url/);
    const { config } = loadConfig(['--role', 'worker', '--redis-url', 'redis://127.0.0.1:6379', '--runtimes', 'python,bash'], {});
    expect(config).toMatchObject({ role: 'worker', redis: { url: 'redis://127.0.0.1:6379', prefix: 'polyrun' }, runtimes: 'python,bash' });
    expect(() => loadConfig(['--role', 'boss'], {})).toThrow(ConfigError);
  });

  it('come from the environment too', () => {
    expect(configFromEnv({ POLYRUN_REDIS_URL: '/run/redis.sock', POLYRUN_ROLE: 'api', POLYRUN_REDIS_LOCK_MS: '5000', POLYRUN_NODE_NAME: 'n1' })).toEqual({
      redis: { url: '/run/redis.sock', lockDurationMs: 5000 },
      role: 'api',
      nodeName: 'n1',
    });
  });
});

it('a worker record is shown with ISO times', () => {
  expect(
    toView({ id: 'w', host: 'h', pid: 1, runtimes: ['*'], slots: 2, busy: 0, completed: 3, failed: 0, startedAt: 0, lastSeen: 1_000 }),
  ).toMatchObject({ startedAt: '1970-01-01T00:00:00.000Z', lastSeen: '1970-01-01T00:00:01.000Z' });
});
