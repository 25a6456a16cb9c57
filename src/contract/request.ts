/**
 * What a caller asks polyrun to run, after transport decoding (base64 already turned into bytes).
 * The HTTP layer and the CLI both build this; the executor consumes it.
 */
import type { StageLimits } from '../limits/limits.js';

export interface SourceFile {
  /** Relative path inside the working dir; validated by `validateFiles`. Empty for "use the default". */
  name?: string;
  content: Buffer;
}

export interface ExecutionRequest {
  language: string;
  /** Exact version or a semver-ish selector ("*", "3.x"); newest match wins. */
  version?: string;
  files: SourceFile[];
  stdin?: Buffer | string;
  args?: string[];
  limits?: Partial<StageLimits>;
  compileLimits?: Partial<StageLimits>;
}
