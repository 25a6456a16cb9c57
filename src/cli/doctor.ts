/**
 * `polyrun doctor`: checks what the sandbox needs from this host, each check with a plain fix, and ends
 * with a real sandbox run. Exit 1 when a required check fails.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { detectCgroupLayout } from '../sandbox/cgroups.js';
import { bwrapBlocker, chooseBackend, gvisorBlocker, hostFacts, type BackendSetting } from '../sandbox/backends/choose.js';
import { projectPath } from '../project.js';
import { loadConfigFile } from '../config/load.js';
import { createExecutor } from '../executor/executor.js';
import { parseUpstream } from '../network/netns.js';
import { parse } from './args.js';

interface Check {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
  /** A failed optional check is a warning, not a failure. */
  optional?: boolean;
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return fallback;
  }
}

function version(binary: string): Promise<string | null> {
  return new Promise((resolve) =>
    execFile(binary, ['--version'], { timeout: 10_000 }, (err, stdout) => resolve(err ? null : stdout.split('\n')[0]!)),
  );
}

/** Controllers enabled on the v2 mount of a hybrid (v1 + v2) host: what makes crun refuse the host. */
function hybridV2Controllers(): string[] {
  try {
    const layout = detectCgroupLayout();
    if (layout.mode !== 'v1') return [];
    return readOr('/sys/fs/cgroup/unified/cgroup.controllers', '').split(' ').filter(Boolean);
  } catch {
    return [];
  }
}

/**
 * The sandbox backend checks: which backend the setting gives on this host and why, what bwrap needs
 * (required when it is the backend: bubblewrap, the helpers, unprivileged user namespaces, on Ubuntu
 * 23.10+ the AppArmor restriction on them), and whether the gVisor tier is there. The service's own
 * choice (with a real bwrap start for `auto`) is shown by the "sandboxes start" check below.
 */
function backendChecks(setting: BackendSetting, ociRuntime: string): Check[] {
  const facts = hostFacts({ launcher: projectPath('build', 'polyrun-launch'), seccompCompiler: projectPath('build', 'polyrun-seccomp-bpf') });
  const choice = chooseBackend(setting, ociRuntime, facts);
  const bwrap = bwrapBlocker(facts);
  const gvisor = gvisorBlocker(facts);
  return [
    { name: 'sandbox backend', ok: true, detail: `${choice.backend} (${choice.runtime}): ${choice.reason}` },
    {
      name: 'bwrap backend',
      ok: bwrap === null,
      detail: bwrap ?? 'bubblewrap, its helpers and unprivileged user namespaces are there',
      fix: bwrap ?? undefined,
      optional: choice.backend !== 'bwrap',
    },
    {
      name: 'gVisor tier (isolation: "gvisor")',
      ok: gvisor === null,
      detail: gvisor ?? 'runsc is installed',
      fix: gvisor ?? undefined,
      optional: choice.backend !== 'gvisor',
    },
  ];
}

export async function hostChecks(ociRuntime: string, backend: BackendSetting = 'oci'): Promise<Check[]> {
  const checks: Check[] = [];
  const isRoot = process.getuid?.() === 0;
  checks.push({
    name: 'running as root',
    ok: isRoot,
    detail: isRoot ? 'uid 0' : `uid ${process.getuid?.()}`,
    fix: 'run polyrun as root: it starts containers with a user namespace and writes cgroup limits',
  });
  const userns = Number(readOr('/proc/sys/user/max_user_namespaces', '0'));
  checks.push({
    name: 'user namespaces',
    ok: userns > 0,
    detail: `max_user_namespaces = ${userns}`,
    fix: 'sysctl -w user.max_user_namespaces=15000',
  });
  const seccomp = existsSync('/proc/sys/kernel/seccomp/actions_avail');
  checks.push({
    name: 'seccomp filters',
    ok: seccomp,
    detail: seccomp ? readOr('/proc/sys/kernel/seccomp/actions_avail', '') : 'kernel reports no seccomp support',
    fix: 'use a kernel built with CONFIG_SECCOMP_FILTER',
  });
  try {
    const layout = detectCgroupLayout();
    const needed = ['memory', 'pids', 'cpuacct', 'cpu'];
    const missing =
      layout.mode === 'v1'
        ? needed.filter((c) => !layout.base[c])
        : ['memory', 'pids', 'cpu'].filter(
            (c) => !readOr(join(layout.base['']!, 'cgroup.controllers'), '').split(' ').includes(c),
          );
    checks.push({
      name: `cgroup ${layout.mode} controllers`,
      ok: missing.length === 0,
      detail: missing.length ? `missing: ${missing.join(', ')}` : (layout.mode === 'v1' ? needed : ['memory', 'pids', 'cpu']).join(', '),
      fix: 'mount the missing cgroup controllers (or boot with systemd.unified_cgroup_hierarchy=1)',
    });
  } catch (err) {
    checks.push({ name: 'cgroups', ok: false, detail: (err as Error).message, fix: 'mount cgroupfs at /sys/fs/cgroup' });
  }
  checks.push(...backendChecks(backend, ociRuntime));
  const facts = hostFacts({ launcher: projectPath('build', 'polyrun-launch'), seccompCompiler: projectPath('build', 'polyrun-seccomp-bpf') });
  const oci = chooseBackend('oci', ociRuntime, facts).runtime;
  const runtimeVersion = await version(oci);
  checks.push({
    name: `OCI runtime ${oci}${ociRuntime === 'auto' ? ' (auto)' : ''}`,
    ok: runtimeVersion !== null,
    detail: runtimeVersion ?? 'not found',
    fix: `apt-get install ${oci} (or run scripts/setup)`,
    // Needed by the oci backend; with bwrap it is the fallback, with gVisor runsc is the runtime.
    optional: backend === 'bwrap' || backend === 'gvisor',
  });
  for (const other of ['crun', 'runsc'].filter((r) => r !== oci)) {
    const v = await version(other);
    checks.push({
      name: `alternative runtime ${other}`,
      ok: v !== null,
      detail: v ?? 'not installed',
      optional: true,
    });
  }
  checks.push(...(await networkChecks()));
  const hybridControllers = hybridV2Controllers();
  if (hybridControllers.length > 0) {
    checks.push({
      name: 'crun on this hybrid cgroup host',
      ok: false,
      detail: `crun refuses hybrid hosts whose cgroup v2 mount holds controllers (here: ${hybridControllers.join(', ')}); runc is unaffected`,
      fix: hybridControllers
        .map((c) => `mkdir -p /sys/fs/cgroup/${c} && mount -t cgroup -o ${c} cgroup /sys/fs/cgroup/${c}`)
        .join(' && '),
      optional: true,
    });
  }
  return checks;
}

/**
 * What networked sandboxes (a tenant with network.enabled, `run --allow-net`) need. Optional: without
 * them every sandbox still runs, with no network.
 */
async function networkChecks(): Promise<Check[]> {
  const nft = await version('nft');
  const ip = await new Promise<string | null>((resolve) =>
    execFile('ip', ['-V'], { timeout: 10_000 }, (err, stdout) => resolve(err ? null : stdout.trim())),
  );
  const netns =
    ip !== null &&
    existsSync('/proc/self/ns/net') &&
    (await new Promise<boolean>((resolve) => execFile('ip', ['netns', 'list'], { timeout: 10_000 }, (err) => resolve(!err))));
  const forward = readOr('/proc/sys/net/ipv4/ip_forward', '0');
  let upstream: string;
  let upstreamOk = true;
  try {
    const u = parseUpstream(loadConfigFile(undefined).config.network.upstreamDns);
    upstream = `${u.address}:${u.port}`;
  } catch (err) {
    upstream = (err as Error).message;
    upstreamOk = false;
  }
  return [
    { name: 'network: nftables', ok: nft !== null, detail: nft ?? 'nft not found', fix: 'apt-get install nftables (or run scripts/setup)', optional: true },
    { name: 'network: network namespaces', ok: netns, detail: ip ?? 'ip not found', fix: 'apt-get install iproute2 (or run scripts/setup)', optional: true },
    { name: 'network: IP forwarding', ok: forward === '1', detail: `net.ipv4.ip_forward = ${forward}`, fix: 'sysctl -w net.ipv4.ip_forward=1 (and set it in /etc/sysctl.d/ to keep it)', optional: true },
    { name: 'network: upstream resolver', ok: upstreamOk, detail: upstream, fix: 'set network.upstreamDns (POLYRUN_DNS_UPSTREAM) to ip[:port]', optional: true },
  ];
}

export async function doctorCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { config: { type: 'string' } });
  const { config } = loadConfigFile(values.config);
  const ociRuntime = config.sandbox.ociRuntime;
  const checks = await hostChecks(ociRuntime, config.sandbox.backend);
  const required = checks.filter((c) => !c.optional);
  if (required.every((c) => c.ok)) {
    const started = performance.now();
    try {
      const executor = await createExecutor({ config });
      const health = executor.health();
      const info = executor.sandboxInfo();
      checks.push({ name: 'backend in use', ok: true, detail: `${info.backend} (${info.runtime}): ${info.reason}` });
      checks.push({
        name: 'sandboxes start',
        ok: health.ready,
        // doctor runs on the host, for the operator: the full cause (host paths included) belongs here.
        detail: health.ready ? 'a sandbox started and ran a stage' : (executor.healthCause ?? health.detail),
        fix: 'check the OCI runtime and the cgroup checks above',
      });
      const runtimes = executor.runtimes();
      const bash = runtimes.find((r) => r.name === 'bash') ?? runtimes[0];
      let sandboxOk = false;
      let detail = 'no runtime passed its self-test';
      if (bash) {
        const result = await executor.execute({ language: bash.name, files: executor.selfTestFiles(bash.name) });
        sandboxOk = result.status === 'ok';
        detail = `${bash.name} self-test ${result.status} in ${Math.round(performance.now() - started)} ms`;
      }
      checks.push({ name: 'sandbox runs a program', ok: sandboxOk, detail, fix: 'see the error above; run `polyrun runtimes`' });
      checks.push({
        name: 'runtimes',
        ok: runtimes.length > 0,
        detail: `${runtimes.length} available: ${runtimes.map((r) => `${r.name} ${r.version}`).join(', ')}`,
        fix: 'run scripts/setup --all to install the language toolchains',
      });
      for (const u of executor.unavailable) {
        checks.push({ name: `runtime ${u.name}`, ok: false, detail: u.reason, fix: 'scripts/setup --all', optional: true });
      }
      await executor.close();
    } catch (err) {
      checks.push({ name: 'sandbox runs a program', ok: false, detail: (err as Error).message, fix: 'fix the failed checks above' });
    }
  }
  for (const c of checks) {
    const mark = c.ok ? 'ok  ' : c.optional ? 'warn' : 'FAIL';
    process.stdout.write(`[${mark}] ${c.name}: ${c.detail}\n`);
    if (!c.ok && c.fix) process.stdout.write(`       fix: ${c.fix}\n`);
  }
  const failed = checks.filter((c) => !c.ok && !c.optional);
  process.stdout.write(failed.length === 0 ? '\npolyrun doctor: all required checks passed\n' : `\npolyrun doctor: ${failed.length} required check(s) failed\n`);
  return failed.length === 0 ? 0 : 1;
}
