/**
 * Prometheus metrics of one app instance, on a registry of its own (not prom-client's global one) so that
 * several apps can live in one process (tests). Each pipeline stage records into its own metrics here.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const MiB = 1024 * 1024;

export interface MetricsOptions {
  /** Read at scrape time for the queue gauges. */
  queueStats?: () => Promise<{ queued: number; running: number }>;
  /** Process metrics (CPU, heap, event loop); off in tests to keep scrapes small. */
  processMetrics?: boolean;
}

export function createMetrics(options: MetricsOptions = {}) {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry, prefix: 'polyrun_process_' });
  const registers = [registry];
  const secondsByLanguage = (name: string, help: string) =>
    new Histogram({ name, help, labelNames: ['language'] as const, buckets: DURATION_BUCKETS, registers });

  return {
    registry,
    httpRequests: new Counter({
      name: 'polyrun_http_requests_total',
      help: 'HTTP requests answered, by route and status code',
      labelNames: ['method', 'route', 'status'] as const,
      registers,
    }),
    httpDuration: new Histogram({
      name: 'polyrun_http_request_duration_seconds',
      help: 'Time to answer an HTTP request',
      labelNames: ['route'] as const,
      buckets: DURATION_BUCKETS,
      registers,
    }),
    storeWriteFailures: new Counter({
      name: 'polyrun_store_write_failures_total',
      help: 'Writes to a data-dir store that failed (full or failing disk); the store reports degraded on /readyz',
      labelNames: ['store'] as const,
      registers,
    }),
    authFailures: new Counter({
      name: 'polyrun_auth_failures_total',
      help: 'Requests refused by authentication',
      labelNames: ['reason'] as const,
      registers,
    }),
    rateLimited: new Counter({
      name: 'polyrun_rate_limited_total',
      help: 'Requests refused by the rate limiter (429 RATE_LIMITED)',
      registers,
    }),
    quotaRejections: new Counter({
      name: 'polyrun_quota_rejections_total',
      help: 'Executions refused by a quota (429 QUOTA_EXCEEDED), by the quota exceeded',
      labelNames: ['quota'] as const,
      registers,
    }),
    validationFailures: new Counter({
      name: 'polyrun_validation_failures_total',
      help: 'Execution requests refused by validation, by error code',
      labelNames: ['code'] as const,
      registers,
    }),
    queueRejections: new Counter({
      name: 'polyrun_queue_rejections_total',
      help: 'Executions refused by the queue (QUEUE_FULL, QUEUE_TIMEOUT, SHUTTING_DOWN)',
      labelNames: ['code'] as const,
      registers,
    }),
    queueDepth: new Gauge({
      name: 'polyrun_queue_depth',
      help: 'Executions waiting for a sandbox slot',
      registers,
      async collect() {
        if (options.queueStats) this.set((await options.queueStats()).queued);
      },
    }),
    runningExecutions: new Gauge({
      name: 'polyrun_running_executions',
      help: 'Executions holding a sandbox slot',
      registers,
      async collect() {
        if (options.queueStats) this.set((await options.queueStats()).running);
      },
    }),
    queueWait: new Histogram({
      name: 'polyrun_queue_wait_seconds',
      help: 'Time an execution waited for a sandbox slot',
      buckets: DURATION_BUCKETS,
      registers,
    }),
    executions: new Counter({
      name: 'polyrun_executions_total',
      help: 'Finished executions by language and status',
      labelNames: ['language', 'status'] as const,
      registers,
    }),
    compileDuration: secondsByLanguage('polyrun_compile_duration_seconds', 'Wall time of compile stages'),
    runDuration: secondsByLanguage('polyrun_run_duration_seconds', 'Wall time of run stages'),
    totalDuration: secondsByLanguage('polyrun_execution_duration_seconds', 'Time from admission to result, queue wait included'),
    cpuTime: secondsByLanguage('polyrun_cpu_time_seconds', 'CPU time of an execution (compile + run)'),
    peakMemory: new Histogram({
      name: 'polyrun_peak_memory_bytes',
      help: 'Peak memory of the run stage (compile when it failed there)',
      labelNames: ['language'] as const,
      buckets: [1, 4, 16, 32, 64, 128, 256, 512, 1024, 2048].map((m) => m * MiB),
      registers,
    }),
    timeouts: new Counter({
      name: 'polyrun_timeouts_total',
      help: 'Stages stopped by their CPU or wall time limit',
      labelNames: ['stage'] as const,
      registers,
    }),
    memoryKills: new Counter({
      name: 'polyrun_memory_kills_total',
      help: 'Stages killed at their memory limit',
      labelNames: ['stage'] as const,
      registers,
    }),
    outputTruncations: new Counter({
      name: 'polyrun_output_truncations_total',
      help: 'Streams cut at the output limit',
      labelNames: ['stage', 'stream'] as const,
      registers,
    }),
    sandboxFailures: new Counter({
      name: 'polyrun_sandbox_failures_total',
      help: 'Executions that ended in internal_error (sandbox failed to start or broke)',
      labelNames: ['language'] as const,
      registers,
    }),
    networkConnections: new Counter({
      name: 'polyrun_network_connections_total',
      help: 'Outbound connections of networked sandboxes: allowed, or refused (packets) by the firewall or the Host/SNI check',
      labelNames: ['outcome'] as const,
      registers,
    }),
    networkDns: new Counter({
      name: 'polyrun_network_dns_queries_total',
      help: 'DNS questions of networked sandboxes: answered, or refused (name or type not allowed, answer in the deny set)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    networkBytes: new Counter({
      name: 'polyrun_network_bytes_total',
      help: 'Bytes of networked sandboxes, by direction',
      labelNames: ['direction'] as const,
      registers,
    }),
    networkByteCaps: new Counter({
      name: 'polyrun_network_byte_caps_total',
      help: 'Executions that reached their byte cap (network.bytesPerExecution)',
      registers,
    }),
    anomalies: new Counter({
      name: 'polyrun_anomalies_total',
      help: 'Suspicious outcomes (see telemetry/anomalies.ts), by kind',
      labelNames: ['kind'] as const,
      registers,
    }),
    sessionsOpen: new Gauge({ name: 'polyrun_sessions_open', help: 'Stateful sessions open now', registers }),
    sessionsCreated: new Counter({ name: 'polyrun_sessions_created_total', help: 'Stateful sessions created', registers }),
    sessionsEnded: new Counter({
      name: 'polyrun_sessions_ended_total',
      help: 'Stateful sessions ended, by reason (deleted, idle, lifetime, shutdown, failed)',
      labelNames: ['reason'] as const,
      registers,
    }),
    sessionExecCpuSeconds: new Counter({
      name: 'polyrun_session_exec_cpu_seconds_total',
      help: 'CPU seconds used by the execs of stateful sessions',
      registers,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
