/**
 * Tool results: what the program did (ok, runtime_error, time_limit...) is a normal result (text for the
 * model, `structuredContent` with the result contract); polyrun's own errors (unknown language, limits above
 * the maximum, quota, queue full...) are tool errors (`isError: true`) carrying the API's code and message,
 * as text and as `structuredContent.error` (the body the HTTP API answers).
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { toPolyrunError } from '../contract/errors.js';
import type { ExecutionResult, StageResult } from '../contract/result.js';
import type { McpBackend } from './backend.js';
import type { CellResult } from '../kernels/contract.js';

const MiB = 1024 * 1024;

/** A tool error from anything thrown: polyrun's code and message (INTERNAL for what is not polyrun's own). */
export function toolError(err: unknown, backend: Pick<McpBackend, 'logError'>): CallToolResult {
  const e = toPolyrunError(err);
  if (e.code === 'INTERNAL') backend.logError('mcp tool failed', err);
  const details = e.details === undefined ? '' : `\ndetails: ${JSON.stringify(e.details)}`;
  return { isError: true, content: [{ type: 'text', text: `${e.code}: ${e.message}${details}` }], structuredContent: e.toJSON() };
}

/** Run a tool handler; whatever it throws becomes a tool error. */
export async function guarded(backend: McpBackend, handler: () => Promise<CallToolResult>): Promise<CallToolResult> {
  try {
    return await handler();
  } catch (err) {
    return toolError(err, backend);
  }
}

/** The result contract exactly (the interleaved `output` belongs to the Piston-compatible API). */
function publicStage(stage: StageResult | null): StageResult | null {
  if (!stage) return null;
  const { output: _output, ...rest } = stage;
  return rest;
}

function stageSummary(name: string, stage: StageResult): string {
  const parts = [`${name}: ${stage.status}`];
  if (stage.exitCode !== null) parts.push(`exit code ${stage.exitCode}`);
  if (stage.signal) parts.push(`signal ${stage.signal}`);
  parts.push(`cpu ${stage.cpuTimeMs} ms`, `wall ${stage.wallTimeMs} ms`, `memory ${(stage.memoryBytes / MiB).toFixed(1)} MiB`);
  if (stage.cached) parts.push('compile cached');
  return parts.join(', ');
}

function stream(label: string, text: string, truncated: boolean): string {
  const note = truncated ? ' (truncated at the output limit)' : '';
  return text.length === 0 ? `${label}${note}: (empty)` : `${label}${note}:\n${text}${text.endsWith('\n') ? '' : '\n'}`;
}

/** A finished execution as a tool result: a readable summary, and the result object as structuredContent. */
export function executionToolResult(result: ExecutionResult & { id?: string }): CallToolResult {
  const structured = { ...result, compile: publicStage(result.compile), run: publicStage(result.run) };
  const lines = [`status: ${result.status} (${result.language} ${result.version})`];
  if (result.compile) lines.push(stageSummary('compile', result.compile));
  if (result.run) lines.push(stageSummary('run', result.run));
  // The compiler's messages matter when the compile failed; otherwise the run's output is the answer.
  const shown = result.compile && result.compile.status !== 'ok' ? result.compile : result.run;
  if (shown) {
    lines.push(stream('stdout', shown.stdout, shown.stdoutTruncated));
    lines.push(stream('stderr', shown.stderr, shown.stderrTruncated));
  }
  return { content: [{ type: 'text', text: lines.join('\n') }], structuredContent: structured };
}

/** A cell's answer as a tool result: output, value or error with its traceback, and the kernel's state. */
export function cellToolResult(result: CellResult): CallToolResult {
  const lines = [`status: ${result.status} (${result.language} cell ${result.executionCount}, cpu ${result.cpuTimeMs} ms, wall ${result.wallTimeMs} ms)`];
  if (result.kernel.restarted) lines.push('note: the kernel had died and was restarted before this cell: earlier state is gone');
  if (result.stdout || result.stdoutTruncated) lines.push(stream('stdout', result.stdout, result.stdoutTruncated));
  if (result.stderr || result.stderrTruncated) lines.push(stream('stderr', result.stderr, result.stderrTruncated));
  if (result.value !== null) lines.push(`value: ${result.value}`);
  if (result.error) lines.push(`error: ${result.error.name}: ${result.error.message}`, result.error.traceback);
  if (result.kernel.state === 'dead') lines.push('the kernel is dead: the next cell starts a fresh one');
  return { content: [{ type: 'text', text: lines.filter(Boolean).join('\n') }], structuredContent: result };
}

/** Any other JSON answer (a session, a listing) as a tool result. */
export function jsonToolResult(summary: string, structured: Record<string, unknown>): CallToolResult {
  return { content: [{ type: 'text', text: `${summary}\n${JSON.stringify(structured, null, 2)}` }], structuredContent: structured };
}
