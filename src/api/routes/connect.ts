/**
 * Interactive executions over WebSocket: Piston's `GET /api/v2/connect` (Piston's messages and close codes)
 * and polyrun's own `GET /v1/connect` (the SSE events as JSON messages). Both go through the whole pipeline:
 * authentication, rate limiting and the quota lease happen on the upgrade request (an HTTP error answers it
 * when one refuses); the first message is the execute body, validated by prepareExecution like every other
 * route; the execution runs with `interactive: true`, its events go out as they happen and the client's
 * stdin and signals come in as ExecutionControl messages. A client that closes the socket cancels it.
 *
 * One place for the plumbing (`converse`: socket -> launch -> events -> close); each protocol is a small
 * table of translations (`ConnectProtocol`).
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { Type, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import { PolyrunError, errors } from '../../contract/errors.js';
import { ExecutionControlSchema, STAGE_SIGNALS, type ExecutionControl, type ExecutionEvent } from '../../contract/events.js';
import { ExecuteBodySchema, type ExecuteBody } from '../../contract/request.js';
import type { Launched } from '../../pipeline/execution.js';
import type { ExecutionResult } from '../../contract/result.js';
import { executionInput } from '../execution-route.js';
import { fieldName, httpError, prepareErrorReply, sendError } from '../errors.js';
import { PistonBodySchema, PistonErrorSchema, fromPistonRequest, pistonMessage, toPistonStage, type PistonExecuteBody } from '../piston.js';
import { ERROR_RESPONSES } from '../schemas.js';
import type { AppServices } from '../services.js';

type Outgoing = Record<string, unknown>;

/** What is used of the server side of a `ws` WebSocket (the package ships no types). */
interface ServerSocket {
  readonly readyState: number;
  readonly OPEN: number;
  send(data: string): void;
  close(code: number, reason: string): void;
  on(event: 'close', listener: () => void): void;
  on(event: 'message', listener: (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => void): void;
}

/** The last words of a conversation: messages, then a close frame. */
interface Ending {
  messages: Outgoing[];
  code: number;
  reason: string;
}

/** What one client message asks for. */
type Action =
  | { kind: 'execute'; body: unknown; raw: unknown }
  | { kind: 'control'; control: ExecutionControl }
  | { kind: 'reply'; messages: Outgoing[] }
  | { kind: 'end'; ending: Ending }
  | { kind: 'ignore' };

interface ConnectProtocol {
  /** How long the first message may take. */
  firstMessageMs: number;
  timedOut(): Ending;
  /** One client message; `initialized` once an execute message has been accepted. */
  message(data: string, initialized: boolean): Action;
  /** Sent once the body is valid, before the execution is admitted. */
  prepared(runtime: { name: string; version: string }): Outgoing[];
  event(event: ExecutionEvent): Outgoing | null;
  completed(result: ExecutionResult): Ending;
  /** The execution could not start or run (validation, queue, internal). */
  failed(error: PolyrunError, raw: unknown): Ending;
}

/** Close codes of a WebSocket: 1000 normal; 4000-4999 the application's. */
const NORMAL_CLOSURE = 1000;

/** Parse a client message as a JSON object, or null. */
function parseMessage(data: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(data);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** A TypeBox schema as a validator giving polyrun's VALIDATION_FAILED (with Fastify's defaults applied). */
function validator<T extends TSchema>(schema: T, context: string) {
  const check = TypeCompiler.Compile(schema);
  return (value: unknown): unknown => {
    const withDefaults = Value.Default(schema, Value.Clone(value));
    if (check.Check(withDefaults)) return withDefaults;
    const found = [...check.Errors(withDefaults)].slice(0, 5).map((e) => {
      const field = fieldName(context, e.path);
      return { field, message: `${field}: ${e.message.toLowerCase()}` };
    });
    throw errors.validationFailed(found.map((f) => f.message).join('; '), { errors: found });
  };
}

function withoutType(message: Record<string, unknown>): Record<string, unknown> {
  const { type: _type, ...rest } = message;
  return rest;
}

// ---------------------------------------------------------------------------------------------------------
// The plumbing shared by both protocols.

/** A run started for a conversation: its control messages in, its result out. */
interface LaunchedRun {
  control(message: ExecutionControl): void;
  done: Promise<ExecutionResult>;
}

/**
 * Starts what the first message asks for, or throws a PolyrunError. A launcher that starts the run takes
 * over the request's quota lease (sets `request.quotaLease` to null) and settles it; when it throws before
 * that, the conversation gives the lease back.
 */
type Launcher = (
  body: unknown,
  io: { signal: AbortSignal; onEvent: (event: ExecutionEvent) => void; announce: (runtime: { name: string; version: string }) => void },
) => Promise<LaunchedRun>;

/** An execution (POST /v1/execute's body), through the execution service, with stdin kept open. */
function executionLauncher(services: AppServices, request: FastifyRequest): Launcher {
  return async (body, io) => {
    const input = executionInput(services, request, body as ExecuteBody, { signal: io.signal, onEvent: io.onEvent });
    io.announce(input.prepared.runtime);
    const launched: Launched = await services.executions.launch({ ...input, interactive: true });
    request.quotaLease = null; // the execution's now: settled, or cancelled when it cannot run
    return launched;
  };
}

/**
 * One conversation. The quota lease taken on the upgrade request belongs to the request until the
 * execution service admits the execution; every other ending (timeout, bad first message, refusal, the
 * client leaving first) cancels it here, since a hijacked request never reaches the onResponse hook.
 */
function converse(protocol: ConnectProtocol, launcher: Launcher, socket: ServerSocket, request: FastifyRequest): void {
  type State = 'waiting' | 'preparing' | 'running' | 'closed';
  let state = 'waiting' as State;
  let control: ((message: ExecutionControl) => void) | null = null;
  const pending: ExecutionControl[] = [];
  const hangup = new AbortController();

  const releaseLease = () => {
    request.quotaLease?.cancel();
    request.quotaLease = null;
  };
  const send = (message: Outgoing) => {
    if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message));
  };
  /** Stop: before the execution was asked for, the lease goes back; once it runs, it is cancelled. */
  const stop = () => {
    const was = state;
    state = 'closed';
    clearTimeout(timer);
    if (was === 'waiting') releaseLease(); // 'preparing' releases it in start(), whichever way launch goes
    hangup.abort(errors.clientClosed());
  };
  const end = (ending: Ending) => {
    if (state === 'closed') return;
    stop();
    for (const m of ending.messages) send(m);
    if (socket.readyState === socket.OPEN) socket.close(ending.code, ending.reason);
  };

  const timer = setTimeout(() => {
    if (state === 'waiting') end(protocol.timedOut());
  }, protocol.firstMessageMs);

  socket.on('close', () => {
    if (state !== 'closed') stop();
  });

  const start = async (body: unknown, raw: unknown) => {
    state = 'preparing';
    clearTimeout(timer);
    let launched: LaunchedRun;
    try {
      launched = await launcher(body, {
        signal: hangup.signal,
        onEvent: (event) => {
          const message = protocol.event(event);
          if (message) send(message);
        },
        announce: (runtime) => {
          for (const m of protocol.prepared(runtime)) send(m);
        },
      });
    } catch (err) {
      releaseLease();
      end(protocol.failed(httpError(err), raw));
      return;
    }
    if ((state as State) === 'closed') return; // the client left meanwhile: the abort signal has cancelled it
    state = 'running';
    control = (message) => launched.control(message);
    for (const m of pending.splice(0)) control(m);
    launched.done.then(
      (result) => end(protocol.completed(result)),
      (err: unknown) => end(protocol.failed(httpError(err), raw)),
    );
  };

  socket.on('message', (data, isBinary) => {
    if (state === 'closed') return;
    const text = isBinary ? '' : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as Buffer).toString('utf8');
    const action = protocol.message(text, state !== 'waiting');
    switch (action.kind) {
      case 'execute':
        void start(action.body, action.raw);
        break;
      case 'control':
        if (control) control(action.control);
        else pending.push(action.control);
        break;
      case 'reply':
        for (const m of action.messages) send(m);
        break;
      case 'end':
        end(action.ending);
        break;
      case 'ignore':
        break;
    }
  });
}

/**
 * A GET route that upgrades to WebSocket (described in the OpenAPI document by its 101 answer); a plain GET
 * without the upgrade is refused with 400.
 */
export function connectRoute(
  app: FastifyInstance,
  protocol: ConnectProtocol,
  launcherFor: (request: FastifyRequest) => Launcher,
  schema: {
    url?: string;
    params?: TSchema;
    tags: string[];
    summary: string;
    description: string;
    security?: Record<string, string[]>[];
    errors: Record<string, unknown>;
    messages: string;
  },
): void {
  app.route({
    method: 'GET',
    url: schema.url ?? '/connect',
    config: { execution: true },
    schema: {
      ...(schema.params ? { params: schema.params } : {}),
      tags: schema.tags,
      summary: schema.summary,
      description: schema.description,
      ...(schema.security ? { security: schema.security } : {}),
      response: {
        101: {
          description: 'Switching Protocols: the connection is a WebSocket from here on',
          content: { 'application/json': { schema: Type.String({ description: schema.messages }) } },
        },
        ...schema.errors,
      },
    },
    // If the handshake itself fails (a bad Sec-WebSocket-Key), ws answers 400 and never calls wsHandler:
    // the lease still held when the connection closes goes back then.
    preHandler: async (request) => {
      request.raw.socket?.once('close', () => {
        request.quotaLease?.cancel();
        request.quotaLease = null;
      });
    },
    handler: async () => {
      throw errors.badRequest('this route speaks WebSocket: send a GET with "Connection: Upgrade" and "Upgrade: websocket"');
    },
    wsHandler: (socket: ServerSocket, request) => converse(protocol, launcherFor(request), socket, request),
  });
}

// ---------------------------------------------------------------------------------------------------------
// Piston: GET /api/v2/connect, exactly Piston's messages and close codes.

const PISTON_INIT_TIMEOUT_MS = 1_000;
const PISTON_CLOSE = {
  alreadyInitialized: { code: 4000, reason: 'Already Initialized' },
  initTimeout: { code: 4001, reason: 'Initialization Timeout' },
  notifiedError: { code: 4002, reason: 'Notified Error' },
  notInitialized: { code: 4003, reason: 'Not yet initialized' },
  onlyStdin: { code: 4004, reason: 'Can only write to stdin' },
  invalidSignal: { code: 4005, reason: 'Invalid signal' },
  completed: { code: 4999, reason: 'Job Completed' },
} as const;

const checkPistonBody = validator(PistonBodySchema, 'body');

function pistonEnding(close: { code: number; reason: string }, messages: Outgoing[] = []): Ending {
  return { messages, ...close };
}

function pistonError(message: string): Ending {
  return pistonEnding(PISTON_CLOSE.notifiedError, [{ type: 'error', message }]);
}

export const pistonProtocol: ConnectProtocol = {
  firstMessageMs: PISTON_INIT_TIMEOUT_MS,
  timedOut: () => pistonEnding(PISTON_CLOSE.initTimeout),
  message(data, initialized) {
    const msg = parseMessage(data);
    if (!msg) return { kind: 'end', ending: pistonError('the message is not a JSON object') };
    switch (msg.type) {
      case 'init': {
        if (initialized) return { kind: 'end', ending: pistonEnding(PISTON_CLOSE.alreadyInitialized) };
        const raw = withoutType(msg);
        try {
          const body = fromPistonRequest(checkPistonBody(raw) as PistonExecuteBody);
          return { kind: 'execute', body, raw };
        } catch (err) {
          return { kind: 'end', ending: pistonFailure(httpError(err), raw) };
        }
      }
      case 'data':
        if (!initialized) return { kind: 'end', ending: pistonEnding(PISTON_CLOSE.notInitialized) };
        if (msg.stream !== 'stdin') return { kind: 'end', ending: pistonEnding(PISTON_CLOSE.onlyStdin) };
        if (typeof msg.data !== 'string') return { kind: 'end', ending: pistonError('data is required as a string') };
        return { kind: 'control', control: { type: 'stdin', data: Buffer.from(msg.data, 'utf8').toString('base64') } };
      case 'signal':
        if (!initialized) return { kind: 'end', ending: pistonEnding(PISTON_CLOSE.notInitialized) };
        if (!(STAGE_SIGNALS as readonly unknown[]).includes(msg.signal)) return { kind: 'end', ending: pistonEnding(PISTON_CLOSE.invalidSignal) };
        return { kind: 'control', control: { type: 'signal', signal: msg.signal as (typeof STAGE_SIGNALS)[number] } };
      default:
        return { kind: 'ignore' }; // as Piston: other message types are not answered
    }
  },
  prepared: (runtime) => [{ type: 'runtime', language: runtime.name, version: runtime.version }],
  event(event) {
    switch (event.type) {
      case 'stage':
        return { type: 'stage', stage: event.stage };
      case 'stdout':
      case 'stderr':
        return { type: 'data', stream: event.type, data: event.data };
      case 'exit': {
        const { code, signal } = toPistonStage(event.result);
        return { type: 'exit', stage: event.stage, code, signal };
      }
      case 'result':
      case 'case': // judge jobs only; never on this route
        return null;
    }
  },
  completed: () => pistonEnding(PISTON_CLOSE.completed),
  failed: (error, raw) => pistonFailure(error, raw),
};

function pistonFailure(error: PolyrunError, raw: unknown): Ending {
  return pistonError(pistonMessage(error, raw as Partial<PistonExecuteBody> | undefined));
}

// ---------------------------------------------------------------------------------------------------------
// polyrun: GET /v1/connect, the SSE events as JSON messages.

const V1_FIRST_MESSAGE_MS = 10_000;
const checkExecuteBody = validator(ExecuteBodySchema, 'body');
/** Validates a body against `schema`, with polyrun's VALIDATION_FAILED naming the fields. */
export const bodyValidator = (schema: TSchema) => validator(schema, 'body');
const checkControl = validator(ExecutionControlSchema, 'message');

/** An error as a v1 message: `{"type":"error","error":{code,message,details?}}`. */
function v1Error(error: PolyrunError): Outgoing {
  return { type: 'error', ...error.toJSON() };
}

/** A conversation that ends in an error closes with 4000 + the error's HTTP status (4422, 4429, 4503...). */
function v1Failure(error: PolyrunError): Ending {
  return { messages: [v1Error(error)], code: 4000 + error.httpStatus, reason: error.code };
}

/**
 * polyrun's protocol; `first` names the first message's type and checks its body: `execute` with the
 * execute body for /v1/connect, `exec` with a session exec body for /v1/sessions/:id/connect.
 */
export function v1Protocol(
  options: { firstMessageMs?: number; first?: { type: string; check: (value: unknown) => unknown; what: string } } = {},
): ConnectProtocol {
  const firstMessageMs = options.firstMessageMs ?? V1_FIRST_MESSAGE_MS;
  const first = options.first ?? { type: 'execute', check: checkExecuteBody, what: 'the execute body' };
  return {
    firstMessageMs,
    timedOut: () => v1Failure(errors.badRequest(`no ${first.type} message within ${firstMessageMs} ms`)),
    message(data, initialized) {
      const msg = parseMessage(data);
      if (!initialized) {
        if (!msg) return { kind: 'end', ending: v1Failure(errors.invalidJson()) };
        if (msg.type !== first.type) return { kind: 'end', ending: v1Failure(errors.badRequest(`the first message must be {"type":"${first.type}", ...${first.what}}`)) };
        try {
          return { kind: 'execute', body: first.check(withoutType(msg)), raw: msg };
        } catch (err) {
          return { kind: 'end', ending: v1Failure(httpError(err)) };
        }
      }
      // Running: a bad message is answered and the execution carries on.
      if (!msg) return { kind: 'reply', messages: [v1Error(errors.invalidJson())] };
      if (msg.type === first.type) return { kind: 'reply', messages: [v1Error(errors.badRequest('this connection already runs an execution'))] };
      try {
        return { kind: 'control', control: checkControl(msg) as ExecutionControl };
      } catch (err) {
        return { kind: 'reply', messages: [v1Error(httpError(err))] };
      }
    },
    prepared: () => [],
    event: (event) => (event.type === 'result' ? null : event),
    completed: (result) => ({ messages: [{ type: 'result', result }], code: NORMAL_CLOSURE, reason: '' }),
    failed: (error) => v1Failure(error),
  };
}

// ---------------------------------------------------------------------------------------------------------
// The routes.

const security: Record<string, string[]>[] = [{ bearer: [] }, { apiKey: [] }];

export interface ConnectRoutesOptions {
  services: AppServices;
  /** The v1 first-message timeout (default 10 s; Piston's is always 1 s). */
  firstMessageMs?: number;
}

/** GET /connect under /api/v2: Piston's interactive endpoint. */
export const pistonConnectRoutes: FastifyPluginAsync<ConnectRoutesOptions> = async (app, { services }) => {
  // Refusals of the upgrade request (401, 429...) in Piston's error format.
  app.setErrorHandler((err, request, reply) => {
    const e = prepareErrorReply(err, request, reply);
    return reply.send({ message: e.message });
  });
  connectRoute(app, pistonProtocol, (request) => executionLauncher(services, request), {
    tags: ['piston'],
    summary: 'Piston-compatible interactive execution (upgrades to WebSocket)',
    description:
      'Upgrades to a WebSocket. Client: {"type":"init", ...the execute body} within 1 s, then {"type":"data","stream":"stdin","data"} ' +
      'and {"type":"signal","signal":"SIGINT"}. Server: {"type":"runtime","language","version"}, {"type":"stage","stage"}, ' +
      '{"type":"data","stream":"stdout"|"stderr","data"}, {"type":"exit","stage","code","signal"}, {"type":"error","message"}. ' +
      'Close codes: 4000 already initialized, 4001 init timeout, 4002 notified error, 4003 not initialized, ' +
      '4004 can only write to stdin, 4005 invalid signal, 4999 job completed. Output caps apply.',
    errors: { '4xx': PistonErrorSchema, '5xx': PistonErrorSchema },
    messages: 'WebSocket text messages, one JSON object each (see the description)',
  });
};

/** GET /connect under /v1: polyrun's interactive endpoint. */
export const v1ConnectRoutes: FastifyPluginAsync<ConnectRoutesOptions> = async (app, { services, firstMessageMs }) => {
  app.setErrorHandler((err, request, reply) => sendError(err, request, reply));
  connectRoute(app, v1Protocol({ firstMessageMs }), (request) => executionLauncher(services, request), {
    tags: ['v1'],
    summary: 'Interactive execution (upgrades to WebSocket)',
    description:
      'Upgrades to a WebSocket. Client: first {"type":"execute", ...the POST /v1/execute body} (within 10 s), then ' +
      '{"type":"stdin","data":"<base64>"}, {"type":"stdin_end"}, {"type":"signal","signal":"SIGINT"}. Server: the events of the ' +
      'event stream, one JSON message each ({"type":"stage"|"stdout"|"stderr"|"exit", ...}), then {"type":"result","result"} and ' +
      'close 1000; or {"type":"error","error":{code,message}} and close 4000 + its HTTP status. An invalid message during the ' +
      'run gets an error message and the run goes on. Messages are limited to the body limit.',
    security,
    errors: ERROR_RESPONSES,
    messages: 'WebSocket text messages, one JSON object each (see the description)',
  });
};
