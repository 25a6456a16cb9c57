/**
 * `polyrun install NAME... | --all`, `polyrun uninstall NAME...`, `polyrun runtimes --available`: runtimes on
 * demand. Packages come from the manifests (src/runtimes/install-plan.ts decides, this file acts): Debian
 * packages through apt-get (its own progress, a line per package with its size), npm packages into
 * /usr/local/lib/polyrun like scripts/setup. Then the runtimes are self-tested in real sandboxes here, and a
 * running service (found by DATA_DIR/polyrun.pid) is told with SIGHUP to detect its runtimes again.
 */
import { loadConfigFile } from '../config/load.js';
import { createExecutor } from '../executor/executor.js';
import { installSet, isInstalled, packagesOf, resolveRuntimes } from '../runtimes/install-plan.js';
import { installPackages, installedPackages, removePackages, runInTerminal, type InstallerIO } from '../runtimes/installer.js';
import type { RuntimeManifest } from '../runtimes/manifest.js';
import { languageOf, loadManifests, probeVersion } from '../runtimes/registry.js';
import { parse, UsageError } from './args.js';
import { servicePid } from './reload.js';

const say = (line: string) => process.stdout.write(`polyrun: ${line}\n`);
/** apt-get and npm write to the terminal: their own progress, a line per package with its size. */
const TERMINAL: InstallerIO = { say, run: runInTerminal };

export async function installCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { all: { type: 'boolean' }, config: { type: 'string' } });
  const manifests = await loadManifests();
  const runtimes = values.all ? manifests : resolveOrThrow(manifests, positionals, 'install');
  needRoot('installing runtimes');
  await installPackages(runtimes, TERMINAL);
  const failed = await selfTest(runtimes, values.config);
  notifyService(values.config);
  return failed === 0 ? 0 : 1;
}

export async function uninstallCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { config: { type: 'string' } });
  const manifests = await loadManifests();
  const runtimes = resolveOrThrow(manifests, positionals, 'uninstall');
  needRoot('removing runtimes');
  await removePackages(manifests, runtimes, TERMINAL);
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
