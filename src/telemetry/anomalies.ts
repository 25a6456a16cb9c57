/**
 * Outcomes worth a security look, as opposed to ordinary program failures. Pure logic.
 *
 * - seccomp:         the stage's process died of SIGSYS, i.e. the syscall filter killed it: a call on its kill
 *                    list (kexec, kernel modules, reboot, swap, iopl...) or through another ABI (int 0x80,
 *                    x32). Refused syscalls (networking, mount, namespaces...) only get an errno and do not
 *                    show here.
 * - foreign_kill:    SIGKILL on a stage polyrun reports as a plain runtime error: polyrun did not kill it for a
 *                    limit, so something else did (host OOM killer, an escape attempt, a sandbox bug).
 * - output_flood:    both stdout and stderr hit the output cap in one stage (log spamming, disk-filling
 *                    attempts).
 * - cpu_beyond_wall: more CPU time than wall time x the process limit allows, which correct accounting makes
 *                    impossible: a sign the cgroup accounting was escaped or broken.
 */
import type { ExecutionResult, StageResult } from '../contract/result.js';

export type AnomalyKind = 'seccomp' | 'foreign_kill' | 'output_flood' | 'cpu_beyond_wall';

function stageAnomalies(stage: StageResult, maxProcesses: number): AnomalyKind[] {
  const found: AnomalyKind[] = [];
  if (stage.signal === 'SIGSYS') found.push('seccomp');
  if (stage.signal === 'SIGKILL' && stage.status === 'runtime_error') found.push('foreign_kill');
  if (stage.stdoutTruncated && stage.stderrTruncated) found.push('output_flood');
  if (stage.wallTimeMs > 0 && stage.cpuTimeMs > stage.wallTimeMs * Math.max(1, maxProcesses) + 1000) {
    found.push('cpu_beyond_wall');
  }
  return found;
}

export function detectAnomalies(result: ExecutionResult, maxProcesses = 256): AnomalyKind[] {
  const kinds = new Set<AnomalyKind>();
  for (const stage of [result.compile, result.run]) {
    if (stage) for (const k of stageAnomalies(stage, maxProcesses)) kinds.add(k);
  }
  return [...kinds];
}
