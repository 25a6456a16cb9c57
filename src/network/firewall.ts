/**
 * The nftables rulesets of one networked sandbox, built from data and printed as one `nft -f` script, so
 * each is applied atomically (all or nothing) and removed as a whole (one table). Pure.
 *
 * Two tables:
 * - `inet polyrun` inside the sandbox's own network namespace (the program has no capability over it):
 *   egress is the allowlist and the resolver, nothing else; no ingress but replies; the byte cap, the
 *   bandwidth limit and the connection cap; counters the result reports.
 * - `inet <hostTable>` in the host's namespace, a second wall that does not trust the first: from the
 *   sandbox's link only DNS to its resolver reaches the host, nothing reaches the deny set (other
 *   sandboxes, the host's networks), nothing new enters the link, and the sandbox's address is NATed
 *   out. A drop in any table is final in nftables, so these tables never widen what another table allows.
 */
import { formatCidr, mergeCidrs, type Cidr } from './address.js';
import type { AllowEntry, PortRange } from './allowlist.js';
import { NAME_CHECK_PORTS } from './name-check.js';

/** How many refused destinations a sandbox lists for the audit line. */
export const DENIED_LISTED = 20;
/** Name of the table inside the sandbox's namespace (it is alone there). */
export const SANDBOX_TABLE = 'polyrun';
/** Longest a resolved address stays pinned, and the most pins per set (nft drops the oldest on timeout). */
export const PIN_SET_SIZE = 4096;

export interface PortGroup {
  /** Set name suffix: static_<id> (addresses and blocks), pin_<id> (resolved addresses). */
  id: number;
  ports: PortRange | null;
  cidrs: Cidr[];
  /** Whether name entries use these ports (then a pin set exists). */
  names: boolean;
}

export interface FirewallPlan {
  /** The sandbox's address and its gateway (the host's end of the link, where its resolver listens). */
  address: string;
  gateway: string;
  /** Host-side link interface. */
  hostInterface: string;
  /** IPv4 blocks no entry reaches (the configured deny set, the host's addresses, the link pool). */
  deny: Cidr[];
  groups: PortGroup[];
  bytesPerExecution: number;
  bandwidthBytesPerSecond: number;
  maxConnections: number;
}

function portKey(ports: PortRange | null): string {
  return ports ? `${ports.from}-${ports.to}` : '*';
}

/** Entries grouped by their ports: one static set and one pin set per distinct port range. */
export function groupEntries(entries: readonly AllowEntry[]): PortGroup[] {
  const byPorts = new Map<string, PortGroup>();
  for (const e of entries) {
    const key = portKey(e.ports);
    let g = byPorts.get(key);
    if (!g) byPorts.set(key, (g = { id: byPorts.size, ports: e.ports, cidrs: [], names: false }));
    if (e.target.kind === 'cidr') {
      if (e.target.cidr.family === 4) g.cidrs.push(e.target.cidr);
    } else g.names = true;
  }
  return [...byPorts.values()].map((g) => ({ ...g, cidrs: mergeCidrs(g.cidrs) }));
}

/** The pin sets an address answered for a name goes into: one per port range of the entries naming it. */
export function pinSetsFor(groups: readonly PortGroup[], matching: readonly AllowEntry[]): string[] {
  const keys = new Set(matching.map((e) => portKey(e.ports)));
  return groups.filter((g) => g.names && keys.has(portKey(g.ports))).map((g) => `pin_${g.id}`);
}

const elements = (blocks: Cidr[]) => (blocks.length ? ` elements = { ${blocks.map(formatCidr).join(', ')} };` : '');
const dport = (ports: PortRange | null) => (ports ? ` th dport ${ports.from === ports.to ? ports.from : `${ports.from}-${ports.to}`}` : '');
const quoted = (name: string) => `"${name.replace(/[^A-Za-z0-9_.-]/g, '')}"`;

const covers = (ports: PortRange | null, port: number) => ports === null || (ports.from <= port && port <= ports.to);
const CHECK_PORTS = Object.values(NAME_CHECK_PORTS).join(', ');

/**
 * The Host/SNI redirect: a connection to a pinned address (a name's) on 80 or 443 goes to the name check on
 * the gateway, unless a static entry (an address or block) allows that address and port by itself.
 */
function redirectRules(plan: FirewallPlan): string[] {
  const rules: string[] = [];
  for (const [port, checkPort] of Object.entries(NAME_CHECK_PORTS).map(([p, c]) => [Number(p), c] as const)) {
    for (const g of plan.groups) if (g.cidrs.length && covers(g.ports, port)) rules.push(`    ip daddr @static_${g.id} tcp dport ${port} return`);
    for (const g of plan.groups) if (g.names && covers(g.ports, port)) rules.push(`    ip daddr @pin_${g.id} tcp dport ${port} dnat ip to ${plan.gateway}:${checkPort}`);
  }
  return rules;
}

/** The script for the table inside the sandbox's namespace (run there with `nft -f -`). */
export function sandboxRuleset(plan: FirewallPlan): string {
  const sets = [`  set deny4 { type ipv4_addr; flags interval;${elements(mergeCidrs(plan.deny))} }`];
  const allowRules: string[] = [];
  for (const g of plan.groups) {
    if (g.cidrs.length) {
      sets.push(`  set static_${g.id} { type ipv4_addr; flags interval;${elements(g.cidrs)} }`);
      allowRules.push(`    meta l4proto { tcp, udp } ip daddr @static_${g.id}${dport(g.ports)} jump open`);
    }
    if (g.names) {
      sets.push(`  set pin_${g.id} { type ipv4_addr; flags timeout; size ${PIN_SET_SIZE}; }`);
      allowRules.push(`    meta l4proto { tcp, udp } ip daddr @pin_${g.id}${dport(g.ports)} jump open`);
    }
  }
  return [
    `table inet ${SANDBOX_TABLE}`,
    `delete table inet ${SANDBOX_TABLE}`,
    `table inet ${SANDBOX_TABLE} {`,
    ...sets,
    // The first refused destinations (address . port), for the audit line; a full set adds nothing more.
    `  set denied_dst { type ipv4_addr . inet_service; size ${DENIED_LISTED}; flags dynamic; }`,
    '  counter connections {}',
    '  counter denied {}',
    '  counter bytes_out {}',
    '  counter bytes_in {}',
    `  quota cap { over ${plan.bytesPerExecution} bytes }`,
    `  limit bw_out { rate over ${plan.bandwidthBytesPerSecond} bytes/second }`,
    `  limit bw_in { rate over ${plan.bandwidthBytesPerSecond} bytes/second }`,
    '  chain output {',
    '    type filter hook output priority filter; policy drop;',
    '    oif "lo" accept',
    // IPv6 never leaves (the link is IPv4 only): connections are refused and counted, the link's own
    // chatter (router solicitations, MLD) is dropped silently.
    '    meta nfproto ipv6 meta l4proto { tcp, udp } counter name "denied" reject with icmpx admin-prohibited',
    '    meta nfproto ipv6 drop',
    '    ct state established,related jump established_out',
    `    ip daddr ${plan.gateway} meta l4proto { tcp, udp } th dport 53 accept`,
    `    ip daddr ${plan.gateway} tcp dport { ${CHECK_PORTS} } ct status dnat jump open`,
    // DNS goes through the sandbox's filter only, even to an allowed address.
    '    meta l4proto { tcp, udp } th dport 53 counter name "denied" reject with icmpx admin-prohibited',
    '    ct state != new counter name "denied" drop',
    '    tcp dport 25 counter name "denied" reject with tcp reset',
    '    ip daddr @deny4 meta l4proto { tcp, udp } add @denied_dst { ip daddr . th dport }',
    '    ip daddr @deny4 counter name "denied" reject with icmpx admin-prohibited',
    ...allowRules,
    // (A rule of its own: when the set is full the add ends its rule, and the next one still refuses.)
    '    meta l4proto { tcp, udp } add @denied_dst { ip daddr . th dport }',
    '    counter name "denied" reject with icmpx admin-prohibited',
    '  }',
    '  chain to_name_check {',
    '    type nat hook output priority -100; policy accept;',
    ...redirectRules(plan),
    '  }',
    '  chain open {',
    `    ct count over ${plan.maxConnections} counter name "denied" reject with icmpx admin-prohibited`,
    '    counter name "connections" accept',
    '  }',
    '  chain established_out {',
    '    quota name "cap" jump over_cap',
    '    limit name "bw_out" drop',
    '    counter name "bytes_out" accept',
    '  }',
    '  chain input {',
    '    type filter hook input priority filter; policy drop;',
    '    iif "lo" accept',
    '    ct state established,related jump established_in',
    '  }',
    '  chain established_in {',
    // One quota match per packet and direction (each match consumes the packet's bytes).
    '    quota name "cap" jump over_cap_in',
    '    limit name "bw_in" drop',
    '    counter name "bytes_in" accept',
    '  }',
    '  chain over_cap {',
    '    meta l4proto tcp reject with tcp reset',
    '    drop',
    '  }',
    // Past the cap an arriving TCP segment is turned into a reset, so the program's socket fails at once
    // (ECONNRESET) instead of waiting for data that is dropped; anything else past the cap is dropped.
    '  chain over_cap_in {',
    '    meta l4proto tcp tcp flags set rst accept',
    '    drop',
    '  }',
    '}',
    '',
  ].join('\n');
}

/** The script for the sandbox's table in the host's namespace (inet: IPv6 from the link is dropped too). */
export function hostRuleset(plan: FirewallPlan, table: string): string {
  const link = quoted(plan.hostInterface);
  return [
    `table inet ${table}`,
    `delete table inet ${table}`,
    `table inet ${table} {`,
    `  set deny4 { type ipv4_addr; flags interval;${elements(mergeCidrs(plan.deny))} }`,
    '  chain input {',
    '    type filter hook input priority filter; policy accept;',
    `    iifname ${link} ip daddr ${plan.gateway} meta l4proto { tcp, udp } th dport 53 accept`,
    `    iifname ${link} ip daddr ${plan.gateway} tcp dport { ${CHECK_PORTS} } accept`,
    `    iifname ${link} drop`,
    '  }',
    '  chain forward {',
    '    type filter hook forward priority filter; policy accept;',
    `    iifname ${link} meta nfproto ipv6 drop`,
    `    iifname ${link} ip saddr != ${plan.address} drop`,
    `    iifname ${link} ip daddr @deny4 drop`,
    // (`ct state != established,related` would compare the whole state word, not its flags: two rules.)
    `    oifname ${link} ct state established,related accept`,
    `    oifname ${link} drop`,
    '  }',
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    ip saddr ${plan.address} oifname != ${link} masquerade`,
    '  }',
    '}',
    '',
  ].join('\n');
}

/** The refused destinations listed in the sandbox table ("198.51.100.11:80"), from the same JSON. */
export function readDeniedDestinations(json: string): string[] {
  const items = (JSON.parse(json) as { nftables: { set?: { name: string; elem?: unknown[] } }[] }).nftables;
  const elems = items.find((i) => i.set?.name === 'denied_dst')?.set?.elem ?? [];
  return elems.flatMap((e) => {
    const concat = ((e as { elem?: { val?: unknown } }).elem?.val ?? e) as { concat?: unknown[] };
    const [address, port] = concat.concat ?? [];
    return typeof address === 'string' && typeof port === 'number' ? [`${address}:${port}`] : [];
  });
}

/** The counters of the sandbox table, from `nft -j list table inet polyrun` output. */
export function readCounters(json: string): { connections: number; denied: number; bytesOut: number; bytesIn: number; byteCapReached: boolean } {
  const items = (JSON.parse(json) as { nftables: Record<string, { name?: string; packets?: number; bytes?: number; used?: number; inv?: boolean }>[] }).nftables;
  const counter = (name: string, field: 'packets' | 'bytes') => items.find((i) => i.counter?.name === name)?.counter?.[field] ?? 0;
  const quota = items.find((i) => i.quota?.name === 'cap')?.quota;
  return {
    connections: counter('connections', 'packets'),
    denied: counter('denied', 'packets'),
    bytesOut: counter('bytes_out', 'bytes'),
    bytesIn: counter('bytes_in', 'bytes'),
    byteCapReached: !!quota && (quota.used ?? 0) >= (quota.bytes ?? Infinity),
  };
}
