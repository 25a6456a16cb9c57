/**
 * After an execution (and `await ex.settle()`), nothing of its sandbox may remain on the host. `hostLeftovers`
 * lists what does; an empty list means clean.
 *
 * Processes: any process whose uid is in the sandbox range (container root maps to 200000, the program runs
 * as 201000). Other polyrun instances on this machine (parallel test files with their own state dirs, another
 * service) run sandboxes in the same range, so a process whose cgroup names another instance
 * (`.../polyrun/<other instance>/...`) is not ours: a sandboxed process cannot move itself to another
 * cgroup. Anything else in the range (in our instance's cgroup, or in no polyrun cgroup at all) is a
 * leftover, except a process the kernel is already tearing down (it reads as in no cgroup at all).
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { hierarchyBases } from '../../src/sandbox/cgroups.js';
import type { SandboxHost } from '../../src/sandbox/host.js';

const run = promisify(execFile);

export const SANDBOX_UID_MIN = 200_000;
export const SANDBOX_UID_END = 265_536;

export interface HostProcess {
  pid: number;
  ppid: number;
  /** The one-letter state from /proc/PID/status (R, S, D, Z...). */
  state: string;
  name: string;
  uids: number[];
  cgroup: string;
  /**
   * The kernel is tearing it down (PF_EXITING in /proc/PID/stat): its cgroups already read as the root, as
   * every exiting task is moved there first, so its cgroup names no instance even when it was one's.
   */
  exiting: boolean;
}

/** PF_EXITING, from the kernel's include/linux/sched.h. */
const PF_EXITING = 0x4;

function isExiting(pid: string): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces and parentheses): state, ppid, pgrp, session, tty_nr, tpgid, flags.
    const flags = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[6]);
    return (flags & PF_EXITING) !== 0;
  } catch {
    return true; // gone meanwhile
  }
}

/** Every process on the host with any of its uids (real, effective, saved, fs) in [min, end). */
export function processesInUidRange(min = SANDBOX_UID_MIN, end = SANDBOX_UID_END): HostProcess[] {
  const found: HostProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let status: string;
    try {
      status = readFileSync(`/proc/${entry}/status`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    const uids = (/^Uid:\s+(.*)$/m.exec(status)?.[1] ?? '').trim().split(/\s+/).map(Number);
    if (!uids.some((u) => u >= min && u < end)) continue;
    let cgroup = '';
    try {
      cgroup = readFileSync(`/proc/${entry}/cgroup`, 'utf8');
    } catch {
      continue;
    }
    found.push({
      pid: Number(entry),
      ppid: Number(/^PPid:\s+(\d+)/m.exec(status)?.[1] ?? 0),
      state: /^State:\s+(\S)/m.exec(status)?.[1] ?? '?',
      name: /^Name:\s+(.*)$/m.exec(status)?.[1] ?? '?',
      uids,
      cgroup,
      exiting: isExiting(entry),
    });
  }
  return found;
}

/** The polyrun instance a process's cgroup names (`.../polyrun/<instance>/...`), if any. */
export function instanceOf(p: HostProcess): string | null {
  return /\/polyrun\/([^/\n]+)/.exec(p.cgroup)?.[1] ?? null;
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

export interface HostCleanTarget {
  host: SandboxHost;
}

export async function hostLeftovers(ex: HostCleanTarget): Promise<string[]> {
  const host = ex.host;
  const problems: string[] = [];

  // 1. processes in the sandbox uid range that are not another live instance's. A zombie that is not our
  //    child is an orphan of another (crashed) service waiting for the host's init to reap it: it holds no
  //    memory, files or cgroup, and its cgroup reads as the root, so it names no instance. A zombie whose
  //    parent is this process is ours, unreaped, and counts.
  for (const p of processesInUidRange()) {
    if (p.state === 'Z' && p.ppid !== process.pid) continue;
    const inst = instanceOf(p);
    // On its way out and already moved to the root cgroups: whose it was cannot be told, and it holds nothing
    // of a sandbox any more (seen when another test file's sandbox ended at the moment this one looked).
    if (inst === null && p.exiting && p.state !== 'Z') continue;
    if (inst !== null && inst !== host.instanceId) continue;
    problems.push(`process ${p.pid} (${p.name}, state ${p.state}) uids ${p.uids.join(',')} cgroup ${p.cgroup.replace(/\n/g, ' ')}`);
  }

  // 2. containers in the OCI runtime's state; the bwrap backend keeps none: a bwrap sandbox is its cgroup,
  //    so each sandbox cgroup of the instance (in the pids hierarchy, or the unified one) counts as one
  const runtime = host.runtime;
  if (runtime && existsSync(runtime.stateRoot)) {
    const { stdout } = await run(runtime.binary, ['--root', runtime.stateRoot, ...runtime.globalArgs, 'list', '--quiet']);
    for (const id of stdout.split('\n').filter(Boolean)) problems.push(`container ${id} still in ${runtime.stateRoot}`);
  } else if (!runtime) {
    const base = host.layout.mode === 'v1' ? host.layout.base.pids : host.layout.base[''];
    const parent = base ? join(base, host.cgroupParent) : '';
    if (parent && isDir(parent)) {
      for (const id of readdirSync(parent).filter((c) => isDir(join(parent, c)))) problems.push(`container ${id} (a ${host.backend.name} sandbox: its cgroup)`);
    }
  }

  // 3. cgroup dirs under the instance's parent, in every hierarchy
  for (const base of hierarchyBases()) {
    const parent = join(base, host.cgroupParent);
    if (!isDir(parent)) continue;
    for (const child of readdirSync(parent)) {
      if (isDir(join(parent, child))) problems.push(`cgroup ${join(parent, child)}`);
    }
  }

  // 4. mounts that mention the instance dir
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    if (line.includes(host.instanceDir)) problems.push(`mount ${line}`);
  }

  // 5. bundles
  if (existsSync(host.bundlesDir)) {
    for (const b of readdirSync(host.bundlesDir)) problems.push(`bundle ${join(host.bundlesDir, b)}`);
  }
  return problems;
}
