/**
 * `polyrun install NAME... | --all`, `polyrun uninstall NAME...`, `polyrun runtimes --available`: runtimes on
 * demand. Packages come from the manifests (src/runtimes/install-plan.ts decides, this file acts): Debian
 * packages through apt-get (its own progress, a line per package with its size), npm packages into
 * /usr/local/lib/polyrun like scripts/setup. Then the runtimes are self-tested in real sandboxes here, and a
 * running service (found by DATA_DIR/polyrun.pid) is told with SIGHUP to detect its runtimes again.
 */
import { execFile, spawn } from 'node:child_process';
import { loadConfigFile } from '../config/load.js';
import { createExecutor } from '../executor/executor.js';
import { installSet, isInstalled, packagesOf, removablePackages, resolveRuntimes } from '../runtimes/install-plan.js';
import type { RuntimeManifest } from '../runtimes/manifest.js';
import { languageOf, loadManifests, probeVersion } from '../runtimes/registry.js';
import { parse, UsageError } from './args.js';
import { servicePid } from './reload.js';

/** Where runtime npm packages go (under /usr, so sandboxes see them read-only); as in scripts/setup. */
const RUNTIME_NPM_PREFIX = '/usr/local/lib/polyrun';
/** What polyrun itself needs from apt (scripts/setup's BASE_APT): never removed by an uninstall. */
const POLYRUN_APT = ['runc', 'crun', 'gcc', 'libc6-dev'];

const say = (line: string) => process.stdout.write(`polyrun: ${line}\n`);

export async function installCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { all: { type: 'boolean' }, config: { type: 'string' } });
  const manifests = await loadManifests();
  const runtimes = values.all ? manifests : resolveOrThrow(manifests, positionals, 'install');
  needRoot('installing runtimes');

  const installed = await installedPackages(packagesOf(runtimes).apt);
  const missing = packagesOf(runtimes).apt.filter((p) => !installed.has(p));
  for (const m of runtimes) {
    const todo = (m.packages.apt ?? []).filter((p) => !installed.has(p));
    say(`${m.name}: ${todo.length === 0 ? 'Debian packages present' : `installing ${todo.join(' ')}`}`);
  }
  if (missing.length > 0) {
    const aptArgs = ['-o', 'DPkg::Lock::Timeout=900', '-o', 'Dpkg::Use-Pty=0', 'install', '-y', '--no-install-recommends', ...missing];
    if ((await run('apt-get', aptArgs)) !== 0) {
      say('apt-get install failed: updating the package lists and trying once more');
      if ((await run('apt-get', ['-o', 'DPkg::Lock::Timeout=900', 'update'])) !== 0 || (await run('apt-get', aptArgs)) !== 0) {
        throw new Error(`apt-get install ${missing.join(' ')} failed (its output is above)`);
      }
    }
  }
  const npm = packagesOf(runtimes).npm;
  if (npm.length > 0) {
    say(`npm packages into ${RUNTIME_NPM_PREFIX}: ${npm.join(' ')}`);
    if ((await run('npm', ['install', '--prefix', RUNTIME_NPM_PREFIX, '--no-audit', '--no-fund', '--loglevel=error', ...npm])) !== 0) {
      throw new Error(`npm install ${npm.join(' ')} failed (its output is above)`);
    }
  }

  const failed = await selfTest(runtimes, values.config);
  notifyService(values.config);
  return failed === 0 ? 0 : 1;
}

export async function uninstallCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { config: { type: 'string' } });
  const manifests = await loadManifests();
  const runtimes = resolveOrThrow(manifests, positionals, 'uninstall');
  needRoot('removing runtimes');
  const installed = await installedPackages(packagesOf(manifests).apt.concat(POLYRUN_APT));
  const plan = removablePackages(manifests, runtimes, installed, POLYRUN_APT);
  for (const name of plan.refused) say(`${name} is a core runtime: kept`);
  for (const k of plan.kept) say(`${k.pkg} stays: ${k.by} needs it`);
  if (plan.remove.length === 0) {
    say('nothing to remove');
  } else {
    say(`removing ${plan.remove.join(' ')}`);
    if ((await run('apt-get', ['-o', 'DPkg::Lock::Timeout=900', 'remove', '-y', ...plan.remove])) !== 0) {
      throw new Error(`apt-get remove ${plan.remove.join(' ')} failed (its output is above)`);
    }
  }
  notifyService(values.config);
  return 0;
}

/** Every runtime polyrun knows: installed or not, its install set, the version here. */
export async function availableCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { available: { type: 'boolean' }, json: { type: 'boolean' }, config: { type: 'string' } });
  void values.config;
  const manifests = await loadManifests();
  const installed = await installedPackages(packagesOf(manifests).apt);
  const rows = await Promise.all(
    manifests.map(async (m) => {
      const present = isInstalled(m, installed);
      return {
        name: m.name,
        language: languageOf(m),
        installed: present,
        version: present ? await probeVersion(m) : null,
        set: installSet(m),
        packages: m.packages.apt ?? [],
      };
    }),
  );
  if (values.json) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return 0;
  }
  const width = Math.max(...rows.map((r) => r.name.length));
  const lwidth = Math.max(...rows.map((r) => r.language.length));
  for (const r of rows) {
    const state = r.installed ? `installed ${r.version ?? '(no version answer)'}` : 'not installed';
    process.stdout.write(`${r.name.padEnd(width)}  ${r.language.padEnd(lwidth)}  ${r.set.padEnd(9)}  ${state.padEnd(24)}  ${r.packages.join(' ')}\n`);
  }
  const count = rows.filter((r) => r.installed).length;
  process.stdout.write(`\n${count} of ${rows.length} runtimes installed; \`polyrun install NAME\` adds one, \`polyrun install --all\` all.\n`);
  return 0;
}

function resolveOrThrow(manifests: readonly RuntimeManifest[], names: string[], verb: string): RuntimeManifest[] {
  if (names.length === 0) throw new UsageError(`${verb} needs runtime names${verb === 'install' ? ' (or --all)' : ''}; \`polyrun runtimes --available\` lists them`);
  const { found, unknown } = resolveRuntimes(manifests, names);
  if (unknown.length > 0) throw new UsageError(`unknown runtime ${unknown.join(', ')}; known: ${manifests.map((m) => m.name).join(', ')}`);
  return found;
}

function needRoot(what: string): void {
  if (process.getuid?.() !== 0) throw new Error(`${what} needs root (apt-get): run it as root or with sudo`);
}

/** Self-test the runtimes in real sandboxes (the detection cache of the data dir remembers passes). */
async function selfTest(runtimes: readonly RuntimeManifest[], configFile: string | undefined): Promise<number> {
  say(`self-testing ${runtimes.map((m) => m.name).join(', ')} in sandboxes`);
  const executor = await createExecutor({ config: loadConfigFile(configFile).config, languages: runtimes.map((m) => m.name) });
  try {
    for (const r of executor.runtimes()) say(`${r.name} ${r.version}: self-test passed`);
    for (const u of executor.unavailable) say(`${u.name}: NOT available: ${u.reason}`);
    return executor.unavailable.length;
  } finally {
    await executor.close();
  }
}

function notifyService(configFile: string | undefined): void {
  const { dataDir } = loadConfigFile(configFile).config;
  const pid = servicePid(dataDir);
  if (pid === null) {
    say('no running service found (it will detect the runtimes when it starts)');
    return;
  }
  process.kill(pid, 'SIGHUP');
  say(`told the running service (pid ${pid}) to detect its runtimes again; it serves them when their self-tests pass`);
}

/** The installed ones among `packages` (dpkg's view; a package dpkg does not know is simply absent). */
function installedPackages(packages: readonly string[]): Promise<Set<string>> {
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

/** Run a command with the terminal as its stdio (apt's progress shows as it comes); resolves to its status. */
function run(command: string, args: string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    child.on('error', () => resolve(127));
    child.on('close', (code) => resolve(code ?? 1));
  });
}
