/**
 * A real app with sessions for the session and kernel tests: its own executor (real sandboxes) and data
 * dir, tenants `default` and `other`, a session policy small enough to show its bounds, and a JSON request
 * helper.
 */
import { rmSync } from 'node:fs';
import { createExecutor, type SandboxExecutor } from '../../src/executor/executor.js';
import { makeTestApp, tempDir, type TestApp } from './app.js';

const MiB = 1024 * 1024;

export type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface SessionApp {
  executor: SandboxExecutor;
  t: TestApp;
  /** One request as tenant `tenant`: a Buffer body goes as application/octet-stream, anything else as JSON. */
  req(method: string, url: string, payload?: unknown, tenant?: string, headers?: Record<string, string>): Promise<{ status: number; json: Json; raw: Buffer; headers: Record<string, unknown>; body: string }>;
  close(): Promise<void>;
}

export async function startSessionApp(prefix: string, languages: string[], maxOpen: number): Promise<SessionApp> {
  const dataDir = tempDir(prefix);
  const executor = await createExecutor({ dataDir, languages });
  const t = await makeTestApp(executor, {
    config: {
      slots: 2,
      defaultPolicy: { rate: { perSecond: 1000, burst: 1000 }, sessions: { maxOpen, diskBytes: 16 * MiB, memoryBytes: 256 * MiB } },
    },
    tenants: ['default', 'other'],
    dataDir,
    closeExecutor: false,
  });
  return {
    executor,
    t,
    async req(method, url, payload, tenant = 'default', headers = {}) {
      const base = { ...t.auth(tenant), ...headers };
      const res = await t.app.inject({
        method: method as 'GET',
        url,
        headers: Buffer.isBuffer(payload) ? { ...base, 'content-type': 'application/octet-stream' } : base,
        ...(payload === undefined ? {} : { payload: payload as object }),
      });
      let json: Json = {};
      try {
        json = res.json() as Json;
      } catch {
        // not JSON: raw and body say what it was
      }
      return { status: res.statusCode, json, raw: res.rawPayload, headers: res.headers, body: res.body };
    },
    async close() {
      await t.cleanup();
      await executor.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
