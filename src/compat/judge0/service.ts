/**
 * Running Judge0 submissions through polyrun's pipeline: each run takes a quota lease, is validated by
 * prepareExecution (the same one validation as /v1/execute) and goes through the execution service (queue,
 * sandbox, result capture). The record in the store follows: In Queue, Processing, then the final status.
 * As in Judge0, number_of_runs repeats the run while it is accepted; time and memory are the averages.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { toPolyrunError } from '../../contract/errors.js';
import type { ExecuteBody } from '../../contract/request.js';
import type { ExecutionResult } from '../../contract/result.js';
import type { Tenant } from '../../config/policy.js';
import type { Launched } from '../../pipeline/execution.js';
import { allowedRuntimes } from '../../pipeline/prepare.js';
import { prepareForTenant } from '../../api/execution-route.js';
import type { AppServices } from '../../api/services.js';
import { deliverCallback, type CallbackOutcome, type CallbackPolicy } from './callback.js';
import { resolveLanguages, type Judge0Language } from './languages.js';
import { toJudge0Outcome, type Judge0Outcome } from './status.js';
import type { SubmissionStore } from './store.js';
import { DEFAULT_FIELDS, renderSubmission, type SubmissionInput, type SubmissionRecord } from './submission.js';
import { ADDITIONAL_FILES_LIMITS, splitArguments, type TenantCeiling } from './validate.js';
import { commands } from './commands.js';
import { judge0Network } from './network.js';
import { lenientDecode64 } from './base64.js';
import { readZip, type ZipFile } from './zip.js';

/** The files of a submission's archive (validated when it was created). */
function additionalFiles(raw: string | null): ZipFile[] {
  if (!raw) return [];
  const archive = readZip(lenientDecode64(raw), ADDITIONAL_FILES_LIMITS);
  return 'files' in archive ? archive.files : [];
}



export interface CallbackDelivery {
  policy: CallbackPolicy;
  /** Told how each callback ended (metrics). */
  counted: (outcome: CallbackOutcome) => void;
}

export class Judge0Service {
  /** Callbacks being delivered (close waits for them; each is bounded by its tries and timeouts). */
  private readonly deliveries = new Set<Promise<void>>();

  constructor(
    private readonly services: AppServices,
    readonly store: SubmissionStore,
    private readonly now: () => number,
    private readonly callbacks?: CallbackDelivery,
  ) {}

  /** Resolves once every callback started so far has ended. */
  async settle(): Promise<void> {
    while (this.deliveries.size > 0) await Promise.all([...this.deliveries]);
  }

  /** The Judge0 languages this tenant may use (installed runtimes only). */
  languages(tenant: Tenant): Judge0Language[] {
    return resolveLanguages(allowedRuntimes(this.services.executor, tenant.policy));
  }

  ceiling(tenant: Tenant): TenantCeiling {
    const run = tenant.policy.maxLimits.run;
    return {
      cpuSeconds: run.cpuTimeMs / 1000,
      wallSeconds: run.wallTimeMs / 1000,
      memoryKb: Math.floor(run.memoryBytes / 1024),
      processes: run.processes,
      fileSizeKb: Math.floor(Math.min(run.fileSizeBytes, run.outputBytes) / 1024),
    };
  }

  /**
   * Admit a submission: its record (In Queue) is stored and its first run admitted, or this throws the
   * PolyrunError that refused it (quota, queue full, validation). `finished` resolves with the final record.
   */
  async submit(
    tenant: Tenant,
    input: SubmissionInput,
    language: Judge0Language,
    log: FastifyBaseLogger,
    signal?: AbortSignal,
  ): Promise<{ record: SubmissionRecord; finished: Promise<SubmissionRecord> }> {
    const record: SubmissionRecord = {
      token: randomUUID(),
      tenant: tenant.id,
      input,
      language: { id: language.id, name: language.name },
      status_id: 1,
      outcome: null,
      created_at: this.now(),
      finished_at: null,
    };
    const sourceFile = input.additional_files ? (await commands(language.runtime)).source_file : null;
    const body = executeBody(input, language, sourceFile, input.enable_network ? judge0Network(tenant.policy.network) : undefined);
    const first = await this.launch(tenant, body, log, signal);
    this.store.put(record);
    const finished = this.follow(record, tenant, body, first, log, signal).catch((err: unknown) => {
      const e = toPolyrunError(err);
      log.error({ err: e, token: record.token }, 'judge0 submission failed');
      return this.finish(record, { ...internalOutcome(e.message) });
    });
    return { record, finished };
  }

  private async launch(tenant: Tenant, body: ExecuteBody, log: FastifyBaseLogger, signal?: AbortSignal): Promise<Launched> {
    const lease = await this.services.quota.admit(tenant);
    try {
      const prepared = prepareForTenant(this.services, tenant, body);
      return await this.services.executions.launch({ tenant, prepared, lease, log, ...(signal ? { signal } : {}) });
    } catch (err) {
      lease.cancel();
      throw err;
    }
  }

  private async follow(
    record: SubmissionRecord,
    tenant: Tenant,
    body: ExecuteBody,
    first: Launched,
    log: FastifyBaseLogger,
    signal?: AbortSignal,
  ): Promise<SubmissionRecord> {
    let settled = false;
    void first.started.then(
      () => {
        if (!settled) this.store.put({ ...record, status_id: 2 });
      },
      () => undefined,
    );
    const outcomes: Judge0Outcome[] = [];
    let launched: Launched | null = first;
    for (let run = 0; run < record.input.number_of_runs; run++) {
      launched ??= await this.launch(tenant, body, log, signal);
      const result = await launched.done;
      launched = null;
      const outcome = toJudge0Outcome(withJudge0Time(result, record.input), record.input.expected_output, record.input.cpu_time_limit * 1000);
      outcomes.push(record.input.redirect_stderr_to_stdout ? redirected(outcome, result) : outcome);
      if (outcome.status_id !== 3) break;
    }
    settled = true;
    return this.finish(record, averaged(outcomes));
  }

  private finish(record: SubmissionRecord, outcome: Judge0Outcome): SubmissionRecord {
    const done: SubmissionRecord = { ...record, status_id: outcome.status_id, outcome, finished_at: this.now() };
    this.store.put(done);
    const url = done.input.callback_url;
    if (url && this.callbacks) {
      // As Judge0: the default fields, always base64, after the submission finished (whatever its status).
      const { policy, counted } = this.callbacks;
      const delivery = deliverCallback(url, renderSubmission(done, DEFAULT_FIELDS, true), policy).then(counted);
      this.deliveries.add(delivery);
      void delivery.finally(() => this.deliveries.delete(delivery));
    }
    return done;
  }
}

/** A Judge0 submission as polyrun's execute body (limits in polyrun's units, within the runtime's maximum). */
/**
 * `sourceFile`: the name the source gets when additional files come with it (the runtime's default name);
 * an archive's file of that name is skipped, as Judge0's `unzip -n` does not overwrite the source.
 * `network`: what enable_network grants this tenant (judge0Network), absent when it was not asked for.
 */
export function executeBody(
  input: SubmissionInput,
  language: Judge0Language,
  sourceFile: string | null = null,
  network?: ExecuteBody['network'],
): ExecuteBody {
  const max = language.runtime.limits.maximum.run;
  const cpuMs = input.cpu_time_limit === 0 ? max.cpuTimeMs : Math.round((input.cpu_time_limit + input.cpu_extra_time) * 1000);
  const fileBytes = Math.max(1, input.max_file_size * 1024);
  return {
    language: language.runtime.name,
    version: language.runtime.version,
    files: [
      { ...(sourceFile ? { name: sourceFile } : {}), content: Buffer.from(input.source_code, 'utf8').toString('base64'), encoding: 'base64' as const },
      ...additionalFiles(input.additional_files)
        .filter((f) => f.name !== sourceFile)
        .map((f) => ({ name: f.name, content: f.content.toString('base64'), encoding: 'base64' as const })),
    ],
    stdin: Buffer.from(input.stdin ?? '', 'utf8').toString('base64'),
    stdinEncoding: 'base64',
    args: splitArguments(input.command_line_arguments),
    ...(network ? { network } : {}),
    limits: {
      cpuTimeMs: Math.max(1, Math.min(cpuMs, max.cpuTimeMs)),
      wallTimeMs: Math.max(1, Math.min(Math.round(input.wall_time_limit * 1000), max.wallTimeMs)),
      memoryBytes: Math.min(input.memory_limit * 1024, max.memoryBytes),
      processes: Math.min(input.max_processes_and_or_threads, max.processes),
      fileSizeBytes: Math.min(fileBytes, max.fileSizeBytes),
      outputBytes: Math.min(fileBytes, max.outputBytes),
    },
  };
}

/**
 * Judge0's cpu_extra_time: the program may run past cpu_time_limit by the extra time before it is killed,
 * but a run that used more than the limit is still a time limit exceeded.
 */
function withJudge0Time(result: ExecutionResult, input: SubmissionInput): ExecutionResult {
  const run = result.run;
  if (!run || run.status !== 'ok' || input.cpu_time_limit === 0 || run.cpuTimeMs <= input.cpu_time_limit * 1000) return result;
  return { ...result, status: 'time_limit', run: { ...run, status: 'time_limit' } };
}

function redirected(outcome: Judge0Outcome, result: ExecutionResult): Judge0Outcome {
  if (outcome.status_id === 6 || outcome.status_id === 13 || !result.run) return outcome;
  const merged = result.run.output ?? result.run.stdout + result.run.stderr;
  return { ...outcome, stdout: merged === '' ? null : merged, stderr: null };
}

/** The last run's outcome with time and memory averaged over the runs done (Judge0's number_of_runs). */
function averaged(outcomes: Judge0Outcome[]): Judge0Outcome {
  const last = outcomes[outcomes.length - 1]!;
  if (outcomes.length === 1) return last;
  const mean = (pick: (o: Judge0Outcome) => number | null) => {
    const xs = outcomes.map(pick).filter((x): x is number => x !== null);
    return xs.length === 0 ? null : xs.reduce((s, x) => s + x, 0) / xs.length;
  };
  const time = mean((o) => o.time);
  const memory = mean((o) => o.memory);
  return { ...last, time: time === null ? null : Math.round(time * 1000) / 1000, memory: memory === null ? null : Math.round(memory) };
}

function internalOutcome(message: string): Judge0Outcome {
  return {
    status_id: 13,
    stdout: null,
    stderr: null,
    compile_output: null,
    message,
    exit_code: null,
    exit_signal: null,
    time: null,
    wall_time: null,
    memory: null,
    polyrun_status: null,
  };
}


