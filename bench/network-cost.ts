/**
 * The cost of a networked sandbox (profile network "egress") against one without network: wall time of
 * Sandbox.start + one trivial stage + destroy, and the CPU polyrun and its children (runc, ip, nft) spend on
 * it. Run as root: `node --import tsx bench/network-cost.ts [runs]`. Prints one line per mode; the numbers
 * in docs/network.md come from here. Uses its own state dir; nothing is left behind.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DEFAULT_DENY_CIDRS } from '../src/config/schema.js';
import type { SandboxProfile } from '../src/contract/profile.js';
import { DEFAULT_LIMITS } from '../src/limits/limits.js';
import { SandboxNetworks } from '../src/network/netns.js';
import { SandboxHost } from '../src/sandbox/host.js';
import { Sandbox } from '../src/sandbox/sandbox.js';
import { testHostConfig } from '../test/helpers/host-config.js';

const MiB = 1024 * 1024;
const runs = Number(process.argv[2] ?? 20);
const SHAPE = { memoryBytes: 256 * MiB, processes: 64, openFiles: 256, fileSizeBytes: 16 * MiB, workDirBytes: 16 * MiB, tmpBytes: 16 * MiB };
const TICK_MS = 10; // USER_HZ 100

/** CPU of this process and its waited-for children (runc, ip, nft), ms. */
function cpuMs(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  // after "pid (comm) ": state is [0]; utime [11], stime [12], cutime [13], cstime [14]
  return [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0) * TICK_MS;
}

const stateDir = mkdtempSync(join(tmpdir(), 'polyrun-netcost-'));
const network = new SandboxNetworks({ upstreamDns: '127.0.0.1', denyCidrs: [...DEFAULT_DENY_CIDRS], linkPool: '10.203.0.0/16', stateDir });
const host = await SandboxHost.create(testHostConfig({ stateDir, network }));
const profiles: Record<string, SandboxProfile> = {
  none: { seccomp: 'default', network: 'none' },
  egress: {
    seccomp: 'default',
    network: 'egress',
    egress: { allow: ['pypi.org:443', '198.51.100.0/24'], bytesPerExecution: 64 * MiB, bandwidthBytesPerSecond: 8 * MiB, maxConnections: 32 },
  },
};
try {
  for (const [name, profile] of [...Object.entries(profiles), ...Object.entries(profiles)]) {
    const walls: number[] = [];
    const cpu0 = cpuMs();
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const sb = await Sandbox.start(host, SHAPE, { profile });
      await sb.runStage({ argv: ['/bin/true'], env: {}, limits: DEFAULT_LIMITS.run });
      await sb.destroy();
      walls.push(performance.now() - t0);
    }
    const cpu = (cpuMs() - cpu0) / runs;
    walls.sort((a, b) => a - b);
    const p = (q: number) => walls[Math.min(walls.length - 1, Math.floor(q * walls.length))]!.toFixed(1);
    console.log(`${name.padEnd(7)} runs ${runs}  wall p50 ${p(0.5)} ms  p90 ${p(0.9)} ms  cpu/run ${cpu.toFixed(1)} ms`);
  }
} finally {
  await host.cleanup();
  rmSync(stateDir, { recursive: true, force: true });
}
