/**
 * How a running `polyrun serve` learns that runtimes were installed or removed: it writes its pid to
 * DATA_DIR/polyrun.pid, and on SIGHUP detects its runtimes again (SandboxExecutor.reloadRuntimes) without
 * a restart. `polyrun install` / `uninstall` send the signal; an operator can too (`kill -HUP $(cat ...)`).
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { SandboxExecutor } from '../executor/executor.js';

export const PID_FILE = 'polyrun.pid';

/** Write the pid file; returns its remover (which leaves a file another process has since written alone). */
export function writePidFile(dataDir: string): () => void {
  const file = join(dataDir, PID_FILE);
  writeFileSync(file, `${process.pid}\n`);
  return () => {
    if (servicePid(dataDir) === process.pid) rmSync(file, { force: true });
  };
}

/** The pid of the service serving from `dataDir`, when its pid file names a live process. */
export function servicePid(dataDir: string): number | null {
  const file = join(dataDir, PID_FILE);
  if (!existsSync(file)) return null;
  const pid = Number(readFileSync(file, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : null;
  }
}

/**
 * On SIGHUP, reload the runtimes and log what changed. Returns the unsubscriber. A node that runs no
 * sandboxes (role api: its runtimes are the workers') has nothing to reload and says so.
 */
export function reloadOnHangup(executor: Partial<Pick<SandboxExecutor, 'reloadRuntimes'>>, logger: Pick<Logger, 'info' | 'warn' | 'error'>): () => void {
  const onHangup = () => {
    if (!executor.reloadRuntimes) {
      logger.info('SIGHUP: this node runs no sandboxes; its workers detect their own runtimes');
      return;
    }
    logger.info('SIGHUP: detecting runtimes again');
    executor.reloadRuntimes().then(
      (r) => {
        for (const u of r.unavailable) logger.warn({ runtime: u.name, reason: u.reason }, 'runtime unavailable');
        logger.info({ added: r.added, removed: r.removed, mounts: r.mounts }, 'runtimes reloaded');
      },
      (err: unknown) => logger.error({ err }, 'runtime reload failed'),
    );
  };
  process.on('SIGHUP', onHangup);
  return () => process.off('SIGHUP', onHangup);
}
