/**
 * What every execution route does between the pipeline's hooks and the execution service: validation
 * (prepareExecution, counted in metrics), handing the quota lease over, cancelling when the client goes
 * away, and answering as JSON or as a stream of Server-Sent Events.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { PolyrunError, errors } from '../contract/errors.js';
import type { ExecutionEvent } from '../contract/events.js';
import type { ExecuteBody } from '../contract/request.js';
import type { Tenant } from '../config/policy.js';
import type { ExecutionInput, IdentifiedResult, Launched } from '../pipeline/execution.js';
import { prepareExecution, type PreparedExecution } from '../pipeline/prepare.js';
import { Type, type TSchema } from '@sinclair/typebox';
import { EVENT_STREAM_DESCRIPTION } from './schemas.js';
import type { AppServices } from './services.js';
import { openEventStream } from './sse.js';

export function tenantOf(request: FastifyRequest): Tenant {
  if (!request.tenant) throw errors.unauthorized();
  return request.tenant;
}

/** Validation stage for any transport: the body becomes a prepared execution, or a 4xx counted in metrics. */
export function prepareForTenant(services: AppServices, tenant: Tenant, body: ExecuteBody): PreparedExecution {
  try {
    return prepareExecution(body, { runtimes: services.executor, policy: tenant.policy });
  } catch (err) {
    if (err instanceof PolyrunError) services.metrics.validationFailures.inc({ code: err.code });
    throw err;
  }
}

/** The 200 answer of a route that answers JSON, or its events with `Accept: text/event-stream`. */
export function jsonOrEventStream(schema: TSchema) {
  return {
    description: 'the result (JSON), or its events (text/event-stream)',
    content: {
      'application/json': { schema },
      'text/event-stream': { schema: Type.String({ description: EVENT_STREAM_DESCRIPTION }) },
    },
  };
}

/** Validation stage of an HTTP execution route; the quota hook's lease goes with it. */
export function executionInput(
  services: AppServices,
  request: FastifyRequest,
  body: ExecuteBody,
  extra: Pick<ExecutionInput, 'signal' | 'onEvent'> = {},
): ExecutionInput {
  const tenant = tenantOf(request);
  const prepared = prepareForTenant(services, tenant, body);
  const lease = request.quotaLease;
  if (!lease) throw errors.internal('execution route without a quota lease');
  return { tenant, prepared, lease, log: request.log, ...extra };
}

/** Aborted when the client hangs up before the answer is complete: no sandbox works for nobody. */
export function hangupSignal(reply: FastifyReply): AbortSignal {
  const hangup = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) hangup.abort(errors.clientClosed());
  });
  return hangup.signal;
}

/** Admit the execution; from then on the quota lease belongs to it. */
async function launch(services: AppServices, request: FastifyRequest, input: ExecutionInput): Promise<Launched> {
  const launched = await services.executions.launch(input);
  request.quotaLease = null;
  return launched;
}

/** Run and answer with the result (the route serialises it). */
export async function runForRequest(
  services: AppServices,
  request: FastifyRequest,
  reply: FastifyReply,
  body: ExecuteBody,
): Promise<IdentifiedResult> {
  const input = executionInput(services, request, body, { signal: hangupSignal(reply) });
  return (await launch(services, request, input)).done;
}

/**
 * Run and answer with Server-Sent Events: `stage`, `stdout`, `stderr`, `exit` as they happen, then `result`
 * (the same object the JSON answer has) or `error`. Errors before the execution starts (validation,
 * quota, a full queue, a queue timeout) are answered as plain JSON errors like any other request.
 */
export async function streamForRequest(
  services: AppServices,
  request: FastifyRequest,
  reply: FastifyReply,
  body: ExecuteBody,
): Promise<FastifyReply> {
  const early: ExecutionEvent[] = [];
  let send: (event: ExecutionEvent) => void = (event) => void early.push(event);
  const input = executionInput(services, request, body, { signal: hangupSignal(reply), onEvent: (e) => send(e) });
  const launched = await launch(services, request, input);
  await launched.started;

  const events = openEventStream(reply);
  send = events.send;
  for (const event of early.splice(0)) send(event);
  events.finish(launched.done);
  return reply;
}
