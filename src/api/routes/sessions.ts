/**
 * Stateful sessions (/v1/sessions): a sandbox that lives across calls. Create, list, inspect and delete
 * sessions; exec a command or a program in one (JSON, or Server-Sent Events like POST /v1/execute); put,
 * get, remove and list the files of its working dir. Auth and rate limiting apply as on every API route;
 * an exec route is an execution (`config.execution`): it takes a quota lease, settled with its CPU time.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { PolyrunError, errors } from '../../contract/errors.js';
import type { ExecutionControl, ExecutionEvent } from '../../contract/events.js';
import { StageControls } from '../../executor/stage-controls.js';
import { bodyValidator, connectRoute, v1Protocol } from './connect.js';
import type { ExecutionResult } from '../../contract/result.js';
import { decodeContent } from '../../pipeline/prepare.js';
import { cpuMsOf } from '../../telemetry/observe.js';
import type { SessionManager } from '../../sessions/manager.js';
import {
  SessionCreateBodySchema,
  SessionExecBodySchema,
  SessionFileBodySchema,
  SessionViewSchema,
  sessionPath,
  type SessionExecBody,
} from '../../sessions/requests.js';
import { hangupSignal, jsonOrEventStream, tenantOf } from '../execution-route.js';
import type { QuotaLease } from '../../pipeline/quota.js';
import { ERROR_RESPONSES, ExecutionIdParams } from '../schemas.js';
import type { AppServices } from '../services.js';
import { openEventStream, wantsEventStream } from '../sse.js';
import { ExecutionResultSchema } from '../../contract/result.js';
import { Value } from '@sinclair/typebox/value';
import { CellBodySchema, CellResultSchema, KernelViewSchema, type CellResult } from '../../kernels/contract.js';
import { planCell, planExec } from '../../sessions/planning.js';
import { tenantSessions } from '../../sessions/tenant-sessions.js';

const security: Record<string, string[]>[] = [{ bearer: [] }, { apiKey: [] }];
const tags = ['sessions'];
const SessionParams = ExecutionIdParams;
const FileParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }), '*': Type.String() });
const FileQuery = Type.Object(
  { mode: Type.Optional(Type.String({ pattern: '^[0-7]{3}$', description: 'permission bits, octal; default 644' })) },
  { additionalProperties: false },
);

export interface SessionRouteOptions {
  services: AppServices;
  sessions: SessionManager;
}

export const sessionRoutes: FastifyPluginAsyncTypebox<SessionRouteOptions> = async (app, { services, sessions }) => {
  const bounds = () => sessions.backend.bounds;
  // Raw file bodies (PUT .../files/*); JSON bodies ({content, encoding}) use the app's JSON parser.
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.post(
    '/sessions',
    {
      schema: {
        tags,
        summary: 'Start a session: a sandbox kept across calls until deleted, idle or past its lifetime',
        security,
        body: SessionCreateBodySchema,
        response: { 201: SessionViewSchema, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      if (services.executions.draining) throw errors.shuttingDown();
      const session = await sessions.create(tenantOf(request), request.body);
      return reply.code(201).header('location', `/v1/sessions/${session.id}`).send(session.view());
    },
  );

  app.get(
    '/sessions',
    { schema: { tags, summary: "This key's open sessions", security, response: { 200: Type.Array(SessionViewSchema), ...ERROR_RESPONSES } } },
    async (request) => sessions.list(tenantOf(request)).map((s) => s.view()),
  );

  app.get(
    '/sessions/:id',
    { schema: { tags, summary: 'A session', security, params: SessionParams, response: { 200: SessionViewSchema, ...ERROR_RESPONSES } } },
    async (request) => sessions.peek(tenantOf(request), request.params.id).view(),
  );

  app.delete(
    '/sessions/:id',
    {
      schema: {
        tags,
        summary: 'End a session (stops a running exec, removes its sandbox and files)',
        security,
        params: SessionParams,
        response: { 200: Type.Object({ id: Type.String(), ended: Type.Boolean() }), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      await sessions.delete(tenantOf(request), request.params.id);
      return { id: request.params.id, ended: true };
    },
  );

  app.post(
    '/sessions/:id/exec',
    {
      config: { execution: true },
      schema: {
        tags,
        summary: 'Run a command ({argv}) or a program ({language, code|files}) in the session; SSE with Accept: text/event-stream',
        description:
          'One exec at a time (409 SESSION_BUSY). Files of the working dir persist between execs. The answer is the result ' +
          'contract (language "command" for a command exec); with `Accept: text/event-stream` the same events as POST /v1/execute.',
        security,
        params: SessionParams,
        body: SessionExecBodySchema,
        response: {
          200: jsonOrEventStream(ExecutionResultSchema),
          ...ERROR_RESPONSES,
        },
      },
    },
    async (request, reply) => {
      const { session, context } = sessionCall(services, sessions, request);
      const exec = planned(services, () => planExec(context, request.body));
      const lease = takeLease(request);
      const hangup = hangupSignal(reply);
      // Settled with the exec's CPU time; an exec that never ran (lost a race for the session) is refunded.
      const settle = (result: ExecutionResult | null) => {
        sessions.touch(session);
        if (!result) return lease.cancel();
        const cpuMs = cpuMsOf(result);
        lease.settle(cpuMs);
        services.metrics.sessionExecCpuSeconds.inc(cpuMs / 1000);
      };
      if (!wantsEventStream(request)) {
        let result: ExecutionResult | null = null;
        try {
          result = await session.exec(exec, undefined, hangup);
          return result;
        } finally {
          settle(result);
        }
      }
      return streamExec(reply, (onEvent) => session.exec(exec, onEvent, hangup), settle);
    },
  );

  app.post(
    '/sessions/:id/cells',
    {
      config: { execution: true },
      schema: {
        tags,
        summary: "Run code in the session's kernel (a live Python or JavaScript interpreter whose state persists between cells)",
        description:
          'The first cell starts the kernel; variables, imports and functions persist between cells. The answer has the output, the ' +
          "last expression's value and the error with its traceback. A cell past its time or output limit is interrupted (SIGINT) and " +
          'the kernel lives on; a kernel that does not stop within 2 s, or dies, is reported (kernel.state "dead") and the next cell ' +
          'starts a fresh one (kernel.restarted). While a kernel lives, execs are refused (409 KERNEL_RUNNING); files stay reachable.',
        security,
        params: SessionParams,
        body: CellBodySchema,
        response: { 200: CellResultSchema, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const { session, context } = sessionCall(services, sessions, request);
      const { spec, limits } = planned(services, () => planCell(context, request.body));
      const lease = takeLease(request);
      const hangup = hangupSignal(reply);
      let result: CellResult | null = null;
      try {
        result = await session.runCell(spec, request.body.code, limits, Date.now(), hangup);
        return result;
      } finally {
        sessions.touch(session);
        if (!result) lease.cancel();
        else {
          lease.settle(result.cpuTimeMs);
          services.metrics.sessionExecCpuSeconds.inc(result.cpuTimeMs / 1000);
        }
      }
    },
  );

  app.get(
    '/sessions/:id/kernel',
    {
      schema: {
        tags,
        summary: "The session's live kernel (404 when none runs)",
        security,
        params: SessionParams,
        response: { 200: KernelViewSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const session = sessions.peek(tenantOf(request), request.params.id);
      const kernel = session.kernelView();
      if (!kernel) throw errors.notFound(`session ${session.id} has no live kernel`);
      return kernel;
    },
  );

  app.delete(
    '/sessions/:id/kernel',
    {
      schema: {
        tags,
        summary: "Stop the session's kernel (its state is lost; the files stay); execs may run again",
        security,
        params: SessionParams,
        response: { 200: Type.Object({ id: Type.String(), stopped: Type.Boolean({ description: 'false: no kernel was running' }) }), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const session = sessions.get(tenantOf(request), request.params.id);
      const stopped = await session.stopKernel();
      sessions.touch(session);
      return { id: session.id, stopped };
    },
  );

  connectRoute(app, v1Protocol({ first: { type: 'exec', check: bodyValidator(SessionExecBodySchema), what: 'the exec body' } }), (request) => sessionExecLauncher(services, sessions, request), {
    url: '/sessions/:id/connect',
    params: SessionParams,
    tags,
    summary: 'An interactive exec in the session (upgrades to WebSocket): stdin and signals while it runs',
    description:
      'As GET /v1/connect, with {"type":"exec", ...the POST /v1/sessions/:id/exec body} as the first message: the run stage\'s ' +
      'stdin stays open for {"type":"stdin","data":"<base64>"} until {"type":"stdin_end"}; {"type":"signal","signal":"SIGINT"} goes to ' +
      'the running stage. Events as JSON messages, then {"type":"result"} and close 1000, or {"type":"error"} and close 4000 + status ' +
      '(4409 SESSION_BUSY or KERNEL_RUNNING, 4404 for a session that is not yours).',
    security,
    errors: ERROR_RESPONSES,
    messages: 'WebSocket text messages, one JSON object each (see the description)',
  });

  app.get(
    '/sessions/:id/files',
    {
      schema: {
        tags,
        summary: 'Regular files of the working dir (relative paths; symlinks neither listed nor followed)',
        security,
        params: SessionParams,
        response: { 200: Type.Object({ files: Type.Array(Type.String()) }), ...ERROR_RESPONSES },
      },
    },
    async (request) => ({ files: (await sessions.get(tenantOf(request), request.params.id).listFiles()).sort() }),
  );

  app.get(
    '/sessions/:id/files/*',
    {
      schema: {
        tags,
        summary: 'A file of the working dir, as raw bytes (a symlink is never followed)',
        security,
        params: FileParams,
        response: {
          200: { description: 'the file', content: { 'application/octet-stream': { schema: Type.String({ format: 'binary' }) } } },
          ...ERROR_RESPONSES,
        },
      },
    },
    async (request, reply) => {
      const session = sessions.get(tenantOf(request), request.params.id);
      const path = sessionPath(request.params['*'], bounds());
      const file = await session.getFile(path);
      if (!file) throw errors.notFound(`no regular file ${path} in session ${session.id}`);
      return reply.type('application/octet-stream').header('x-file-mode', file.mode.toString(8)).send(file.content as never);
    },
  );

  app.put(
    '/sessions/:id/files/*',
    {
      schema: {
        tags,
        summary: 'Write a file (replacing one of that name): raw bytes (application/octet-stream) or JSON {content, encoding}',
        security,
        params: FileParams,
        querystring: FileQuery,
        response: { 200: Type.Object({ path: Type.String(), bytes: Type.Integer() }), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const path = sessionPath(request.params['*'], bounds());
      const content = fileContent(request.body);
      await tenantSessions(sessions, tenantOf(request), services.executor).putFile(request.params.id, path, content, parseInt(request.query.mode ?? '644', 8));
      return { path, bytes: content.length };
    },
  );

  app.delete(
    '/sessions/:id/files/*',
    {
      schema: {
        tags,
        summary: 'Remove a file (or an empty directory) of the working dir',
        security,
        params: FileParams,
        response: { 200: Type.Object({ path: Type.String(), deleted: Type.Boolean() }), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const session = sessions.get(tenantOf(request), request.params.id);
      const path = sessionPath(request.params['*'], bounds());
      const problem = await session.deleteFile(path);
      if (problem !== null) throw errors.notFound(`cannot remove ${path}: ${problem}`);
      return { path, deleted: true };
    },
  );
};

/** A PUT body: raw bytes, or JSON {content, encoding}. */
function fileContent(body: unknown): Buffer {
  if (Buffer.isBuffer(body)) return body;
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (!Value.Check(SessionFileBodySchema, body)) {
    throw errors.validationFailed('the body must be raw bytes (application/octet-stream) or JSON {"content": string, "encoding"?: "utf8"|"base64"|"hex"}');
  }
  return decodeContent(body.content, body.encoding ?? 'utf8', 'content');
}

/** A session exec for a WebSocket conversation: interactive stdin and signals, charged like POST .../exec. */
function sessionExecLauncher(services: AppServices, sessions: SessionManager, request: FastifyRequest) {
  return async (body: unknown, io: { signal: AbortSignal; onEvent: (e: ExecutionEvent) => void }) => {
    const { session, context } = sessionCall(services, sessions, request);
    const exec = planned(services, () => planExec(context, body as SessionExecBody));
    const lease = takeLease(request);
    const controls = new StageControls(sessions.backend.bounds.maxStdinBytes);
    const done = session.exec(exec, io.onEvent, io.signal, controls).then(
      (result) => {
        sessions.touch(session);
        lease.settle(cpuMsOf(result));
        services.metrics.sessionExecCpuSeconds.inc(cpuMsOf(result) / 1000);
        return result;
      },
      (err: unknown) => {
        lease.cancel();
        throw err;
      },
    );
    return { control: (message: ExecutionControl) => controls.handle(message), done };
  };
}

/** The session a request names (its tenant's, not busy) and the context its exec or cell is planned in. */
function sessionCall(services: AppServices, sessions: SessionManager, request: FastifyRequest) {
  const tenant = tenantOf(request);
  const session = sessions.get(tenant, (request.params as { id: string }).id);
  if (session.busy) throw errors.sessionBusy(session.id);
  return { session, context: { tenant, session, runtimes: services.executor, backend: sessions.backend } };
}

/** The quota lease taken for this execution route: the route settles (or cancels) it from here on. */
function takeLease(request: FastifyRequest): QuotaLease {
  const lease = request.quotaLease;
  if (!lease) throw errors.internal(`${request.routeOptions.url} runs without a quota lease`);
  request.quotaLease = null;
  return lease;
}

/** Plan a request with the session's context; a refusal counts in the validation-failure metric. */
function planned<T>(services: AppServices, plan: () => T): T {
  try {
    return plan();
  } catch (err) {
    if (err instanceof PolyrunError) services.metrics.validationFailures.inc({ code: err.code });
    throw err;
  }
}

/** Answer with Server-Sent Events: the exec's events as they happen, then `result` or `error`. */
function streamExec(
  reply: FastifyReply,
  run: (onEvent: (e: ExecutionEvent) => void) => Promise<ExecutionResult>,
  settle: (result: ExecutionResult | null) => void,
): FastifyReply {
  const events = openEventStream(reply);
  events.finish(run(events.send), settle);
  return reply;
}
