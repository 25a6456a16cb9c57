/**
 * The pure parts of network policy (src/network/): the allowlist grammar, the tenant policy, the firewall
 * rulesets and the DNS filter's decisions. The real namespaces and rules are tested in
 * test/sandbox/network.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { BUILTIN_POLICY, applyPolicyOverride, type NetworkPolicy } from '../../src/config/policy.js';
import { validateConfig } from '../../src/config/load.js';
import { defaultConfig } from '../../src/config/schema.js';
import { PolyrunError } from '../../src/contract/errors.js';
import { cidr, cidrContainsAddress, formatAddress, mergeCidrs, parseCidr, addressValue, formatCidr } from '../../src/network/address.js';
import { parseAllowEntry, parseAllowList, withinCeiling, entriesForName } from '../../src/network/allowlist.js';
import { decideQuery, filterAnswer, PIN_MAX_SECONDS, PIN_MIN_SECONDS } from '../../src/network/dns-filter.js';
import { groupEntries, hostRuleset, pinSetsFor, readCounters, readDeniedDestinations, sandboxRuleset, type FirewallPlan } from '../../src/network/firewall.js';
import { resolveNetwork } from '../../src/network/request-policy.js';
import { allocateLink } from '../../src/network/link-pool.js';
import { httpHost, tlsServerName, PEEK_MAX_BYTES } from '../../src/network/peek.js';
import { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';

/** The first bytes a real TLS client (Node's) sends: its ClientHello, with `servername` as SNI. */
function clientHello(servername?: string): Promise<Buffer> {
  return new Promise((resolve) => {
    // The hello may be written while tlsConnect is still running, before `socket` is assigned: the
    // destroy waits for the next turn of the event loop.
    const wire = new Duplex({
      read() {},
      write(chunk: Buffer) {
        resolve(chunk);
        setImmediate(() => socket.destroy());
      },
    });
    const socket = tlsConnect({ socket: wire, ...(servername ? { servername } : {}), rejectUnauthorized: false });
    socket.on('error', () => undefined);
  });
}

const entry = (text: string) => {
  const r = parseAllowEntry(text);
  if (!r.ok) throw new Error(`${text}: ${r.reason}`);
  return r.entry;
};
const reason = (text: string) => {
  const r = parseAllowEntry(text);
  return r.ok ? null : r.reason;
};

describe('addresses', () => {
  it('parses IPv4 and IPv6 blocks and checks containment', () => {
    expect(cidrContainsAddress(cidr('198.51.100.0/24'), '198.51.100.7')).toBe(true);
    expect(cidrContainsAddress(cidr('198.51.100.0/24'), '198.51.101.7')).toBe(false);
    expect(cidrContainsAddress(cidr('fe80::/10'), 'fe80::1')).toBe(true);
    expect(cidrContainsAddress(cidr('::ffff:0:0/96'), '::ffff:10.0.0.1')).toBe(true);
    expect(cidrContainsAddress(cidr('10.0.0.0/8'), '::ffff:10.0.0.1')).toBe(false);
    expect(formatAddress(6, addressValue('2001:db8::1')!.value)).toBe('2001:db8::1');
    expect(formatCidr(cidr('0.0.0.0/0'))).toBe('0.0.0.0/0');
  });
  it('refuses host bits and bad prefixes with a reason', () => {
    expect(parseCidr('198.51.100.7/24')).toEqual({ ok: false, reason: expect.stringContaining('198.51.100.0/24') });
    expect(parseCidr('1.2.3.4/33')).toMatchObject({ ok: false });
    expect(parseCidr('1.2.3/8')).toMatchObject({ ok: false });
  });
  it('merges nested blocks (nft interval sets refuse overlaps)', () => {
    expect(mergeCidrs([cidr('198.51.100.7/32'), cidr('198.51.100.0/24'), cidr('203.0.113.0/24')]).map(formatCidr)).toEqual([
      '198.51.100.0/24',
      '203.0.113.0/24',
    ]);
  });
});

describe('allowlist grammar', () => {
  it('reads names, wildcards, addresses, blocks and ports', () => {
    expect(entry('PyPI.org.')).toMatchObject({ target: { kind: 'name', name: 'pypi.org' }, ports: null });
    expect(entry('*.example.com')).toMatchObject({ target: { kind: 'wildcard', suffix: 'example.com' } });
    expect(entry('198.51.100.7')).toMatchObject({ target: { kind: 'cidr', cidr: { family: 4, prefix: 32 } }, ports: null });
    expect(entry('203.0.113.0/24:443')).toMatchObject({ target: { kind: 'cidr', cidr: { prefix: 24 } }, ports: { from: 443, to: 443 } });
    expect(entry('files.example.org:8000-8100')).toMatchObject({ ports: { from: 8000, to: 8100 } });
    expect(entry('2001:db8::/32')).toMatchObject({ target: { kind: 'cidr', cidr: { family: 6, prefix: 32 } }, ports: null });
    expect(entry('[2001:db8::1]:443')).toMatchObject({ target: { kind: 'cidr', cidr: { family: 6, prefix: 128 } }, ports: { from: 443 } });
  });
  it.each([
    ['', 'empty'],
    [' pypi.org', 'spaces'],
    ['localhost', 'two labels'],
    ['*.com', 'two labels'],
    ['foo.*.com', 'leading'],
    ['exa mple.com', 'valid label'],
    ['-a.example.com', 'valid label'],
    ['example.com:0', '1 to 65535'],
    ['example.com:70000', '1 to 65535'],
    ['example.com:90-80', 'empty'],
    ['example.com:http', 'not a number'],
    ['1.2.3.256', 'not an IP address'],
    ['198.51.100.1/24', 'host bits'],
    ['[2001:db8::1', 'missing "]"'],
    ['a'.repeat(64) + '.com', 'valid label'],
  ])('refuses %j (%s)', (text, why) => {
    expect(reason(text)).toContain(why);
  });
  it('lists every bad entry with its index', () => {
    const { entries, problems } = parseAllowList(['pypi.org', 'bad name', '10.0.0.0/33']);
    expect(entries).toHaveLength(1);
    expect(problems.map((p) => p.index)).toEqual([1, 2]);
  });
  it('matches names: exact, and wildcards only below their suffix', () => {
    const list = ['pypi.org', '*.example.com'].map(entry);
    expect(entriesForName(list, 'PYPI.ORG.')).toHaveLength(1);
    expect(entriesForName(list, 'a.b.example.com')).toHaveLength(1);
    expect(entriesForName(list, 'example.com')).toHaveLength(0);
    expect(entriesForName(list, 'evilexample.com')).toHaveLength(0);
    expect(entriesForName(list, 'files.pythonhosted.org')).toHaveLength(0);
  });
  it('checks entries against a ceiling (targets and ports)', () => {
    const ceiling = ['*.example.com', 'pypi.org:443', '198.51.100.0/24'].map(entry);
    expect(withinCeiling(entry('api.example.com:443'), ceiling)).toBe(true);
    expect(withinCeiling(entry('*.api.example.com'), ceiling)).toBe(true);
    expect(withinCeiling(entry('example.com'), ceiling)).toBe(false);
    expect(withinCeiling(entry('pypi.org:443'), ceiling)).toBe(true);
    expect(withinCeiling(entry('pypi.org'), ceiling)).toBe(false);
    expect(withinCeiling(entry('198.51.100.128/25:80'), ceiling)).toBe(true);
    expect(withinCeiling(entry('198.51.0.0/16'), ceiling)).toBe(false);
  });
});

describe('tenant network policy', () => {
  const enabled: NetworkPolicy = { ...BUILTIN_POLICY.network, enabled: true, maxEntries: 3 };
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      return { code: (err as PolyrunError).code, status: (err as PolyrunError).httpStatus, details: (err as PolyrunError).details };
    }
    return null;
  };
  it('is off by default: an allowlist is refused with 403', () => {
    expect(BUILTIN_POLICY.network.enabled).toBe(false);
    expect(code(() => resolveNetwork({ allow: ['pypi.org'] }, BUILTIN_POLICY.network))).toMatchObject({ code: 'NETWORK_NOT_ALLOWED', status: 403 });
  });
  it('keeps the modes without network as before', () => {
    expect(resolveNetwork(undefined, BUILTIN_POLICY.network)).toEqual({ seccomp: 'default', network: 'none' });
    expect(resolveNetwork('loopback', BUILTIN_POLICY.network).network).toBe('loopback');
    expect(code(() => resolveNetwork('loopback', { ...BUILTIN_POLICY.network, modes: ['none'] }))?.code).toBe('NETWORK_NOT_ALLOWED');
  });
  it('gives an allowed request the egress profile with the tenant caps', () => {
    expect(resolveNetwork({ allow: ['pypi.org', '198.51.100.0/24:443'] }, enabled)).toEqual({
      seccomp: 'default',
      network: 'egress',
      egress: {
        allow: ['pypi.org', '198.51.100.0/24:443'],
        bytesPerExecution: enabled.bytesPerExecution,
        bandwidthBytesPerSecond: enabled.bandwidthBytesPerSecond,
        maxConnections: enabled.maxConnections,
      },
    });
  });
  it('refuses bad entries with 422, naming each index and why', () => {
    const err = code(() => resolveNetwork({ allow: ['ok.example.com', 'not valid', '2001:db8::1'] }, enabled));
    expect(err).toMatchObject({ code: 'INVALID_NETWORK_ENTRY', status: 422 });
    expect((err!.details as { problems: { index: number }[] }).problems.map((p) => p.index)).toEqual([1, 2]);
  });
  it('refuses more entries than maxEntries, and entries outside the ceiling', () => {
    expect(code(() => resolveNetwork({ allow: ['a.example', 'b.example', 'c.example', 'd.example'] }, enabled))).toMatchObject({
      code: 'TOO_MANY_NETWORK_ENTRIES',
      status: 422,
    });
    const ceiling = { ...enabled, allowCeiling: ['*.example.com'] };
    expect(code(() => resolveNetwork({ allow: ['a.example.com', 'pypi.org'] }, ceiling))).toMatchObject({
      code: 'NETWORK_NOT_ALLOWED',
      details: { index: 1, entry: 'pypi.org' },
    });
  });
  it('reads the older list form of a policy network as its modes, and the object form field by field', () => {
    expect(applyPolicyOverride(BUILTIN_POLICY, { network: ['none'] }).network).toEqual({ ...BUILTIN_POLICY.network, modes: ['none'] });
    expect(applyPolicyOverride(BUILTIN_POLICY, { network: { enabled: true, maxConnections: 4 } }).network).toEqual({
      ...BUILTIN_POLICY.network,
      enabled: true,
      maxConnections: 4,
    });
    const config = { ...defaultConfig(1), defaultPolicy: { network: { enabled: true, allowCeiling: ['*.example.com'] } }, tenants: { old: { network: ['none' as const] } } };
    expect(() => validateConfig(config)).not.toThrow();
  });
});

describe('firewall rulesets', () => {
  const entries = ['pypi.org:443', '*.example.com', '198.51.100.0/24', '198.51.100.7', '203.0.113.9:8000-8100'].map(entry);
  const groups = groupEntries(entries);
  const plan: FirewallPlan = {
    address: '10.203.0.2',
    gateway: '10.203.0.1',
    hostInterface: 'pr123h',
    deny: [cidr('10.0.0.0/8'), cidr('10.203.0.0/16'), cidr('127.0.0.0/8')],
    groups,
    bytesPerExecution: 1000,
    bandwidthBytesPerSecond: 2000,
    maxConnections: 5,
  };
  it('groups entries by ports: one static and one pin set per port range', () => {
    expect(groups.map((g) => ({ ports: g.ports, cidrs: g.cidrs.map(formatCidr), names: g.names }))).toEqual([
      { ports: { from: 443, to: 443 }, cidrs: [], names: true },
      { ports: null, cidrs: ['198.51.100.0/24'], names: true },
      { ports: { from: 8000, to: 8100 }, cidrs: ['203.0.113.9/32'], names: false },
    ]);
    expect(pinSetsFor(groups, entriesForName(entries, 'pypi.org'))).toEqual(['pin_0']);
    expect(pinSetsFor(groups, entriesForName(entries, 'a.example.com'))).toEqual(['pin_1']);
  });
  it('drops everything by default and lets out only the sets, the resolver and replies', () => {
    const rules = sandboxRuleset(plan);
    expect(rules).toContain('type filter hook output priority filter; policy drop;');
    expect(rules).toContain('type filter hook input priority filter; policy drop;');
    expect(rules).toContain('ip daddr 10.203.0.1 meta l4proto { tcp, udp } th dport 53 accept');
    expect(rules).toContain('set deny4 { type ipv4_addr; flags interval; elements = { 10.0.0.0/8, 127.0.0.0/8 }; }');
    expect(rules).toContain('ip daddr @pin_0 th dport 443 jump open');
    expect(rules).toContain('ip daddr @static_1 jump open');
    expect(rules).toContain('ip daddr @static_2 th dport 8000-8100 jump open');
    expect(rules).toContain('ct count over 5');
    expect(rules).toContain('quota cap { over 1000 bytes }');
    expect(rules.match(/quota name/g)).toHaveLength(2); // once per direction: each match consumes
    expect(rules).toContain('rate over 2000 bytes/second');
    // The deny set comes before any allow rule: deny wins.
    expect(rules.indexOf('@deny4 counter')).toBeLessThan(rules.indexOf('ip daddr @pin_0 th dport 443 jump open'));
    // DNS elsewhere than the resolver is refused before any allow rule.
    expect(rules.indexOf('th dport 53 counter name "denied"')).toBeLessThan(rules.indexOf('@static_1 jump open'));
    // The resolver comes before the deny set (the gateway is in the link pool, which is denied).
    expect(rules.indexOf('th dport 53 accept')).toBeLessThan(rules.indexOf('@deny4 counter'));
    // Replacing is atomic: the script declares, deletes and recreates its table in one transaction.
    expect(rules.startsWith('table inet polyrun\ndelete table inet polyrun\n')).toBe(true);
  });
  it('sends connections to pinned addresses on 80 and 443 through the Host/SNI check, unless a static entry allows them', () => {
    const rules = sandboxRuleset(plan);
    expect(rules).toContain('type nat hook output priority -100; policy accept;');
    expect(rules).toContain('ip daddr @static_1 tcp dport 80 return');
    expect(rules).toContain('ip daddr @pin_1 tcp dport 80 dnat ip to 10.203.0.1:15080');
    expect(rules).toContain('ip daddr @pin_0 tcp dport 443 dnat ip to 10.203.0.1:15443');
    expect(rules).not.toContain('@pin_0 tcp dport 80 '); // pypi.org:443 only
    expect(rules).toContain('ip daddr 10.203.0.1 tcp dport { 15080, 15443 } ct status dnat jump open');
    expect(hostRuleset(plan, 't')).toContain('iifname "pr123h" ip daddr 10.203.0.1 tcp dport { 15080, 15443 } accept');
  });
  it('walls the host side: only DNS to the gateway, no deny set, no new inbound, NAT out', () => {
    const rules = hostRuleset(plan, 'polyrun_1_2');
    expect(rules).toContain(
      'iifname "pr123h" ip daddr 10.203.0.1 meta l4proto { tcp, udp } th dport 53 accept\n' +
        '    iifname "pr123h" ip daddr 10.203.0.1 tcp dport { 15080, 15443 } accept\n' +
        '    iifname "pr123h" drop',
    );
    expect(rules).toContain('iifname "pr123h" ip daddr @deny4 drop');
    expect(rules).toContain('iifname "pr123h" ip saddr != 10.203.0.2 drop');
    expect(rules).toContain('oifname "pr123h" ct state established,related accept\n    oifname "pr123h" drop');
    expect(rules).toContain('ip saddr 10.203.0.2 oifname != "pr123h" masquerade');
    expect(rules).toContain('iifname "pr123h" meta nfproto ipv6 drop');
    expect(rules.startsWith('table inet polyrun_1_2\ndelete table inet polyrun_1_2\n')).toBe(true);
  });
  it('reads the counters and the quota from nft JSON', () => {
    const json = JSON.stringify({
      nftables: [
        { metainfo: {} },
        { counter: { name: 'connections', packets: 3, bytes: 180 } },
        { counter: { name: 'denied', packets: 2, bytes: 120 } },
        { counter: { name: 'bytes_out', packets: 10, bytes: 900 } },
        { counter: { name: 'bytes_in', packets: 20, bytes: 90000 } },
        { quota: { name: 'cap', bytes: 1000, used: 91000, inv: true } },
      ],
    });
    expect(readCounters(json)).toEqual({ connections: 3, denied: 2, bytesOut: 900, bytesIn: 90000, byteCapReached: true });
    const listed = JSON.stringify({
      nftables: [{ set: { name: 'denied_dst', elem: [{ concat: ['198.51.100.11', 80] }, { elem: { val: { concat: ['169.254.169.254', 80] } } }] } }],
    });
    expect(readDeniedDestinations(listed)).toEqual(['198.51.100.11:80', '169.254.169.254:80']);
    // The set is bounded; a full set never stops the refusal (the add is a rule of its own).
    expect(sandboxRuleset(plan)).toContain('set denied_dst { type ipv4_addr . inet_service; size 20; flags dynamic; }');
    expect(sandboxRuleset(plan)).toContain('add @denied_dst { ip daddr . th dport }\n    counter name "denied" reject');
  });
});

describe('DNS filter', () => {
  const entries = ['pypi.org', '*.example.com:443'].map(entry);
  it('answers NXDOMAIN for names not allowed, whatever the type', () => {
    for (const type of ['A', 'TXT', 'NULL', 'ANY', 'AAAA']) {
      expect(decideQuery({ name: 'tunnel.attacker.test', type }, entries)).toEqual({ action: 'nxdomain', reason: 'name_not_allowed' });
    }
  });
  it('forwards A and CNAME for allowed names, answers other types empty', () => {
    expect(decideQuery({ name: 'pypi.org', type: 'A' }, entries)).toEqual({ action: 'forward' });
    expect(decideQuery({ name: 'x.example.com', type: 'CNAME' }, entries)).toEqual({ action: 'forward' });
    expect(decideQuery({ name: 'pypi.org', type: 'TXT' }, entries)).toEqual({ action: 'empty', reason: 'type_not_allowed' });
    expect(decideQuery({ name: 'pypi.org', type: 'AAAA' }, entries)).toEqual({ action: 'empty', reason: 'ipv6' });
  });
  it('keeps the CNAME chain and its addresses, drops the deny set and strays, bounds the TTL', () => {
    const deny = [cidr('10.0.0.0/8'), cidr('169.254.0.0/16')];
    const answers = [
      { name: 'cdn.fastly.test', type: 'A', ttl: 99999, data: '198.51.100.10' },
      { name: 'pypi.org', type: 'CNAME', ttl: 60, data: 'cdn.fastly.test' },
      { name: 'cdn.fastly.test', type: 'A', ttl: 5, data: '169.254.169.254' },
      { name: 'cdn.fastly.test', type: 'A', ttl: 5, data: '198.51.100.11' },
      { name: 'other.test', type: 'A', ttl: 60, data: '198.51.100.99' },
    ];
    const out = filterAnswer('PyPI.org', answers, deny);
    expect(out.answers.map((a) => [a.type, a.data, a.ttl])).toEqual([
      ['CNAME', 'cdn.fastly.test', 60],
      ['A', '198.51.100.10', PIN_MAX_SECONDS],
      ['A', '198.51.100.11', 5],
    ]);
    expect(out.pins).toEqual([
      { address: '198.51.100.10', seconds: PIN_MAX_SECONDS },
      { address: '198.51.100.11', seconds: PIN_MIN_SECONDS },
    ]);
    expect(out.denied).toEqual(['169.254.169.254']);
  });
});

describe('Host and SNI peek', () => {
  it('reads the Host header of an HTTP request, waiting for the end of the headers', () => {
    expect(httpHost(Buffer.from('GET / HTTP/1.1\r\nHost: Ok.Inet.Test:8080\r\nAccept: */*\r\n\r\n'))).toEqual({ status: 'name', name: 'ok.inet.test' });
    expect(httpHost(Buffer.from('GET / HTTP/1.1\r\nHost: ok.inet.test\r\n'))).toEqual({ status: 'more' });
    expect(httpHost(Buffer.from('GET / HTTP/1.1\r\nAccept: */*\r\n\r\n'))).toEqual({ status: 'none' });
    expect(httpHost(Buffer.from('GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n'))).toEqual({ status: 'none' });
    expect(httpHost(Buffer.from('\x16\x03\x01 not http\r\n\r\n'))).toEqual({ status: 'none' });
    expect(httpHost(Buffer.alloc(PEEK_MAX_BYTES, 65))).toEqual({ status: 'none' });
  });
  it('reads the SNI of a real ClientHello, and needs the whole record', async () => {
    const hello = await clientHello('pypi.org');
    expect(tlsServerName(hello)).toEqual({ status: 'name', name: 'pypi.org' });
    expect(tlsServerName(hello.subarray(0, 40))).toEqual({ status: 'more' });
    expect(tlsServerName(await clientHello())).toEqual({ status: 'none' });
    expect(tlsServerName(Buffer.from('GET / HTTP/1.1\r\n'))).toEqual({ status: 'none' });
  });
});

describe('link pool', () => {
  it('gives each slot a /30: gateway .1, sandbox .2, inside the pool', () => {
    expect(allocateLink(cidr('10.203.0.0/16'), 0)).toEqual({ gateway: '10.203.0.1', address: '10.203.0.2', prefix: 30 });
    expect(allocateLink(cidr('10.203.0.0/16'), 300)).toEqual({ gateway: '10.203.4.177', address: '10.203.4.178', prefix: 30 });
    expect(() => allocateLink(cidr('10.203.0.0/16'), 16384)).toThrow();
  });
});

describe('network metrics', () => {
  it('counts connections, DNS answers and bytes of a networked result by outcome', async () => {
    const { createMetrics } = await import('../../src/telemetry/metrics.js');
    const { observeExecution } = await import('../../src/telemetry/observe.js');
    const metrics = createMetrics();
    const stage = { status: 'ok' as const, exitCode: 0, signal: null, stdout: '', stderr: '', stdoutTruncated: false, stderrTruncated: false, cpuTimeMs: 1, wallTimeMs: 1, memoryBytes: 1 };
    observeExecution(metrics, {
      tenant: 't',
      files: [],
      queueWaitMs: 0,
      totalMs: 1,
      maxProcesses: 64,
      result: {
        language: 'python',
        version: '3',
        status: 'ok',
        compile: null,
        run: stage,
        network: { connections: 3, denied: 2, dnsQueries: 5, dnsDenied: 1, bytesOut: 10, bytesIn: 20, byteCapReached: true },
      },
    });
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/polyrun_network_connections_total\{outcome="allowed"\} 3/);
    expect(text).toMatch(/polyrun_network_connections_total\{outcome="denied"\} 2/);
    expect(text).toMatch(/polyrun_network_dns_queries_total\{outcome="answered"\} 4/);
    expect(text).toMatch(/polyrun_network_dns_queries_total\{outcome="refused"\} 1/);
    expect(text).toMatch(/polyrun_network_bytes_total\{direction="in"\} 20/);
    expect(text).toMatch(/polyrun_network_byte_caps_total 1/);
  });
});

describe('the OCI spec of a networked sandbox', () => {
  it('joins the prepared netns by path and binds its resolv.conf and nsswitch.conf read-only', async () => {
    const { buildSpec } = await import('../../src/sandbox/specconv.js');
    const { loadSeccompPolicy, toOciSeccomp } = await import('../../src/sandbox/seccomp.js');
    const MiB = 1024 * 1024;
    const base = {
      rootfs: '/run/polyrun/rootfs-x', initPath: '/.polyrun/init', cgroupsPath: '/polyrun/i/s', hostIdBase: 200_000, idRange: 65_536,
      sandboxUid: 1000, readOnlyMounts: [], workDir: '/box', workDirBytes: MiB, tmpBytes: MiB, memoryBytes: 64 * MiB, processes: 8,
      cpuShares: 1024, openFilesHard: 64, fileSizeHardBytes: MiB, stackBytes: 8 * MiB, hostname: 'sandbox', seccomp: toOciSeccomp(loadSeccompPolicy(), true),
    };
    const etcFiles = [
      { destination: '/etc/resolv.conf', source: '/run/polyrun/net/polyrun-1-2/resolv.conf' },
      { destination: '/etc/nsswitch.conf', source: '/run/polyrun/net/polyrun-1-2/nsswitch.conf' },
    ];
    const spec = buildSpec({ ...base, network: { netnsPath: '/run/netns/polyrun-1-2', etcFiles } }) as {
      linux: { namespaces: { type: string; path?: string }[] };
      mounts: { destination: string; source: string; options?: string[] }[];
    };
    expect(spec.linux.namespaces.find((n) => n.type === 'network')).toEqual({ type: 'network', path: '/run/netns/polyrun-1-2' });
    expect(spec.linux.namespaces.find((n) => n.type === 'user')).toEqual({ type: 'user' }); // still its own user namespace
    for (const f of etcFiles) {
      expect(spec.mounts.find((m) => m.destination === f.destination)).toMatchObject({ source: f.source, options: expect.arrayContaining(['ro']) });
    }
    const plain = buildSpec(base) as typeof spec;
    expect(plain.linux.namespaces.find((n) => n.type === 'network')).toEqual({ type: 'network' });
    expect(plain.mounts.some((m) => m.destination === '/etc/resolv.conf')).toBe(false);
  });
});
