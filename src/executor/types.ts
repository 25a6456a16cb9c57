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

/**
 * Whether this executor can run executions now: sandboxes were proven to start (a runtime listed from the
 * self-test cache proves nothing about the OCI runtime). `detail` is one operator-facing sentence with no
 * host path (it is shown on the public /readyz); the full cause is in the log.
 */
export interface ExecutorHealth {
  ready: boolean;
  detail: string;
}

/** Which sandbox backend runs executions and why (GET /v1/system, `polyrun doctor`). */
export interface SandboxInfo {
  backend: string;
  /** The program behind it: runc, crun, runsc or bwrap. */
  runtime: string;
  reason: string;
  /** The isolation levels a request may ask for here ("default" always; "gvisor" when the host has it). */
  isolations: string[];
  /** Why a known isolation level is not offered on this host. */
  unavailable: Record<string, string>;
}

/** What a reload of the runtimes changed: runtimes as name@version, the mounts that appeared. */
export interface ReloadResult {
  added: string[];
  removed: string[];
  mounts: string[];
  unavailable: { name: string; reason: string }[];
}

export interface Executor extends RuntimeLookup {
  /** Detect the runtimes again (after packages were installed or removed); absent where it cannot. */
  reloadRuntimes?(): Promise<ReloadResult>;
  /** Run one job (the queue worker's processor); what the program did is a result with a status. */
  run(job: ExecutionJob, context: JobContext): Promise<ExecutionResult>;
  health(): ExecutorHealth;
  /** The sandbox backend in use; absent for executors without sandboxes (test fakes). */
  sandboxInfo?(): SandboxInfo;
  close(): Promise<void>;
}
