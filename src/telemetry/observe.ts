/**
 * Result capture into metrics and the audit log: one call per finished execution.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { SourceFile } from '../contract/request.js';
import type { ExecutionResult, StageResult } from '../contract/result.js';
import { detectAnomalies } from './anomalies.js';
import type { Metrics } from './metrics.js';

export interface ExecutionRecord {
  tenant: string;
  /** The decoded source files (counted, and logged only when the operator asked for source). */
  files: SourceFile[];
  result: ExecutionResult;
  queueWaitMs: number;
  totalMs: number;
  maxProcesses: number;
  /** Cancelled by its caller (hang-up) or the shutdown: its internal_error is not a sandbox failure. */
  cancelled?: boolean;
}

function observeStage(metrics: Metrics, stageName: 'compile' | 'run', stage: StageResult, language: string): void {
  (stageName === 'compile' ? metrics.compileDuration : metrics.runDuration).observe({ language }, stage.wallTimeMs / 1000);
  if (stage.status === 'time_limit') metrics.timeouts.inc({ stage: stageName });
  if (stage.status === 'memory_limit') metrics.memoryKills.inc({ stage: stageName });
  if (stage.stdoutTruncated) metrics.outputTruncations.inc({ stage: stageName, stream: 'stdout' });
  if (stage.stderrTruncated) metrics.outputTruncations.inc({ stage: stageName, stream: 'stderr' });
}

export function observeExecution(metrics: Metrics, record: ExecutionRecord): string[] {
  const { result } = record;
  const language = result.language;
  metrics.executions.inc({ language, status: result.status });
  metrics.totalDuration.observe({ language }, record.totalMs / 1000);
  if (result.compile) observeStage(metrics, 'compile', result.compile, language);
  if (result.run) observeStage(metrics, 'run', result.run, language);
  metrics.cpuTime.observe({ language }, cpuMsOf(result) / 1000);
  const memStage = result.run ?? result.compile;
  if (memStage) metrics.peakMemory.observe({ language }, memStage.memoryBytes);
  if (result.status === 'internal_error' && !record.cancelled) metrics.sandboxFailures.inc({ language });
  const net = result.network;
  if (net) {
    metrics.networkConnections.inc({ outcome: 'allowed' }, net.connections);
    metrics.networkConnections.inc({ outcome: 'denied' }, net.denied);
    metrics.networkDns.inc({ outcome: 'answered' }, net.dnsQueries - net.dnsDenied);
    metrics.networkDns.inc({ outcome: 'refused' }, net.dnsDenied);
    metrics.networkBytes.inc({ direction: 'out' }, net.bytesOut);
    metrics.networkBytes.inc({ direction: 'in' }, net.bytesIn);
    if (net.byteCapReached) metrics.networkByteCaps.inc();
  }
  const anomalies = detectAnomalies(result, record.maxProcesses);
  for (const kind of anomalies) metrics.anomalies.inc({ kind });
  return anomalies;
}

export function cpuMsOf(result: ExecutionResult): number {
  return (result.compile?.cpuTimeMs ?? 0) + (result.run?.cpuTimeMs ?? 0);
}

/**
 * The audit line: who ran what and what it cost. Source and output only when the operator asked for them,
 * since they may hold secrets of the caller.
 */
export function auditExecution(
  log: FastifyBaseLogger,
  record: ExecutionRecord & { id: string; anomalies: string[] },
  includeSource: boolean,
): void {
  const { files, result } = record;
  const stage = (s: StageResult | null) =>
    s && {
      status: s.status,
      exitCode: s.exitCode,
      signal: s.signal,
      cpuTimeMs: s.cpuTimeMs,
      wallTimeMs: s.wallTimeMs,
      memoryBytes: s.memoryBytes,
      ...(includeSource ? { stdout: s.stdout, stderr: s.stderr } : {}),
    };
  const audit = {
    executionId: record.id,
    tenant: record.tenant,
    language: result.language,
    version: result.version,
    files: files.length,
    sourceBytes: files.reduce((n, f) => n + f.content.length, 0),
    status: result.status,
    queueWaitMs: record.queueWaitMs,
    totalMs: record.totalMs,
    compile: stage(result.compile),
    run: stage(result.run),
    ...(result.network ? { network: result.network } : {}),
    ...(record.anomalies.length ? { anomalies: record.anomalies } : {}),
    ...(includeSource
      ? { source: files.map((f) => ({ name: f.name, content: f.content.toString('utf8') })) }
      : {}),
  };
  if (record.anomalies.length) log.warn({ audit }, 'execution audit (anomaly)');
  else log.info({ audit }, 'execution audit');
}
