/**
 * The executor as the rest of polyrun sees it: a runtime catalogue to validate requests against, and a job
 * processor for the queue's workers. The HTTP pipeline and the CLI depend on this interface only; the
 * sandboxed implementation is executor.ts, tests of the HTTP stages use a fake.
 */
import type { ExecutionJob } from '../contract/job.js';
import type { ExecutionResult } from '../contract/result.js';
import type { JobContext } from '../queue/types.js';
import type { RuntimeLookup } from '../runtimes/catalogue.js';

export type { RuntimeInfo } from '../runtimes/catalogue.js';

export interface Executor extends RuntimeLookup {
  /** Run one job (the queue worker's processor); what the program did is a result with a status. */
  run(job: ExecutionJob, context: JobContext): Promise<ExecutionResult>;
  close(): Promise<void>;
}
