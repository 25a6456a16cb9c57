/**
 * POST /v1/judge: one submission, many test cases, verdicts and a score (src/judge). The same pipeline as
 * /v1/execute (authentication, rate limit and quota hooks; validation once, by prepareJudge; the queue; the
 * result capture), answering JSON or, with `Accept: text/event-stream`, each case's verdict as it is decided.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { PolyrunError, errors } from '../../contract/errors.js';
import type { ExecutionEvent } from '../../contract/events.js';
import { prepareJudge } from '../../judge/prepare.js';
import { toJudgeResult } from '../../judge/result.js';
import { JudgeBodySchema, JudgeResultSchema, type JudgeBody, type JudgeResult } from '../../judge/schema.js';
import type { ExecutionInput, Launched } from '../../pipeline/execution.js';
import { hangupSignal, jsonOrEventStream, tenantOf } from '../execution-route.js';
import { ERROR_RESPONSES } from '../schemas.js';
import type { AppServices } from '../services.js';
import { openEventStream, wantsEventStream } from '../sse.js';

const security: Record<string, string[]>[] = [{ bearer: [] }, { apiKey: [] }];

export const judgeRoutes: FastifyPluginAsyncTypebox<{ services: AppServices }> = async (app, { services }) => {
  app.post(
    '/judge',
    {
      config: { execution: true },
      schema: {
        tags: ['v1'],
        summary: 'Judge a submission against test cases; with "Accept: text/event-stream", stream each verdict (SSE)',
        description:
          'Compiled once; every case runs in the same sandbox as a fresh process with its own limits. JSON: the judged result. ' +
          'Server-Sent Events: the compile stage (`stage`, output, `exit`), a `case` event per case as its verdict is decided, ' +
          'then `result` (the same object as the JSON answer) or `error`.',
        security,
        body: JudgeBodySchema,
        response: { 200: jsonOrEventStream(JudgeResultSchema), ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const early: ExecutionEvent[] = [];
      let send: (event: ExecutionEvent) => void = (event) => void early.push(event);
      const streaming = wantsEventStream(request);
      const launched = await launchJudge(services, request, reply, request.body, streaming ? (e) => send(e) : undefined);
      const done = launched.done.then(toJudgeResult);
      if (!streaming) return done;
      await launched.started;
      const events = openEventStream(reply);
      send = events.send;
      for (const event of early.splice(0)) send(event);
      events.finish(done);
      return reply;
    },
  );
};

/** Validate (once), admit into the queue; the quota lease goes with the execution. */
async function launchJudge(
  services: AppServices,
  request: FastifyRequest,
  reply: FastifyReply,
  body: JudgeBody,
  onEvent?: (event: ExecutionEvent) => void,
): Promise<Launched> {
  const tenant = tenantOf(request);
  let prepared;
  try {
    prepared = prepareJudge(body, { runtimes: services.executor, policy: tenant.policy });
  } catch (err) {
    if (err instanceof PolyrunError) services.metrics.validationFailures.inc({ code: err.code });
    throw err;
  }
  const lease = request.quotaLease;
  if (!lease) throw errors.internal('judge route without a quota lease');
  const input: ExecutionInput = { tenant, prepared, lease, log: request.log, signal: hangupSignal(reply), ...(onEvent ? { onEvent } : {}) };
  const launched = await services.executions.launch(input);
  request.quotaLease = null;
  return launched;
}

export type { JudgeResult };
