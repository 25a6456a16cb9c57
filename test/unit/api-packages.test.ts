/**
 * Piston's package endpoints (src/api/routes/packages.ts): listing for any key; installing and removing only
 * for an admin key, 403 for anyone else. No apt-get runs here: the runtime an admin installs is one whose
 * packages are present (bash), which only reloads the runtimes; removing a core runtime is refused.
 */
import { describe, expect, test } from 'vitest';
import { keysFilePath } from '../../src/api/app.js';
import { KeyStore } from '../../src/store/keys.js';
import { appsCleanedAfterEach } from '../helpers/app.js';
import { FakeExecutor } from '../helpers/fake-executor.js';

const makeApp = appsCleanedAfterEach();

async function setup() {
  const executor = new FakeExecutor();
  let reloads = 0;
  Object.assign(executor, { reloadRuntimes: async () => (reloads++, { added: [], removed: [], mounts: [], unavailable: [] }) });
  const t = await makeApp(executor, { tenants: ['default'] });
  const admin = new KeyStore(keysFilePath(t.config)).create('ops', { admin: true }).key;
  return { t, admin: { authorization: `Bearer ${admin}` }, reloads: () => reloads };
}

describe('/api/v2/packages', () => {
  test('GET lists every runtime polyrun knows, Piston-shaped, for any key', async () => {
    const { t } = await setup();
    const r = await t.app.inject({ method: 'GET', url: '/api/v2/packages', headers: t.auth() });
    expect(r.statusCode).toBe(200);
    const list = r.json() as { language: string; language_version: string; installed: boolean; runtime?: string }[];
    expect(list.find((p) => p.language === 'bash')).toMatchObject({ installed: true, language_version: expect.stringMatching(/^\d+\.\d+/) });
    expect(list.find((p) => p.runtime === 'pypy')).toMatchObject({ language: 'python' });
    expect(list.length).toBeGreaterThanOrEqual(60);
    expect((await t.app.inject({ method: 'GET', url: '/api/v2/packages' })).statusCode).toBe(401);
  }, 30_000);

  test('POST and DELETE: 403 for a key that is not an admin\'s, before anything is installed', async () => {
    const { t, reloads } = await setup();
    for (const method of ['POST', 'DELETE'] as const) {
      const r = await t.app.inject({ method, url: '/api/v2/packages', headers: t.auth(), payload: { language: 'kotlin', version: '*' } });
      expect(r.statusCode).toBe(403);
      expect(r.json()).toEqual({ message: expect.stringMatching(/admin API key/) });
    }
    expect(reloads()).toBe(0);
  });

  test('an admin: an installed runtime is not installed again, an unknown one is 404, a core one is not removed', async () => {
    const { t, admin, reloads } = await setup();
    const installed = await t.app.inject({ method: 'POST', url: '/api/v2/packages', headers: admin, payload: { language: 'bash' } });
    // bash is installed already, so Piston's "already installed" answer.
    expect(installed.statusCode).toBe(400);
    expect(installed.json()).toEqual({ message: 'bash is already installed' });
    const unknown = await t.app.inject({ method: 'POST', url: '/api/v2/packages', headers: admin, payload: { language: 'intercal' } });
    expect(unknown.statusCode).toBe(404);
    const core = await t.app.inject({ method: 'DELETE', url: '/api/v2/packages', headers: admin, payload: { language: 'python' } });
    expect(core.statusCode).toBe(400);
    expect(core.json()).toEqual({ message: 'python is a core runtime and stays' });
    expect(reloads()).toBe(0);
  }, 30_000);
});

describe('runtime lists with several runtimes of a language', () => {
  test('/api/v2/runtimes names an alternative implementation as Piston does; /v1/runtimes gives each its language', async () => {
    const base = new FakeExecutor().runtimes()[0]!;
    const executor = new FakeExecutor([
      { ...base, name: 'python', language: 'python', version: '3.11.2', aliases: ['py'] },
      { ...base, name: 'pypy', language: 'python', version: '7.3.11', aliases: ['pypy3'] },
    ]);
    const t = await makeApp(executor);
    const piston = await t.app.inject({ method: 'GET', url: '/api/v2/runtimes', headers: t.auth() });
    expect(piston.json()).toEqual([
      { language: 'python', version: '3.11.2', aliases: ['py'] },
      { language: 'python', version: '7.3.11', aliases: ['pypy', 'pypy3'], runtime: 'pypy' },
    ]);
    const v1 = await t.app.inject({ method: 'GET', url: '/v1/runtimes', headers: t.auth() });
    expect((v1.json() as { name: string; language: string }[]).map((r) => [r.name, r.language])).toEqual([
      ['python', 'python'],
      ['pypy', 'python'],
    ]);
  });
});
