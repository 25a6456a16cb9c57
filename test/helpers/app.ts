/**
 * Building a test app: a fresh temporary data dir, a full configuration with test-friendly overrides,
 * optionally an API key per tenant.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach } from 'vitest';
import { buildApp, keysFilePath, type BuildAppOptions } from '../../src/api/app.js';
import { mergeLayers, validateConfig } from '../../src/config/load.js';
import { defaultConfig, type PolyrunConfig } from '../../src/config/schema.js';
import type { Executor } from '../../src/executor/types.js';
import { KeyStore } from '../../src/store/keys.js';

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

export function tempDir(prefix = 'polyrun-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function testConfig(dataDir: string, overrides: DeepPartial<PolyrunConfig> | Record<string, unknown> = {}): PolyrunConfig {
  return validateConfig(mergeLayers(defaultConfig(2), { dataDir, logLevel: 'silent' }, overrides));
}

export interface TestApp {
  app: FastifyInstance;
  config: PolyrunConfig;
  dataDir: string;
  /** tenant -> a plain API key for it */
  keys: Record<string, string>;
  auth(tenant?: string): { authorization: string };
  cleanup(): Promise<void>;
}

export async function makeTestApp(
  executor: Executor,
  opts: { config?: DeepPartial<PolyrunConfig> | Record<string, unknown>; tenants?: string[]; dataDir?: string } & Partial<
    Omit<BuildAppOptions, 'config' | 'executor'>
  > = {},
): Promise<TestApp> {
  const { config: overrides, tenants = ['default'], dataDir: givenDir, ...rest } = opts;
  const dataDir = givenDir ?? tempDir();
  const config = testConfig(dataDir, overrides);
  const keys: Record<string, string> = {};
  if (config.auth) {
    const store = new KeyStore(keysFilePath(config));
    for (const t of tenants) keys[t] = store.create(t).key;
  }
  const app = await buildApp({ config, executor, ...rest });
  let cleaned = false;
  return {
    app,
    config,
    dataDir,
    keys,
    auth: (tenant = 'default') => ({ authorization: `Bearer ${keys[tenant]}` }),
    cleanup: async () => {
      if (cleaned) return;
      cleaned = true;
      await app.close();
      if (!givenDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** `makeTestApp` for one test file: every app it makes is cleaned up after its test. */
export function appsCleanedAfterEach(): typeof makeTestApp {
  const apps: TestApp[] = [];
  afterEach(async () => {
    while (apps.length) await apps.pop()!.cleanup();
  });
  return async (...args) => {
    const t = await makeTestApp(...args);
    apps.push(t);
    return t;
  };
}

/** A v1 execute body running one file. */
export function body(content: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { language: 'python', files: [{ name: 'main.py', content }], ...extra };
}
