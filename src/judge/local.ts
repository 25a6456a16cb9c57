/**
 * Judging in this process (the CLI, benchmarks, tests): the same prepareJudge and the same runner as the
 * HTTP API, without a queue.
 */
import { randomUUID } from 'node:crypto';
import type { ExecutionEvent } from '../contract/events.js';
import { BUILTIN_POLICY, type TenantPolicy } from '../config/policy.js';
import type { SandboxExecutor } from '../executor/executor.js';
import { LocalJobContext } from '../executor/local-context.js';
import { toJob } from '../pipeline/prepare.js';
import { prepareJudge } from './prepare.js';
import { toJudgeResult } from './result.js';
import type { JudgeBody, JudgeResult } from './schema.js';

export interface LocalJudgeOptions {
  policy?: TenantPolicy;
  signal?: AbortSignal;
  onEvent?: (event: ExecutionEvent) => void;
  cacheScope?: string;
}

export async function judgeLocally(executor: SandboxExecutor, body: JudgeBody, options: LocalJudgeOptions = {}): Promise<JudgeResult> {
  const policy = options.policy ?? { ...BUILTIN_POLICY, maxLimits: executor.maxLimits };
  const prepared = prepareJudge(body, { runtimes: executor.catalogue, policy, bounds: executor.bounds });
  const id = randomUUID();
  const job = toJob(prepared, { id, tenantId: 'local', cacheScope: options.cacheScope ?? 'default' });
  const result = await executor.run(job, new LocalJobContext(options.signal, options.onEvent));
  return toJudgeResult({ id, ...result });
}
