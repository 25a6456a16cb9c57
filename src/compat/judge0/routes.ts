/**
 * The Judge0-compatible API at Judge0's own paths (a client changes only its base URL): submissions
 * (single, batch, wait, base64, fields), languages, statuses and the informational endpoints. Registered
 * inside the API scope, so authentication (X-Auth-Token is an API key), rate limiting and quotas are
 * polyrun's; answers and errors are in Judge0's shapes (this plugin's own error handler).
 */
import { cpus, arch, totalmem, freemem } from 'node:os';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { toPolyrunError } from '../../contract/errors.js';
import type { Tenant } from '../../config/policy.js';
import { httpError } from '../../api/errors.js';
import { hangupSignal, tenantOf } from '../../api/execution-route.js';
import type { AppServices } from '../../api/services.js';
import type { JobQueue } from '../../queue/types.js';
import type { KeyStore } from '../../store/keys.js';
import { Counter } from 'prom-client';
import { callbackProblem } from './callback.js';
import { commands } from './commands.js';
import { networkAllowed } from './network.js';
import { byName, LANGUAGE_ROWS, type Judge0Language } from './languages.js';
import { Judge0Service } from './service.js';
import { STATUSES } from './status.js';
import { SubmissionStore } from './store.js';
import { parseFields, renderSubmission, type Column, type SubmissionRecord } from './submission.js';
import { ADDITIONAL_FILES_LIMITS, JUDGE0_LIMITS, validateSubmission, type FieldErrors } from './validate.js';
import { join } from 'node:path';

export interface Judge0RouteOptions {
  services: AppServices;
  keys: KeyStore | null;
  queue: JobQueue;
  now: () => number;
}

/** The Judge0 version whose API this answers as. */
export const JUDGE0_VERSION = '1.13.1';
export const MAX_BATCH = 20;
const KEEP_MS = 24 * 60 * 60_000;
const KEEP_MAX = 100_000;

/** An answer in Judge0's own shape (a status and a body), thrown from a handler. */
class Judge0Answer extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`judge0 answer ${status}`);
  }
}

const fail = (status: number, error: string) => new Judge0Answer(status, { error });
const invalidFields = (names: string[]) => fail(400, `invalid fields: [${names.join(', ')}]`);

/** Judge0's flags are on only for "true" (a JSON true is taken too). */
const flag = (v: unknown) => v === 'true' || v === true;

// Loose schemas: Judge0's answers are documented in docs/api.md; these keep the OpenAPI document complete.
const AnyObject = Type.Object({}, { additionalProperties: true });
const Judge0Body = Type.Unknown({ description: 'Judge0 parameters (JSON or form body); see docs/api.md' });
const json = (description: string, schema = AnyObject) => ({ description, content: { 'application/json': { schema } } });
const errorsSchema = {
  '4xx': json('Judge0 error: {"error"}, or 422 {"field": ["message"]}', Type.Unknown() as never),
  '5xx': json('Judge0 error: {"error"}', Type.Unknown() as never),
};
const tags = ['judge0'];
const security: Record<string, string[]>[] = [{ judge0Token: [] }];

export const judge0Routes: FastifyPluginAsyncTypebox<Judge0RouteOptions> = async (app, { services, keys, queue, now }) => {
  const store = new SubmissionStore({ path: join(services.config.dataDir, 'judge0.sqlite'), ttlMs: KEEP_MS, maxEntries: KEEP_MAX, now });
  const callbackCount = new Counter({
    name: 'polyrun_judge0_callbacks_total',
    help: 'Judge0 callbacks by outcome: delivered (2xx), rejected (other HTTP status), failed (network errors on every try), refused (a non-public or disallowed destination)',
    labelNames: ['outcome'] as const,
    registers: [services.metrics.registry],
  });
  const callbackPolicy = services.config.judge0.callbacks;
  const judge0 = new Judge0Service(services, store, now, { policy: callbackPolicy, counted: (outcome) => callbackCount.inc({ outcome }) });
  app.addHook('onClose', async () => {
    await judge0.settle();
    store.close();
  });

  // Judge0 (Rails) takes form bodies too.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  app.setErrorHandler((err, request, reply) => {
    if (err instanceof Judge0Answer) return reply.code(err.status).send(err.body);
    const e = httpError(err); // Fastify's own errors (a malformed body, 413, 415) get polyrun's codes
    const status = e.httpStatus;
    if (status === 401 || status === 403) return reply.code(status).send('');
    if (status === 404) return notFound(request, reply);
    if (e.code === 'INVALID_JSON') return reply.code(400).send({ status: 400, error: 'Bad Request' });
    if (e.code === 'QUEUE_FULL') return reply.code(503).send({ error: 'queue is full' });
    const retry = (e.details as { retryAfterSeconds?: number } | undefined)?.retryAfterSeconds;
    if (retry !== undefined) reply.header('retry-after', String(retry));
    if (status >= 500) request.log.error({ err }, 'judge0 route failed');
    return reply.code(status).send({ error: e.message });
  });

  const params = (request: FastifyRequest): Record<string, unknown> => ({
    ...(request.query as Record<string, unknown>),
    ...(request.body && typeof request.body === 'object' && !Array.isArray(request.body) ? (request.body as Record<string, unknown>) : {}),
  });

  const fieldsOf = (raw: unknown): Column[] => {
    const parsed = parseFields(raw);
    if ('invalid' in parsed) throw invalidFields(parsed.invalid);
    return parsed.fields;
  };

  const validate = (tenant: Tenant, p: Record<string, unknown>, base64: boolean, languages: Judge0Language[]) => {
    const ids = new Map(languages.map((l) => [l.id, l]));
    const v = validateSubmission(p, base64, {
      languageExists: (id) => ids.has(id),
      languageArchived: () => false,
      ceiling: judge0.ceiling(tenant),
      callbackProblem: (url) => callbackProblem(url, callbackPolicy),
      networkAllowed: networkAllowed(tenant.policy.network),
    });
    return 'errors' in v ? v : { input: v.input, language: ids.get(v.input.language_id)! };
  };

  /** X-Auth-User: an API key of an admin tenant (config judge0.adminTenants); else 403 with no body. */
  const authorize = (request: FastifyRequest) => {
    const presented = request.headers['x-auth-user'];
    const key = typeof presented === 'string' ? presented.trim() : '';
    const stored = key && keys ? keys.verify(key) : undefined;
    if (!stored || !services.config.judge0.adminTenants.includes(stored.tenant)) throw new Judge0Answer(403, '');
  };

  app.post(
    '/submissions',
    {
      schema: {
        tags,
        summary: 'Judge0: create a submission (?wait=true answers with the result)',
        security,
        body: Judge0Body,
        response: { 201: json('{"token"}, or the submission with wait=true'), ...errorsSchema },
      },
    },
    async (request, reply) => {
      const tenant = tenantOf(request);
      const p = params(request);
      const base64 = flag(p.base64_encoded);
      const fields = fieldsOf(p.fields);
      const v = validate(tenant, p, base64, judge0.languages(tenant));
      if ('errors' in v) throw new Judge0Answer(422, v.errors);
      const wait = flag(p.wait);
      const { record, finished } = await judge0.submit(tenant, v.input, v.language, request.log, wait ? hangupSignal(reply) : undefined);
      if (!wait) return reply.code(201).send({ token: record.token });
      return reply.code(201).send(renderSubmission(await finished, fields, base64));
    },
  );

  app.get(
    '/submissions/:token',
    {
      schema: {
        tags,
        summary: 'Judge0: a submission',
        security,
        params: Type.Object({ token: Type.String() }),
        querystring: AnyObject,
        response: { 200: json('the submission'), ...errorsSchema },
      },
    },
    async (request, reply) => {
      const p = params(request);
      const fields = fieldsOf(p.fields);
      const record = store.get(request.params.token, tenantOf(request).id);
      if (!record) return notFound(request, reply);
      return renderSubmission(record, fields, flag(p.base64_encoded));
    },
  );

  app.get(
    '/submissions',
    {
      schema: {
        tags,
        summary: 'Judge0: every submission, newest first (needs X-Auth-User)',
        security,
        querystring: AnyObject,
        response: { 200: json('{"submissions": [...], "meta": {...}}'), ...errorsSchema },
      },
    },
    async (request) => {
      authorize(request);
      const p = params(request);
      const page = p.page === undefined ? 1 : Number(p.page);
      const perPage = p.per_page === undefined ? 20 : Number(p.per_page);
      if (!Number.isInteger(page) || page <= 0) throw fail(400, `invalid page: ${String(p.page)}`);
      if (!Number.isInteger(perPage) || perPage < 0) throw fail(400, `invalid per_page: ${String(p.per_page)}`);
      const fields = fieldsOf(p.fields);
      const { records, total } = store.list((page - 1) * perPage, perPage);
      const totalPages = perPage === 0 ? 0 : Math.ceil(total / perPage);
      return {
        submissions: records.map((r) => renderSubmission(r, fields, flag(p.base64_encoded))),
        meta: {
          current_page: page,
          next_page: page < totalPages ? page + 1 : null,
          prev_page: page > 1 ? page - 1 : null,
          total_pages: totalPages,
          total_count: total,
        },
      };
    },
  );

  app.delete(
    '/submissions/:token',
    {
      schema: {
        tags,
        summary: 'Judge0: delete a submission (needs X-Auth-User); answers the deleted submission, base64-encoded',
        security,
        params: Type.Object({ token: Type.String() }),
        querystring: AnyObject,
        response: { 200: json('the deleted submission'), ...errorsSchema },
      },
    },
    async (request, reply) => {
      authorize(request);
      const fields = fieldsOf(params(request).fields);
      const record = store.get(request.params.token, null);
      if (!record) return notFound(request, reply);
      if (record.status_id === 1 || record.status_id === 2) {
        const status = STATUSES[record.status_id - 1]!;
        throw fail(400, `submission cannot be deleted because its status is ${status.id} (${status.description})`);
      }
      store.delete(record.token);
      return renderSubmission(record, fields, true);
    },
  );

  app.post(
    '/submissions/batch',
    {
      schema: {
        tags,
        summary: 'Judge0: create up to 20 submissions',
        security,
        body: Judge0Body,
        response: { 201: json('[{"token"} or the item\'s errors, ...]', Type.Array(Type.Unknown()) as never), ...errorsSchema },
      },
    },
    async (request, reply) => {
      const tenant = tenantOf(request);
      const p = params(request);
      const base64 = flag(p.base64_encoded);
      const items = Array.isArray(p.submissions) ? (p.submissions as unknown[]) : [];
      if (items.length === 0) throw fail(400, 'there should be at least one submission in a batch');
      if (items.length > MAX_BATCH) throw fail(400, `number of submissions in a batch should be less than or equal to ${MAX_BATCH}`);
      const languages = judge0.languages(tenant);
      const checked = items.map((item) => validate(tenant, item && typeof item === 'object' ? (item as Record<string, unknown>) : {}, base64, languages));
      if (checked.every((c) => 'errors' in c)) throw new Judge0Answer(422, checked.map((c) => (c as { errors: FieldErrors }).errors));
      const answers: unknown[] = [];
      for (const c of checked) {
        if ('errors' in c) {
          answers.push(c.errors);
          continue;
        }
        try {
          const { record } = await judge0.submit(tenant, c.input, c.language, request.log);
          answers.push({ token: record.token });
        } catch (err) {
          answers.push({ error: toPolyrunError(err).code === 'QUEUE_FULL' ? 'queue is full' : toPolyrunError(err).message });
        }
      }
      return reply.code(201).send(answers);
    },
  );

  app.get(
    '/submissions/batch',
    {
      schema: {
        tags,
        summary: 'Judge0: several submissions (?tokens=a,b,c); unknown tokens are null',
        security,
        querystring: AnyObject,
        response: { 200: json('{"submissions": [submission or null, ...]}'), ...errorsSchema },
      },
    },
    async (request) => {
      const p = params(request);
      const raw = p.tokens ?? request.headers.tokens;
      const tokens = typeof raw === 'string' && raw !== '' ? raw.split(',') : [];
      if (tokens.length === 0) throw fail(400, 'there should be at least one submission in a batch');
      if (tokens.length > MAX_BATCH) throw fail(400, `number of submissions in a batch should be less than or equal to ${MAX_BATCH}`);
      const fields = fieldsOf(p.fields);
      const tenant = tenantOf(request).id;
      return {
        submissions: tokens.map((t) => {
          const r = store.get(t.trim(), tenant);
          return r ? renderSubmission(r, fields, flag(p.base64_encoded)) : null;
        }),
      };
    },
  );

  const list = (description: string) => json(description, Type.Array(AnyObject) as never);
  const text = { description: 'text', content: { 'text/plain': { schema: Type.String() } } };

  app.get('/languages', { schema: { tags, summary: 'Judge0: active languages', security, response: { 200: list('[{"id","name"}]'), ...errorsSchema } } }, async (request) =>
    judge0
      .languages(tenantOf(request))
      .filter((l) => l.primary)
      .sort(byName)
      .map(({ id, name }) => ({ id, name })),
  );

  app.get(
    '/languages/all',
    { schema: { tags, summary: 'Judge0: every language id', security, response: { 200: list('[{"id","name","is_archived"}]'), ...errorsSchema } } },
    async (request) => judge0.languages(tenantOf(request)).map(({ id, name }) => ({ id, name, is_archived: false })),
  );

  app.get(
    '/languages/:id',
    {
      schema: {
        tags,
        summary: 'Judge0: one language',
        security,
        params: Type.Object({ id: Type.String() }),
        response: { 200: json('{"id","name","is_archived","source_file","compile_cmd","run_cmd"}'), ...errorsSchema },
      },
    },
    async (request, reply) => {
      const language = judge0.languages(tenantOf(request)).find((l) => String(l.id) === request.params.id);
      if (!language) return notFound(request, reply);
      return { id: language.id, name: language.name, is_archived: false, ...(await commands(language.runtime)) };
    },
  );

  app.post('/authenticate', { schema: { tags, summary: 'Judge0: 200 when the X-Auth-Token is good (or auth is off)', security, response: { 200: text, ...errorsSchema } } }, async (request, reply) => {
    tenantOf(request);
    return reply.type('text/plain').send('');
  });

  app.post('/authorize', { schema: { tags, summary: 'Judge0: 200 when X-Auth-User is an admin key, else 403', security, response: { 200: text, ...errorsSchema } } }, async (request, reply) => {
    authorize(request);
    return reply.type('text/plain').send('');
  });

  app.get('/statuses', { schema: { tags, summary: 'Judge0: the 14 statuses', security, response: { 200: list('[{"id","description"}]'), ...errorsSchema } } }, async () =>
    STATUSES.map((s) => ({ ...s })),
  );

  app.get('/config_info', { schema: { tags, summary: "Judge0: this server's settings in Judge0's terms", security, response: { 200: json('settings'), ...errorsSchema } } }, async (request) =>
    configInfo(services, judge0.ceiling(tenantOf(request)), networkAllowed(tenantOf(request).policy.network)),
  );

  app.get('/system_info', { schema: { tags, summary: 'Judge0: the host (CPU, memory)', security, response: { 200: json('lscpu-like fields'), ...errorsSchema } } }, async () => {
    const cpu = cpus();
    const gib = (b: number) => `${(b / 1024 ** 3).toFixed(1)}Gi`;
    return { Architecture: arch(), 'CPU(s)': String(cpu.length), 'Model name': cpu[0]?.model ?? 'unknown', Mem: gib(totalmem()), 'Mem free': gib(freemem()) };
  });

  app.get('/about', { schema: { tags, summary: 'Judge0: about', security, response: { 200: json('{"version","homepage","source_code","maintainer"}'), ...errorsSchema } } }, async () => ({
    version: JUDGE0_VERSION,
    homepage: 'https://judge0.com',
    source_code: 'polyrun (a Judge0-compatible API; not Judge0)',
    maintainer: "this polyrun server's operator",
  }));

  app.get('/version', { schema: { tags, summary: 'Judge0: the version of the API answered', security, response: { 200: text, ...errorsSchema } } }, async (_req, reply) =>
    reply.type('text/plain').send(JUDGE0_VERSION),
  );

  app.get('/workers', { schema: { tags, summary: 'Judge0: the queue', security, response: { 200: list('[{"queue","size","available","idle","working","paused","failed"}]'), ...errorsSchema } } }, async () => {
    const s = await queue.stats();
    return [{ queue: 'polyrun', size: s.queued, available: s.slots, idle: Math.max(0, s.slots - s.running), working: s.running, paused: 0, failed: 0 }];
  });

  app.get('/statistics', { schema: { tags, summary: 'Judge0: submissions by language and status (last 30 days)', security, querystring: AnyObject, response: { 200: json('counts'), ...errorsSchema } } }, async () =>
    statistics(store.list(0, KEEP_MAX).records, now()),
  );
};

function notFound(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const accept = String(request.headers.accept ?? '');
  if (/json/i.test(accept)) return reply.code(404).send({ status: 404, error: 'Not Found' });
  return reply.code(404).send('');
}

function configInfo(services: AppServices, c: ReturnType<Judge0Service['ceiling']>, allowNetwork: boolean) {
  const L = JUDGE0_LIMITS;
  const max = (field: 'cpu_time_limit' | 'wall_time_limit' | 'memory_limit' | 'max_processes_and_or_threads' | 'max_file_size', x: number) => Math.min(L[field].max, x);
  return {
    maintenance_mode: false,
    enable_wait_result: true,
    enable_compiler_options: false,
    allowed_languages_for_compile_options: [],
    enable_command_line_arguments: true,
    enable_submission_delete: services.config.judge0.adminTenants.length > 0,
    enable_callbacks: services.config.judge0.callbacks.enabled,
    callbacks_max_tries: services.config.judge0.callbacks.maxTries,
    callbacks_timeout: services.config.judge0.callbacks.timeoutMs / 1000,
    enable_additional_files: true,
    max_queue_size: services.config.queue.maxQueued,
    cpu_time_limit: Math.min(L.cpu_time_limit.default, c.cpuSeconds),
    max_cpu_time_limit: max('cpu_time_limit', c.cpuSeconds),
    cpu_extra_time: L.cpu_extra_time.default,
    max_cpu_extra_time: L.cpu_extra_time.max,
    wall_time_limit: Math.min(L.wall_time_limit.default, c.wallSeconds),
    max_wall_time_limit: max('wall_time_limit', c.wallSeconds),
    memory_limit: Math.min(L.memory_limit.default, c.memoryKb),
    max_memory_limit: max('memory_limit', c.memoryKb),
    stack_limit: L.stack_limit.default,
    max_stack_limit: L.stack_limit.max,
    max_processes_and_or_threads: Math.min(L.max_processes_and_or_threads.default, c.processes),
    max_max_processes_and_or_threads: max('max_processes_and_or_threads', c.processes),
    enable_per_process_and_thread_time_limit: false,
    allow_enable_per_process_and_thread_time_limit: false,
    enable_per_process_and_thread_memory_limit: false,
    allow_enable_per_process_and_thread_memory_limit: false,
    max_file_size: Math.min(L.max_file_size.default, c.fileSizeKb),
    max_max_file_size: max('max_file_size', c.fileSizeKb),
    number_of_runs: L.number_of_runs.default,
    max_number_of_runs: L.number_of_runs.max,
    redirect_stderr_to_stdout: false,
    max_extract_size: Math.floor(ADDITIONAL_FILES_LIMITS.maxBytes / 1024),
    enable_batched_submissions: true,
    max_submission_batch_size: MAX_BATCH,
    submission_cache_duration: 0.0,
    use_docs_as_homepage: false,
    allow_enable_network: allowNetwork,
    enable_network: false,
  };
}

function statistics(records: SubmissionRecord[], now: number) {
  const day = 24 * 60 * 60_000;
  const startOfToday = Math.floor(now / day) * day;
  const recent = records.filter((r) => r.created_at > now - 30 * day);
  const count = <K>(key: (r: SubmissionRecord) => K, label: (r: SubmissionRecord) => unknown) => {
    const m = new Map<K, { item: unknown; count: number }>();
    for (const r of recent) {
      const k = key(r);
      const e = m.get(k) ?? { item: label(r), count: 0 };
      e.count++;
      m.set(k, e);
    }
    return [...m.values()].sort((a, b) => b.count - a.count);
  };
  return {
    now: new Date(now).toISOString(),
    submissions: {
      today: records.filter((r) => r.created_at >= startOfToday).length,
      yesterday: records.filter((r) => r.created_at >= startOfToday - day && r.created_at < startOfToday).length,
      last_30_days: recent.length,
    },
    languages: count((r) => r.language.id, (r) => r.language).map((e) => ({ language: e.item, count: e.count })),
    statuses: count((r) => r.status_id, (r) => STATUSES[r.status_id - 1]).map((e) => ({ status: e.item, count: e.count })),
    database: { size_pretty: 'n/a', size_in_bytes: 0 },
  };
}

export { LANGUAGE_ROWS };
