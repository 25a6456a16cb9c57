/**
 * SandboxNetworks: the network of each networked sandbox (profile network "egress"), behind the small
 * interface a sandbox backend needs: `attach` → a network namespace path to join (and a resolv.conf to
 * show at /etc/resolv.conf), `stats`, `close`. Any backend that can join a netns by path can use it.
 *
 * Per sandbox (slot n of the link pool, owner pid p):
 *   netns  polyrun-p-n          veth  pn<n>h (host, gateway address) <-> pn<n>s (in the netns, address)
 *   nft    inet polyrun (in the netns), inet polyrun_p_n (host)        DNS filter on gateway:53
 * The host interface name is the slot's lock: `ip link add` fails when another process holds the slot.
 * What a dead process left (its pid is in the names) is removed by `sweep()` at start-up.
 */
import { readFileSync, existsSync } from 'node:fs';
import { mkdir, rm, writeFile, chmod } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { Egress } from '../contract/profile.js';
import type { NetworkStats } from '../contract/result.js';
import { cidr, parseCidr, type Cidr } from './address.js';
import { parseAllowList, type AllowEntry } from './allowlist.js';
import { ipBatch, nft, nftJson, run } from './exec.js';
import { groupEntries, hostRuleset, pinSetsFor, readCounters, readDeniedDestinations, sandboxRuleset, SANDBOX_TABLE, type FirewallPlan } from './firewall.js';
import { allocateLink, slotCount } from './link-pool.js';
import { DnsFilter, type Upstream } from './resolver.js';
import { NameCheck } from './name-check.js';

/** What a sandbox backend gets for one networked sandbox. */
export interface SandboxNetwork {
  /** Network namespace to join (OCI linux.namespaces[].path). */
  readonly netnsPath: string;
  /** Host files to bind read-only over the sandbox's /etc (resolv.conf naming its DNS filter, nsswitch.conf). */
  readonly etcFiles: { destination: string; source: string }[];
  /** The counters for the result, and the refused names and destinations for the audit line (bounded). */
  report(): Promise<{ stats: NetworkStats; denied: string[] }>;
  close(): Promise<void>;
}

export interface NetworkProvider {
  attach(sandboxId: string, egress: Egress): Promise<SandboxNetwork>;
}

export interface NetworkSettings {
  /** "ip[:port]"; "" = the host's first nameserver. */
  upstreamDns: string;
  denyCidrs: string[];
  linkPool: string;
  /** Where per-sandbox resolv.conf files live (must be traversable by the sandbox's mapped uid). */
  stateDir: string;
}

const NETNS_PREFIX = 'polyrun-';
const HOST_TABLE_PREFIX = 'polyrun_';
const SLOT_TRIES = 64;

export function parseUpstream(text: string, resolvConf = '/etc/resolv.conf'): Upstream {
  let spec = text;
  if (!spec) {
    const line = existsSync(resolvConf) ? readFileSync(resolvConf, 'utf8').split('\n').find((l) => /^\s*nameserver\s+\S+/.test(l)) : undefined;
    if (!line) throw new Error(`no upstream resolver: set network.upstreamDns (POLYRUN_DNS_UPSTREAM); ${resolvConf} names none`);
    spec = line.trim().split(/\s+/)[1]!;
  }
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(spec);
  const [address, port] = bracket ? [bracket[1]!, bracket[2]] : spec.split(':').length === 2 ? spec.split(':') : [spec, undefined];
  if (!parseCidr(address!).ok) throw new Error(`network.upstreamDns: "${spec}" is not ip[:port]`);
  return { address: address!, port: port ? Number(port) : 53 };
}

/** The host's own addresses, as /32 and /128 blocks (always denied: the host is not a destination). */
function hostAddresses(): Cidr[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((i): i is NonNullable<typeof i> => !!i && !i.internal && i.family === 'IPv4')
    .map((i) => cidr(i.address));
}

export class SandboxNetworks implements NetworkProvider {
  private readonly pool: Cidr;
  private readonly deny: Cidr[];
  private upstream?: Upstream;
  private checked?: Promise<void>;

  constructor(private readonly settings: NetworkSettings) {
    this.pool = cidr(settings.linkPool);
    this.deny = [...settings.denyCidrs.map(cidr), this.pool];
  }

  /** IP forwarding is a host setting polyrun does not change by itself (`polyrun doctor` says how). */
  private prerequisites(): Promise<void> {
    this.checked ??= (async () => {
      this.upstream = parseUpstream(this.settings.upstreamDns);
      if (readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim() !== '1') {
        throw new Error('IP forwarding is off (net.ipv4.ip_forward = 0): run `sysctl -w net.ipv4.ip_forward=1` (see polyrun doctor)');
      }
      await run('nft', ['--version']).catch(() => {
        throw new Error('nft is not installed (Debian package nftables): run scripts/setup');
      });
    })();
    this.checked.catch(() => (this.checked = undefined));
    return this.checked;
  }

  async attach(sandboxId: string, egress: Egress): Promise<SandboxNetwork> {
    await this.prerequisites();
    const { entries } = parseAllowList(egress.allow);
    const slots = slotCount(this.pool);
    const first = Math.floor(Math.random() * slots);
    for (let i = 0; i < SLOT_TRIES; i++) {
      const slot = (first + i * 7919) % slots;
      const link = new AttachedNetwork(slot, this.settings.stateDir);
      const { gateway, prefix } = allocateLink(this.pool, slot);
      try {
        // One `ip` run; it stops at the first failure, and the first line is the slot's lock.
        await ipBatch([
          `link add pn${slot}h type veth peer name pn${slot}s`,
          `netns add ${link.netns}`,
          `link set pn${slot}s netns ${link.netns}`,
          `addr add ${gateway}/${prefix} dev pn${slot}h`,
          `link set pn${slot}h up`,
        ]);
      } catch (err) {
        if (/exists/i.test((err as Error).message) && !(await link.exists())) continue;
        await link.close();
        throw err;
      }
      return this.build(link, sandboxId, entries, egress);
    }
    throw new Error('no free sandbox link slot');
  }

  private async build(link: AttachedNetwork, sandboxId: string, entries: AllowEntry[], egress: Egress): Promise<SandboxNetwork> {
    const slot = link.slot;
    try {
      const { gateway, address, prefix } = allocateLink(this.pool, slot);
      await ipBatch([`link set lo up`, `addr add ${address}/${prefix} dev pn${slot}s`, `link set pn${slot}s up`, `route add default via ${gateway}`], link.netns);
      const groups = groupEntries(entries);
      const plan: FirewallPlan = {
        address,
        gateway,
        hostInterface: `pn${slot}h`,
        deny: [...this.deny, ...hostAddresses()].filter((c) => c.family === 4),
        groups,
        bytesPerExecution: egress.bytesPerExecution,
        bandwidthBytesPerSecond: egress.bandwidthBytesPerSecond,
        maxConnections: egress.maxConnections,
      };
      await nft(hostRuleset(plan, link.hostTable));
      await nft(sandboxRuleset(plan), link.netns);
      await link.writeResolvConf(gateway, sandboxId);
      const dns = await DnsFilter.start({
        listen: gateway,
        upstream: this.upstream!,
        entries,
        deny: plan.deny,
        pin: (matching, pins) => {
          const sets = pinSetsFor(groups, matching);
          const lines = sets.flatMap((set) =>
            pins.flatMap(({ address: a, seconds }) => {
              const el = `inet ${SANDBOX_TABLE} ${set} { ${a} timeout ${seconds}s }`;
              // add (exists now), delete, add: the element is re-pinned with the new timeout, in one transaction.
              return [`add element ${el}`, `delete element inet ${SANDBOX_TABLE} ${set} { ${a} }`, `add element ${el}`];
            }),
          );
          return lines.length ? nft(lines.join('\n') + '\n', link.netns).then(() => undefined) : Promise.resolve();
        },
      });
      link.dns = dns;
      link.nameCheck = await NameCheck.start({
        listen: gateway,
        entries,
        addressesOf: (name) => dns.addressesOf(name),
        onDenied: (what) => {
          link.checkDenied++;
          dns.record(what);
        },
      });
      return link;
    } catch (err) {
      await link.close();
      throw err;
    }
  }

  /**
   * Remove what processes that are gone left behind: their netns (which takes the veth pair with it), their
   * host tables. Live processes' sandboxes (other services, parallel test workers) are left alone.
   */
  static async sweep(stateDir?: string): Promise<string[]> {
    const swept: string[] = [];
    const dead = (pid: number) => {
      if (pid === process.pid) return false;
      try {
        process.kill(pid, 0);
        return false;
      } catch (err) {
        return (err as NodeJS.ErrnoException).code !== 'EPERM';
      }
    };
    const names = (await run('ip', ['netns', 'list']).catch(() => ''))
      .split('\n')
      .map((l) => l.split(' ')[0]!)
      .filter((n) => n.startsWith(NETNS_PREFIX));
    for (const name of names) {
      const [pid, slot] = name.slice(NETNS_PREFIX.length).split('-').map(Number);
      if (!Number.isInteger(pid) || !Number.isInteger(slot) || !dead(pid!)) continue;
      // The link first: while its pair lives, the slot (the host interface name) is still this netns's.
      await run('ip', ['link', 'del', `pn${slot}h`]).catch(() => undefined);
      await run('ip', ['netns', 'del', name]).catch(() => undefined);
      if (stateDir) await rm(join(stateDir, 'net', name), { recursive: true, force: true });
      swept.push(name);
    }
    const tables = await nftJson(['list', 'tables']).catch(() => '{"nftables":[]}');
    for (const item of (JSON.parse(tables) as { nftables: { table?: { name: string; family: string } }[] }).nftables) {
      const name = item.table?.name;
      if (!name?.startsWith(HOST_TABLE_PREFIX) || !/^(ip|inet)$/.test(item.table!.family)) continue;
      const pid = Number(name.slice(HOST_TABLE_PREFIX.length).split('_')[0]);
      if (!Number.isInteger(pid) || !dead(pid)) continue;
      await nft(`delete table ${item.table!.family} ${name}\n`).catch(() => undefined);
      swept.push(name);
    }
    return swept;
  }
}

class AttachedNetwork implements SandboxNetwork {
  readonly netns: string;
  readonly hostTable: string;
  readonly netnsPath: string;
  readonly etcFiles: { destination: string; source: string }[];
  private readonly dir: string;
  dns?: DnsFilter;
  nameCheck?: NameCheck;
  /** Connections the Host/SNI check refused. */
  checkDenied = 0;
  private closed?: Promise<void>;

  constructor(
    readonly slot: number,
    stateDir: string,
  ) {
    this.netns = `${NETNS_PREFIX}${process.pid}-${slot}`;
    this.hostTable = `${HOST_TABLE_PREFIX}${process.pid}_${slot}`;
    this.netnsPath = `/run/netns/${this.netns}`;
    this.dir = join(stateDir, 'net', this.netns);
    this.etcFiles = ['resolv.conf', 'nsswitch.conf'].map((f) => ({ destination: `/etc/${f}`, source: join(this.dir, f) }));
  }

  /** Whether this process's netns of the slot exists (a failed batch past its first line created it). */
  async exists(): Promise<boolean> {
    return (await run('ip', ['netns', 'list'])).split('\n').some((l) => l.split(' ')[0] === this.netns);
  }

  async writeResolvConf(gateway: string, sandboxId: string): Promise<void> {
    // The sandbox's mapped root must traverse to the file to bind it.
    await mkdir(this.dir, { recursive: true });
    await chmod(join(this.dir, '..'), 0o711);
    await chmod(this.dir, 0o711);
    await writeFile(join(this.dir, 'resolv.conf'), `# polyrun DNS filter of sandbox ${sandboxId}\nnameserver ${gateway}\noptions timeout:2 attempts:2\n`, {
      mode: 0o644,
    });
    await writeFile(join(this.dir, 'nsswitch.conf'), 'passwd: files\ngroup: files\nhosts: files dns\n', { mode: 0o644 });
  }

  async report(): Promise<{ stats: NetworkStats; denied: string[] }> {
    const json = await nftJson(['list', 'table', 'inet', SANDBOX_TABLE], this.netns);
    const counters = readCounters(json);
    return {
      stats: {
        ...counters,
        denied: counters.denied + this.checkDenied,
        dnsQueries: this.dns?.stats.dnsQueries ?? 0,
        dnsDenied: this.dns?.stats.dnsDenied ?? 0,
      },
      denied: [...(this.dns?.stats.deniedNames ?? []), ...readDeniedDestinations(json)],
    };
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      await this.nameCheck?.close().catch(() => undefined);
      await this.dns?.close().catch(() => undefined);
      // The link first (it takes both ends with it), then the netns: the slot is free only once the link is
      // gone, so no other process can have taken the name in between.
      // -force: the netns goes even when the link is already gone.
      await run('ip', ['-force', '-batch', '-'], `link del pn${this.slot}h\nnetns del ${this.netns}\n`).catch(() => undefined);
      await nft(`delete table inet ${this.hostTable}\n`).catch(() => undefined);
      await rm(this.dir, { recursive: true, force: true });
    })();
    return this.closed;
  }
}
