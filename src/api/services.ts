/**
 * What the route plugins need, built once per app by buildApp.
 */
import type { PolyrunConfig } from '../config/schema.js';
import type { Executor } from '../executor/types.js';
import type { ExecutionService } from '../pipeline/execution.js';
import type { Quota } from '../pipeline/quota.js';
import type { ResultStore } from '../store/results.js';
import type { UsageStore } from '../store/usage.js';
import type { Metrics } from '../telemetry/metrics.js';

export interface AppServices {
  config: PolyrunConfig;
  executor: Executor;
  executions: ExecutionService;
  quota: Quota;
  results: ResultStore;
  usage: UsageStore;
  metrics: Metrics;
}
