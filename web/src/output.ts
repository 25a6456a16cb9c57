/**
 * The output pane: each stage's stdout and stderr as they stream in (stderr in its own colour), then the
 * result: status, exit code or signal, CPU and wall time, peak memory, truncation and compile-cache flags.
 */
import type { ApiError, ExecutionResult, StageResult } from './api.js';
import { el, formatBytes, formatMs } from './dom.js';

type Stage = 'compile' | 'run';

const STATUS_TEXT: Record<string, string> = {
  ok: 'Finished',
  compile_error: 'Compile error',
  runtime_error: 'Runtime error',
  time_limit: 'Time limit exceeded',
  memory_limit: 'Memory limit exceeded',
  output_limit: 'Output limit exceeded',
  internal_error: 'Internal error',
};

export class OutputView {
  private stages = new Map<Stage, { pre: HTMLElement; meta: HTMLElement }>();

  constructor(
    private readonly body: HTMLElement,
    private readonly status: HTMLElement,
    private readonly summary: HTMLElement,
  ) {}

  /** A message in place of output (before anything ran). */
  placeholder(text: string): void {
    this.clear();
    this.body.append(el('p', 'placeholder', text));
  }

  start(): void {
    this.clear();
    this.setStatus('running', 'Starting…');
  }

  stage(stage: Stage): void {
    const meta = el('span', 'stage-meta');
    const pre = el('pre', 'stream');
    this.body.append(el('div', `stage stage-${stage}`, el('div', 'stage-head', el('span', 'stage-name', stage === 'compile' ? 'Compile' : 'Run'), meta), pre));
    this.stages.set(stage, { pre, meta });
    this.setStatus('running', stage === 'compile' ? 'Compiling…' : 'Running…');
  }

  chunk(stage: Stage, stream: 'stdout' | 'stderr', text: string): void {
    if (!this.stages.has(stage)) this.stage(stage);
    const { pre } = this.stages.get(stage)!;
    const stick = this.body.scrollHeight - this.body.scrollTop - this.body.clientHeight < 24;
    const last = pre.lastElementChild;
    if (last instanceof HTMLElement && last.classList.contains(stream)) last.append(text);
    else pre.append(el('span', stream, text));
    if (stick) this.body.scrollTop = this.body.scrollHeight;
  }

  exit(stage: Stage, result: StageResult): void {
    const entry = this.stages.get(stage);
    if (!entry) return;
    if (entry.pre.childNodes.length === 0) entry.pre.append(el('span', 'empty', result.cached ? '(from the compile cache)' : '(no output)'));
    // The compile stage says how it went on its own line; the run stage's numbers are in the summary.
    if (stage === 'compile') entry.meta.textContent = [exitText(result), formatMs(result.cpuTimeMs) + ' CPU', result.cached ? 'cached' : ''].filter(Boolean).join(' · ');
  }

  result(result: ExecutionResult): void {
    this.setStatus(result.status, result.status, STATUS_TEXT[result.status] ?? '');
    // The run stage's numbers; the compile stage's when it failed (and there was no run).
    const stage = result.run ?? result.compile;
    const items: [string, string][] = [];
    if (stage) {
      items.push(
        stage.signal ? ['signal', stage.signal] : ['exit code', String(stage.exitCode ?? '?')],
        ['CPU', formatMs(stage.cpuTimeMs)],
        ['wall', formatMs(stage.wallTimeMs)],
        ['peak memory', formatBytes(stage.memoryBytes)],
      );
    }
    const flags: string[] = [];
    for (const [name, s] of [['compile', result.compile], ['run', result.run]] as const) {
      if (s?.stdoutTruncated) flags.push(`${name} stdout truncated`);
      if (s?.stderrTruncated) flags.push(`${name} stderr truncated`);
    }
    if (result.compile && result.run) flags.push(result.compile.cached ? 'compile cached' : 'compiled');
    this.summary.replaceChildren(
      result.run || !result.compile ? '' : el('span', 'flag', 'compile stage'),
      ...items.map(([k, v]) => el('dl', 'stat', el('dt', '', k), el('dd', '', v))),
      ...flags.map((f) => el('span', `flag${f.includes('truncated') ? ' warn' : ''}`, f)),
    );
    this.summary.hidden = false;
  }

  error(err: ApiError): void {
    if (err.code === 'ABORTED') {
      this.setStatus('stopped', 'Stopped');
      return;
    }
    this.setStatus('error', 'Error');
    this.body.append(el('div', 'api-error', el('strong', '', err.message), err.code ? el('code', '', err.code) : ''));
  }

  private clear(): void {
    this.stages.clear();
    this.body.replaceChildren();
    this.summary.replaceChildren();
    this.summary.hidden = true;
    this.status.replaceChildren();
  }

  private setStatus(kind: string, badge: string, text = ''): void {
    const node = el('span', 'badge', badge);
    node.dataset.status = kind;
    node.id = 'result-status';
    this.status.replaceChildren(node, text ? el('span', 'status-text', text) : '');
  }
}

function exitText(stage: StageResult): string {
  return stage.signal ? `signal ${stage.signal}` : `exit ${stage.exitCode ?? '?'}`;
}
