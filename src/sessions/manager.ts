/**
 * SessionManager: owns the sessions of one app. It starts a session's sandbox, finds a session for its
 * tenant only (another tenant's session is "not found"), counts them against the tenant's policy, and ends
 * them: on DELETE, when idle or past their lifetime (the reaper, an unref'd timer), and all at shutdown.
 * Execs do not go through the job queue: a session's sandbox is already running; the tenant's quotas
 * (concurrency, executions, CPU seconds) still apply (the route takes a quota lease per exec).
 */
import type { Tenant } from '../config/policy.js';
import { errors } from '../contract/errors.js';
import type { RequestBounds } from '../limits/limits.js';
import type { RuntimeCatalogue } from '../runtimes/catalogue.js';
import type { SandboxHost } from '../sandbox/host.js';
import { Sandbox } from '../sandbox/sandbox.js';
import type { Metrics } from '../telemetry/metrics.js';
import { reapReason, sessionSettings, type SessionCreateBody } from './requests.js';
import { Session } from './session.js';

/** What sessions need of the executor: the sandboxed one has it all (a fake executor has none). */
export interface SessionBackend {
  host: SandboxHost;
  catalogue: Pick<RuntimeCatalogue, 'manifestFor'>;
  bounds: RequestBounds;
}

export function sessionBackend(executor: unknown): SessionBackend | null {
  const e = executor as Partial<SessionBackend> | null;
  return e && typeof e === 'object' && e.host && e.catalogue && e.bounds ? (e as SessionBackend) : null;
}

export type EndReason = 'deleted' | 'idle' | 'lifetime' | 'shutdown' | 'failed';

export interface SessionManagerOptions {
  backend: SessionBackend | null;
  metrics: Metrics;
  now?: () => number;
  /** How often the reaper looks (default 1 s). */
  reapEveryMs?: number;
  log?: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

export class SessionManager {
  private readonly sessions = new Map<string, Session>();
  /** Sessions per tenant, counting those still starting. */
  private readonly counts = new Map<string, number>();
  private readonly ends = new Set<Promise<void>>();
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly o: SessionManagerOptions) {
    this.now = o.now ?? Date.now;
    this.timer = setInterval(() => this.reap(), o.reapEveryMs ?? 1_000);
    this.timer.unref();
  }

  /** Whether this polyrun can run sessions (the sandboxed executor). */
  get available(): boolean {
    return this.o.backend !== null;
  }

  get backend(): SessionBackend {
    if (!this.o.backend) throw errors.sessionsUnavailable();
    return this.o.backend;
  }

  async create(tenant: Tenant, body: SessionCreateBody): Promise<Session> {
    const backend = this.backend;
    if (this.closed) throw errors.shuttingDown();
    const settings = sessionSettings(body, tenant.policy, backend.bounds);
    const open = this.counts.get(tenant.id) ?? 0;
    if (open >= tenant.policy.sessions.maxOpen) throw errors.sessionLimit(tenant.policy.sessions.maxOpen);
    this.counts.set(tenant.id, open + 1);
    let session: Session;
    try {
      const sandbox = await Sandbox.start(backend.host, settings.shape, { profile: settings.profile });
      session = new Session(tenant.id, settings, sandbox, this.now(), (reference, error) =>
        this.o.log?.('error', 'sandbox failure', { reference, error }),
      );
    } catch (err) {
      this.uncount(tenant.id);
      this.o.log?.('error', 'sandbox failure', { check: 'session start', error: (err as Error).message });
      throw errors.internal('the session could not start its sandbox');
    }
    if (this.closed) {
      this.uncount(tenant.id);
      await session.end();
      throw errors.shuttingDown();
    }
    this.sessions.set(session.id, session);
    this.o.metrics.sessionsCreated.inc();
    this.o.metrics.sessionsOpen.set(this.sessions.size);
    return session;
  }

  /** The tenant's session, touched (a request uses it); NOT_FOUND for anyone else's or an ended one. */
  get(tenant: Tenant, id: string): Session {
    const session = this.sessions.get(id);
    if (!session || session.tenantId !== tenant.id || session.ended) throw errors.sessionNotFound(id);
    session.touch(this.now());
    return session;
  }

  /** A request used the session (an exec that ran long keeps it from looking idle right after). */
  touch(session: Session): void {
    session.touch(this.now());
  }

  /** Without touching it (GET /v1/sessions/:id does not keep a session alive). */
  peek(tenant: Tenant, id: string): Session {
    const session = this.sessions.get(id);
    if (!session || session.tenantId !== tenant.id || session.ended) throw errors.sessionNotFound(id);
    return session;
  }

  list(tenant: Tenant): Session[] {
    return [...this.sessions.values()].filter((s) => s.tenantId === tenant.id && !s.ended);
  }

  async delete(tenant: Tenant, id: string): Promise<void> {
    await this.end(this.peek(tenant, id), 'deleted');
  }

  /** End a session (idempotent); resolves once its sandbox is gone. */
  end(session: Session, reason: EndReason): Promise<void> {
    if (this.sessions.get(session.id) === session) {
      this.sessions.delete(session.id);
      this.uncount(session.tenantId);
      this.o.metrics.sessionsEnded.inc({ reason });
      this.o.metrics.sessionsOpen.set(this.sessions.size);
    }
    const ending = session.end().catch((err: Error) => this.o.log?.('error', 'session cleanup failed', { error: err.message }));
    this.ends.add(ending);
    void ending.finally(() => this.ends.delete(ending));
    return ending;
  }

  /** End the sessions that are idle past their timeout or past their lifetime. */
  reap(): void {
    const now = this.now();
    for (const session of [...this.sessions.values()]) {
      const reason = session.ended ? 'failed' : reapReason(session.timing(), now);
      if (reason) void this.end(session, reason);
    }
  }

  /** Shutdown: end every session and wait for their sandboxes to go. */
  async closeAll(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    for (const session of [...this.sessions.values()]) void this.end(session, 'shutdown');
    while (this.ends.size > 0) await Promise.all([...this.ends]);
  }

  private uncount(tenantId: string): void {
    const n = (this.counts.get(tenantId) ?? 1) - 1;
    if (n <= 0) this.counts.delete(tenantId);
    else this.counts.set(tenantId, n);
  }
}
