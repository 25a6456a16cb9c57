/**
 * `polyrun run` and `polyrun runtimes`: the library used directly, without the HTTP service.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { errors } from '../contract/errors.js';
import { loadConfigFile } from '../config/load.js';
import type { ExecutionResult, StageResult } from '../contract/result.js';
import type { ExecutionRequest } from '../contract/request.js';
import { createExecutor, type SandboxExecutor } from '../executor/executor.js';
import { findManifest, loadManifests } from '../runtimes/registry.js';
import { BUILTIN_POLICY, applyPolicyOverride, type TenantPolicy } from '../config/policy.js';
import type { PolyrunConfig } from '../config/schema.js';
import type { LimitTable } from '../limits/limits.js';
import { parse, UsageError } from './args.js';

const MiB = 1024 * 1024;

function positiveInt(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--${flag} must be a positive integer (got "${value}")`);
  return n;
}

export async function runCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    language: { type: 'string', short: 'l' },
    stdin: { type: 'string' },
    'stdin-file': { type: 'string' },
    arg: { type: 'string', multiple: true },
    'time-limit': { type: 'string' },
    'wall-limit': { type: 'string' },
    'memory-limit': { type: 'string' },
    json: { type: 'boolean' },
    interactive: { type: 'boolean', short: 'i' },
    config: { type: 'string' },
    'allow-net': { type: 'string', multiple: true },
  });
  if (positionals.length === 0) throw new UsageError('run needs at least one FILE');
  if (values.stdin !== undefined && values['stdin-file'] !== undefined) {
    throw new UsageError('give --stdin or --stdin-file, not both');
  }
  if (values.interactive && (values.stdin !== undefined || values['stdin-file'] !== undefined || values.json)) {
    throw new UsageError('--interactive reads stdin from the terminal and prints output as it comes: not with --stdin, --stdin-file or --json');
  }
  const cpuTimeMs = positiveInt('time-limit', values['time-limit']);
  const wallTimeMs = positiveInt('wall-limit', values['wall-limit']);
  const memoryMb = positiveInt('memory-limit', values['memory-limit']);

  const manifests = await loadManifests();
  const language = values.language ?? languageFromFile(positionals[0]!);
  const manifest = findManifest(manifests, language);
  if (!manifest) {
    throw errors.unknownLanguage(language, undefined, manifests.map((m) => m.name));
  }
  const files = await Promise.all(
    positionals.map(async (path) => ({
      name: basename(path),
      content: await readFile(path).catch((err: NodeJS.ErrnoException) => {
        throw errors.badRequest(`cannot read ${path}: ${err.code ?? err.message}`);
      }),
    })),
  );
  const stdin =
    values['stdin-file'] !== undefined
      ? await readFile(values['stdin-file']).catch((err: NodeJS.ErrnoException) => {
          throw errors.badRequest(`cannot read ${values['stdin-file']}: ${err.code ?? err.message}`);
        })
      : values.stdin;

  const { config } = loadConfigFile(values.config);
  const executor = await createExecutor({ config, languages: [manifest.name], log: operatorLog });
  try {
    if (!executor.findRuntime(manifest.name)) {
      const why = executor.unavailable.find((u) => u.name === manifest.name)?.reason ?? 'not detected';
      throw errors.runtimeUnavailable(manifest.name, why);
    }
    const allowNet = values['allow-net'] ?? [];
    const request = {
      language: manifest.name,
      files,
      stdin,
      args: values.arg ?? [],
      ...(allowNet.length ? { network: { allow: allowNet } } : {}),
      limits: {
        ...(cpuTimeMs !== undefined && { cpuTimeMs }),
        ...(wallTimeMs !== undefined && { wallTimeMs }),
        ...(memoryMb !== undefined && { memoryBytes: memoryMb * MiB }),
      },
    };
    // The operator asked for the network with --allow-net: the config's default policy (its caps, its
    // ceiling) applies, enabled for this run.
    const options = allowNet.length ? { policy: cliPolicy(config, executor.maxLimits) } : {};
    if (values.interactive) {
      const outcome = await runInteractive(executor, request, options);
      if (outcome === 'interrupted') return INTERRUPTED;
      printSummary(outcome);
      return 0;
    }
    const result = await executor.execute(request, options);
    if (values.json) process.stdout.write(JSON.stringify(publicResult(result)) + '\n');
    else printHuman(result);
  } finally {
    await executor.close();
  }
  return 0;
}

function cliPolicy(config: PolyrunConfig, maxLimits: LimitTable): TenantPolicy {
  const base = applyPolicyOverride(BUILTIN_POLICY, config.defaultPolicy);
  return { ...base, maxLimits, network: { ...base.network, enabled: true } };
}

/**
 * The command line's user is the host's operator: a sandbox failure's detail (which a tenant of the
 * service only gets as a reference) is printed to stderr.
 */
function operatorLog(level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>): void {
  if (level === 'error') process.stderr.write(`polyrun: ${msg}${fields ? ` ${JSON.stringify(fields)}` : ''}\n`);
}

function languageFromFile(path: string): string {
  const dot = basename(path).lastIndexOf('.');
  if (dot <= 0) throw new UsageError(`cannot infer the language of "${path}": give --language`);
  return basename(path).slice(dot);
}

/** The result contract exactly: the interleaved `output` is for the Piston-compatible API only. */
export function publicResult(result: ExecutionResult): ExecutionResult {
  const strip = (s: StageResult | null): StageResult | null => {
    if (!s) return null;
    const { output: _output, ...rest } = s;
    return rest;
  };
  return { ...result, compile: strip(result.compile), run: strip(result.run) };
}

/** Exit status when the user stopped polyrun with Ctrl-C (128 + SIGINT, as shells report it). */
const INTERRUPTED = 130;
/** A second Ctrl-C within this time stops polyrun itself; the first one goes to the program. */
const DOUBLE_INTERRUPT_MS = 2_000;

/**
 * `run --interactive`: the terminal connected to the running program. What is typed (or piped) goes to its
 * stdin as it comes, the end of input closes its stdin, its stdout and stderr are written as they arrive;
 * Ctrl-C sends SIGINT to the program, and a second Ctrl-C within 2 s (or once the program has ended) stops
 * polyrun, cancelling the execution.
 */
async function runInteractive(
  executor: SandboxExecutor,
  request: ExecutionRequest,
  options: { policy?: TenantPolicy } = {},
): Promise<ExecutionResult | 'interrupted'> {
  const cancel = new AbortController();
  const execution = executor.start(request, {
    ...options,
    interactive: true,
    signal: cancel.signal,
    onEvent: (event) => {
      if (event.type === 'stdout') process.stdout.write(event.data);
      else if (event.type === 'stderr') process.stderr.write(event.data);
    },
  });
  let ended = false;
  let lastInterrupt = -Infinity;
  const onInterrupt = () => {
    const now = Date.now();
    if (ended || cancel.signal.aborted) process.exit(INTERRUPTED);
    if (now - lastInterrupt <= DOUBLE_INTERRUPT_MS) {
      cancel.abort();
      return;
    }
    lastInterrupt = now;
    execution.signal('SIGINT');
  };
  const onData = (chunk: Buffer) => execution.write(chunk);
  const onEnd = () => execution.end();
  process.on('SIGINT', onInterrupt);
  process.stdin.on('data', onData);
  process.stdin.on('end', onEnd);
  try {
    const result = await execution.result;
    return cancel.signal.aborted ? 'interrupted' : result;
  } finally {
    ended = true;
    process.stdin.off('data', onData);
    process.stdin.off('end', onEnd);
    process.stdin.destroy(); // nothing more to read: let the process end
    process.off('SIGINT', onInterrupt);
  }
}

function printHuman(result: ExecutionResult): void {
  if (result.compile && result.compile.status !== 'ok') {
    process.stdout.write(result.compile.stdout);
    process.stderr.write(result.compile.stderr);
  }
  if (result.run) {
    process.stdout.write(result.run.stdout);
    process.stderr.write(result.run.stderr);
  }
  printSummary(result);
}

/** The one-line summary on stderr. */
function printSummary(result: ExecutionResult): void {
  const stage = result.run ?? result.compile;
  const parts = [`${result.language} ${result.version}`, result.status];
  if (stage) {
    if (stage.exitCode !== null) parts.push(`exit ${stage.exitCode}`);
    if (stage.signal) parts.push(stage.signal);
    parts.push(`cpu ${stage.cpuTimeMs} ms`, `wall ${stage.wallTimeMs} ms`, `mem ${(stage.memoryBytes / MiB).toFixed(1)} MiB`);
    if (stage.stdoutTruncated || stage.stderrTruncated) parts.push('output truncated');
  }
  if (result.compile?.cached) parts.push('compile cached');
  const net = result.network;
  if (net) {
    parts.push(`net ${net.connections} conn, ${net.denied} denied, dns ${net.dnsQueries}/${net.dnsDenied} denied, ${net.bytesIn + net.bytesOut} B`);
    if (net.byteCapReached) parts.push('byte cap reached');
  }
  process.stderr.write(`\n[polyrun] ${parts.join(' | ')}\n`);
}

export async function runtimesCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { json: { type: 'boolean' }, config: { type: 'string' } });
  const executor = await createExecutor({ config: loadConfigFile(values.config).config, log: operatorLog });
  try {
    const runtimes = executor.runtimes();
    if (values.json) {
      process.stdout.write(
        JSON.stringify(
          {
            runtimes: runtimes.map(({ name, version, aliases, extensions, compiled }) => ({ name, version, aliases, extensions, compiled })),
            unavailable: executor.unavailable,
          },
          null,
          2,
        ) + '\n',
      );
      return 0;
    }
    const width = Math.max(...runtimes.map((r) => r.name.length), 8);
    for (const r of runtimes) {
      process.stdout.write(`${r.name.padEnd(width)}  ${r.version.padEnd(10)}  ${r.aliases.join(', ')}\n`);
    }
    for (const u of executor.unavailable) process.stdout.write(`${u.name.padEnd(width)}  unavailable: ${u.reason}\n`);
  } finally {
    await executor.close();
  }
  return 0;
}
