/**
 * One tenant's view of the sessions, as calls rather than routes: what the MCP session tools use (both
 * transports). Validation is planning.ts's; each exec and cell may be charged to a quota (`admit`, the HTTP
 * service's QuotaGuard: concurrency while it runs, its CPU time after); `polyrun mcp` on stdio has none.
 */
import type { Tenant } from '../config/policy.js';
import { PolyrunError, errors } from '../contract/errors.js';
import type { ExecutionResult } from '../contract/result.js';
import type { CellBody, CellResult } from '../kernels/contract.js';
import type { RuntimeLookup } from '../runtimes/catalogue.js';
import { cpuMsOf } from '../telemetry/observe.js';
import type { SessionManager } from './manager.js';
import { planCell, planExec } from './planning.js';
import { sessionPath, type SessionCreateBody, type SessionExecBody, type SessionView } from './requests.js';
import type { Session } from './session.js';

export interface ChargeLease {
  settle(cpuMs: number): void;
  cancel(): void;
}

export interface TenantSessions {
  create(body: SessionCreateBody): Promise<SessionView>;
  list(): SessionView[];
  exec(id: string, body: SessionExecBody, signal: AbortSignal): Promise<ExecutionResult>;
  cell(id: string, body: CellBody, signal: AbortSignal): Promise<CellResult>;
  putFile(id: string, path: string, content: Buffer, mode?: number): Promise<void>;
  getFile(id: string, path: string): Promise<Buffer>;
  listFiles(id: string): Promise<string[]>;
  close(id: string): Promise<void>;
}

export function tenantSessions(
  manager: SessionManager,
  tenant: Tenant,
  runtimes: RuntimeLookup,
  admit: () => ChargeLease | Promise<ChargeLease> = () => ({ settle: () => undefined, cancel: () => undefined }),
): TenantSessions {
  const context = (session: Session) => ({ tenant, session, runtimes, backend: manager.backend });
  /** Run `work` under a lease settled with its CPU time (refunded when it did not run). */
  async function charged<T>(session: Session, work: () => Promise<T>, cpuMs: (r: T) => number): Promise<T> {
    if (session.busy) throw errors.sessionBusy(session.id);
    const lease = await admit();
    let result: { value: T } | null = null;
    try {
      result = { value: await work() };
      return result.value;
    } finally {
      manager.touch(session);
      if (result) lease.settle(cpuMs(result.value));
      else lease.cancel();
    }
  }
  const path = (p: string) => sessionPath(p, manager.backend.bounds);
  return {
    create: async (body) => (await manager.create(tenant, body)).view(),
    list: () => manager.list(tenant).map((s) => s.view()),
    exec: (id, body, signal) => {
      const session = manager.get(tenant, id);
      const exec = planExec(context(session), body);
      return charged(session, () => session.exec(exec, undefined, signal), cpuMsOf);
    },
    cell: (id, body, signal) => {
      const session = manager.get(tenant, id);
      const { spec, limits } = planCell(context(session), body);
      return charged(session, () => session.runCell(spec, body.code, limits, Date.now(), signal), (r) => r.cpuTimeMs);
    },
    putFile: async (id, p, content, mode = 0o644) => {
      const max = manager.backend.bounds.maxSourceBytes;
      if (content.length > max) throw errors.sourceTooLarge(content.length, max);
      const name = path(p);
      await manager
        .get(tenant, id)
        .putFile(name, content, mode)
        .catch((err: unknown) => {
          if (err instanceof PolyrunError) throw err;
          throw errors.validationFailed(`cannot write ${name}: ${(err as Error).message.replace(/^could not write [^:]*: /, '')}`);
        });
    },
    getFile: async (id, p) => {
      const name = path(p);
      const file = await manager.get(tenant, id).getFile(name);
      if (!file) throw errors.notFound(`no regular file ${name} in session ${id}`);
      return file.content;
    },
    listFiles: async (id) => (await manager.get(tenant, id).listFiles()).sort(),
    close: (id) => manager.delete(tenant, id),
  };
}
