/**
 * The OCI runtime CLI (runc by default; crun and runsc speak the same commands). Every call is an argv
 * array through execFile/spawn: nothing from a request ever reaches a shell.
 */
import { execFile, spawn, type ChildProcessByStdio } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

export type SandboxProcess = ChildProcessByStdio<Writable, Readable, Readable>;

export class OciRuntime {
  constructor(
    readonly binary: string,
    /** The runtime's state dir (its --root), one per service instance. */
    readonly stateRoot: string,
    /** Global options before the command (runsc's --network=none and friends). */
    readonly globalArgs: readonly string[] = [],
  ) {}

  private args(...rest: string[]): string[] {
    return ['--root', this.stateRoot, ...this.globalArgs, ...rest];
  }

  /**
   * Create and start a container and stay its parent (`run` in the foreground): the container's first
   * process gets the returned stdio pipes (fd 0 and fd 1 carry polyrun-init's frames; the runtime's own
   * error messages arrive on stderr). When the container's first process exits, the runtime removes the
   * container and its cgroup and exits too. Foreground, not --detach, because Node destroys a child's
   * stdin the moment the child exits, which would cut the channel to a detached container.
   */
  run(id: string, bundle: string, options: { niceness?: number } = {}): SandboxProcess {
    const argv = this.args('run', '--bundle', bundle, id);
    // `nice` (coreutils) lowers the runtime's priority before it does any work; Sandbox.promote() gives the
    // container's processes the normal priority back when the sandbox is handed an execution.
    const [command, args] = options.niceness ? ['nice', ['-n', String(options.niceness), this.binary, ...argv]] : [this.binary, argv];
    return spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  }

  /** Whether the runtime still keeps state for a container (runc, crun and runsc keep a dir per id). */
  hasState(id: string): boolean {
    return existsSync(join(this.stateRoot, id));
  }

  kill(id: string, signal = 'KILL'): Promise<void> {
    return this.exec(['kill', id, signal]).then(() => undefined);
  }

  delete(id: string): Promise<void> {
    return this.exec(['delete', '--force', id]).then(() => undefined);
  }

  async list(): Promise<string[]> {
    const out = await this.exec(['list', '--quiet']);
    return out.split('\n').filter(Boolean);
  }

  async version(): Promise<string> {
    const out = await new Promise<string>((resolve, reject) =>
      execFile(this.binary, ['--version'], { timeout: 10_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
    );
    return out.split('\n')[0] ?? '';
  }

  private exec(rest: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(this.binary, this.args(...rest), { timeout: 30_000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`${this.binary} ${rest[0]} failed: ${String(stderr).trim() || err.message}`));
        else resolve(String(stdout));
      });
    });
  }
}
