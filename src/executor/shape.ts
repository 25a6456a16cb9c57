/**
 * The sandbox shape an execution needs: one sandbox serves both stages, so it is sized for the larger of
 * each bound; the disk sizes come from the request bounds. Pure.
 */
import type { LimitTable, RequestBounds, StageLimits } from '../limits/limits.js';
import type { SandboxShape } from '../sandbox/sandbox.js';

export function shapeFor(limits: LimitTable, bounds: Pick<RequestBounds, 'boxBytes' | 'tmpBytes'>): SandboxShape {
  const max = (f: keyof StageLimits) => Math.max(limits.compile[f], limits.run[f]);
  return {
    memoryBytes: max('memoryBytes'),
    processes: max('processes'),
    openFiles: max('openFiles'),
    fileSizeBytes: max('fileSizeBytes'),
    workDirBytes: bounds.boxBytes,
    tmpBytes: bounds.tmpBytes,
  };
}
