/**
 * The executor: the one door between the outside (CLI, HTTP pipeline, queue workers) and the sandbox.
 * It validates a request against the runtimes and limits, runs its stages in a sandbox and returns the
 * result contract. It throws PolyrunError only for the caller's mistakes or polyrun's own failures; what
 * the program does is always a result with a status.
 */
import type { ExecutionRequest } from '../contract/request.js';
import type { ExecutionResult } from '../contract/result.js';
import type { LimitTable } from '../limits/limits.js';

export interface RuntimeInfo {
  name: string;
  version: string;
  aliases: string[];
  extensions: string[];
  compiled: boolean;
  /** Default limits of this runtime (after its manifest's overrides) and the ceiling a request may reach. */
  limits: { defaults: LimitTable; maximum: LimitTable };
}

export interface ExecuteOptions {
  /** The ceiling for this caller (a tenant's policy); defaults to the service maximum. */
  maxLimits?: LimitTable;
  /** Aborting kills the sandbox; the result then has status internal_error unless it finished first. */
  signal?: AbortSignal;
  /** Scope of the compile cache: a tenant id, or "global". */
  cacheScope?: string;
  /** Called when the execution leaves the queue and starts running. */
  onStart?: () => void;
}

export interface Executor {
  /** Runtimes that passed their self-test on this host. */
  runtimes(): RuntimeInfo[];
  /** Find a runtime by name or alias and optional version selector ("*", "3.x", "3.11.2"). */
  findRuntime(language: string, version?: string): RuntimeInfo | undefined;
  execute(request: ExecutionRequest, options?: ExecuteOptions): Promise<ExecutionResult>;
  close(): Promise<void>;
}
