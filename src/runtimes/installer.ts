/**
 * Installing and removing runtimes' packages on this host: what `polyrun install` / `uninstall` and the
 * Piston package endpoints (POST/DELETE /api/v2/packages) do. The decisions are install-plan.ts's (pure);
 * this module asks dpkg and runs apt-get and npm. How a command's output is shown is the caller's: the CLI
 * passes the terminal, the API collects it.
 */
import { execFile, spawn } from 'node:child_process';
import type { RuntimeManifest } from './manifest.js';
import { packagesOf, removablePackages } from './install-plan.js';

/** Where runtime npm packages go (under /usr, so sandboxes see them read-only); as in scripts/setup. */
export const RUNTIME_NPM_PREFIX = '/usr/local/lib/polyrun';
/** What polyrun itself needs from apt (scripts/setup's BASE_APT): never removed by an uninstall. */
export const POLYRUN_APT = ['runc', 'crun', 'gcc', 'libc6-dev'];

export interface InstallerIO {
  /** A line of polyrun's own progress. */
  say(line: string): void;
  /** Run a command (apt-get, npm), its output going wherever the caller wants; resolves to its exit status. */
  run(command: string, args: string[]): Promise<number>;
}

/** apt-get without its pty progress bar (the per-package lines with sizes stay), waiting for a held lock. */
const APT = ['-o', 'DPkg::Lock::Timeout=900', '-o', 'Dpkg::Use-Pty=0'];

/** Install the Debian and npm packages of `runtimes` that are missing. Throws when apt-get or npm fails. */
export async function installPackages(runtimes: readonly RuntimeManifest[], io: InstallerIO): Promise<void> {
  const { apt, npm } = packagesOf(runtimes);
  const installed = await installedPackages(apt);
  for (const m of runtimes) {
    const todo = (m.packages.apt ?? []).filter((p) => !installed.has(p));
    io.say(`${m.name}: ${todo.length === 0 ? 'Debian packages present' : `installing ${todo.join(' ')}`}`);
  }
  const missing = apt.filter((p) => !installed.has(p));
  if (missing.length > 0) {
    const install = [...APT, 'install', '-y', '--no-install-recommends', ...missing];
    if ((await io.run('apt-get', install)) !== 0) {
      io.say('apt-get install failed: updating the package lists and trying once more');
      if ((await io.run('apt-get', [...APT, 'update'])) !== 0 || (await io.run('apt-get', install)) !== 0) {
        throw new Error(`apt-get install ${missing.join(' ')} failed`);
      }
    }
  }
  if (npm.length > 0) {
    io.say(`npm packages into ${RUNTIME_NPM_PREFIX}: ${npm.join(' ')}`);
    if ((await io.run('npm', ['install', '--prefix', RUNTIME_NPM_PREFIX, '--no-audit', '--no-fund', '--loglevel=error', ...npm])) !== 0) {
      throw new Error(`npm install ${npm.join(' ')} failed`);
    }
  }
}

/** Remove the Debian packages of `runtimes` that nothing else installed needs (see removablePackages). */
export async function removePackages(all: readonly RuntimeManifest[], runtimes: readonly RuntimeManifest[], io: InstallerIO): Promise<string[]> {
  const installed = await installedPackages(packagesOf(all).apt.concat(POLYRUN_APT));
  const plan = removablePackages(all, runtimes, installed, POLYRUN_APT);
  for (const name of plan.refused) io.say(`${name} is a core runtime: kept`);
  for (const k of plan.kept) io.say(`${k.pkg} stays: ${k.by} needs it`);
  if (plan.remove.length === 0) {
    io.say('nothing to remove');
    return [];
  }
  io.say(`removing ${plan.remove.join(' ')}`);
  if ((await io.run('apt-get', [...APT, 'remove', '-y', ...plan.remove])) !== 0) throw new Error(`apt-get remove ${plan.remove.join(' ')} failed`);
  return plan.remove;
}

/** The installed ones among `packages` (dpkg's view; a package dpkg does not know is simply absent). */
export function installedPackages(packages: readonly string[]): Promise<Set<string>> {
  if (packages.length === 0) return Promise.resolve(new Set());
  return new Promise((resolve) => {
    execFile('dpkg-query', ['-W', '-f=${db:Status-Abbrev} ${Package}\\n', ...packages], { maxBuffer: 4 * 1024 * 1024 }, (_err, stdout) => {
      // dpkg-query exits 1 when some package is unknown, yet prints the others: the output is what counts.
      const names = String(stdout)
        .split('\n')
        .map((line) => line.trim().split(/\s+/))
        .filter(([status]) => status === 'ii')
        .map(([, name]) => (name ?? '').replace(/:.*$/, ''));
      resolve(new Set(names));
    });
  });
}

/** Debian's candidate version of each of `packages` ("1:2.90.3-1" -> "2.90.3"), for what is not installed. */
export function candidateVersions(packages: readonly string[]): Promise<Map<string, string>> {
  if (packages.length === 0) return Promise.resolve(new Map());
  return new Promise((resolve) => {
    execFile('apt-cache', ['policy', ...packages], { maxBuffer: 8 * 1024 * 1024 }, (_err, stdout) => {
      const out = new Map<string, string>();
      let current: string | undefined;
      for (const line of String(stdout).split('\n')) {
        const head = /^(\S+):$/.exec(line);
        if (head) current = head[1];
        const candidate = /^\s+Candidate: (?:\d+:)?(\d[^-+~\s]*)/.exec(line);
        if (candidate && current) out.set(current, candidate[1] as string);
      }
      resolve(out);
    });
  });
}

/** Run a command with `onOutput` receiving its stdout and stderr; for the API (no terminal). */
export function runCollecting(command: string, args: string[], onOutput: (chunk: string) => void): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    child.stdout.on('data', (d: Buffer) => onOutput(d.toString()));
    child.stderr.on('data', (d: Buffer) => onOutput(d.toString()));
    child.on('error', () => resolve(127));
    child.on('close', (code) => resolve(code ?? 1));
  });
}

/** Run a command with the terminal as its stdio (apt's progress shows as it comes); for the CLI. */
export function runInTerminal(command: string, args: string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    child.on('error', () => resolve(127));
    child.on('close', (code) => resolve(code ?? 1));
  });
}
