/**
 * Network policy with real sandboxes (profile network "egress"): each test starts sandboxes whose only
 * way out is their allowlist, against a local test internet (test/helpers/test-internet.ts: TEST-NET
 * servers and an authoritative DNS server for inet.test, which is polyrun's upstream here). Nothing leaves
 * the machine. After each test nothing of its sandboxes is left: no netns, no link, no nft table.
 *
 * Needs root, runc, nftables, iproute2 and build/polyrun-init. No sleeps: every wait is on a program's end.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DENY_CIDRS, defaultConfig } from '../../src/config/schema.js';
import { BUILTIN_POLICY } from '../../src/config/policy.js';
import { createExecutor } from '../../src/executor/executor.js';
import type { Egress, SandboxProfile } from '../../src/contract/profile.js';
import { DEFAULT_LIMITS } from '../../src/limits/limits.js';
import { SandboxNetworks } from '../../src/network/netns.js';
import { SandboxHost } from '../../src/sandbox/host.js';
import { Sandbox, type SandboxShape, type StageOutcome } from '../../src/sandbox/sandbox.js';
import { testHostConfig } from '../helpers/host-config.js';
import { hostLeftovers } from '../helpers/hostClean.js';
import { makeTestApp } from '../helpers/app.js';
import { DNS_SERVER, TestInternet } from '../helpers/test-internet.js';

const MiB = 1024 * 1024;
const ROOT = join(import.meta.dirname, '..', '..');
const SHAPE: SandboxShape = { memoryBytes: 256 * MiB, processes: 64, openFiles: 256, fileSizeBytes: 16 * MiB, workDirBytes: 16 * MiB, tmpBytes: 16 * MiB };
const LINK_POOL = '10.203.0.0/16';

let internet: TestInternet;
let host: SandboxHost;
let stateDir: string;
const started: Sandbox[] = [];

beforeAll(async () => {
  internet = await TestInternet.start();
  stateDir = mkdtempSync(join(tmpdir(), 'polyrun-net-'));
  const network = new SandboxNetworks({ upstreamDns: DNS_SERVER, denyCidrs: [...DEFAULT_DENY_CIDRS], linkPool: LINK_POOL, stateDir });
  host = await SandboxHost.create(testHostConfig({ stateDir, network }));
}, 60_000);

afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.destroy()));
  const leftovers = [...(await hostLeftovers({ host })), ...networkLeftovers()];
  expect(leftovers, `left on the host:\n${leftovers.join('\n')}`).toEqual([]);
});

afterAll(async () => {
  await host?.cleanup();
  await internet?.close();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

/** This process's netns, links and host tables (names carry the owner pid). */
function networkLeftovers(): string[] {
  const netns = execFileSync('ip', ['netns', 'list']).toString().split('\n').filter((l) => l.startsWith(`polyrun-${process.pid}-`));
  const tables = execFileSync('nft', ['list', 'tables']).toString().split('\n').filter((l) => l.includes(`polyrun_${process.pid}_`));
  return [...netns, ...tables];
}

function egress(allow: string[], over: Partial<Egress> = {}): SandboxProfile {
  return {
    seccomp: 'default',
    network: 'egress',
    egress: { allow, bytesPerExecution: 16 * MiB, bandwidthBytesPerSecond: 64 * MiB, maxConnections: 16, ...over },
  };
}

async function sandbox(profile: SandboxProfile): Promise<Sandbox> {
  const sb = await Sandbox.start(host, SHAPE, { profile });
  started.push(sb);
  return sb;
}

async function py(sb: Sandbox, code: string): Promise<StageOutcome & { out: string }> {
  const outcome = await sb.runStage({
    argv: ['/usr/bin/python3', '-c', code],
    env: { PATH: '/usr/bin' },
    limits: { ...DEFAULT_LIMITS.run, wallTimeMs: 20_000, cpuTimeMs: 10_000 },
  });
  return { ...outcome, out: outcome.stdout.toString('utf8') };
}

const FETCH = (url: string) => `
import urllib.request, sys
try:
    print(urllib.request.urlopen(${JSON.stringify(url)}, timeout=5).read().decode())
except Exception as e:
    print('ERR', type(e).__name__, e)
`;

const RESOLVE = (name: string) => `
import socket
try:
    print(sorted({a[4][0] for a in socket.getaddrinfo(${JSON.stringify(name)}, 80, socket.AF_INET)}))
except socket.gaierror as e:
    print('GAIERR', e.errno)
`;

/** One DNS question straight to the sandbox's resolver (from resolv.conf): prints rcode and answer count. */
const DNS_QUERY = (name: string, qtype: number) => String.raw`
import socket, struct
ns = [l.split()[1] for l in open('/etc/resolv.conf') if l.startswith('nameserver')][0]
q = struct.pack('>HHHHHH', 0x4242, 0x0100, 1, 0, 0, 0)
for label in ${JSON.stringify(name)}.split('.'):
    q += bytes([len(label)]) + label.encode()
q += bytes([0]) + struct.pack('>HH', ${qtype}, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.sendto(q, (ns, 53))
r = s.recv(4096)
print('rcode', r[3] & 15, 'answers', struct.unpack('>H', r[6:8])[0], 'secret' if b'the-secret' in r else '')
`;

/** The same question over TCP (2-byte length prefix). */
const DNS_QUERY_TCP = (name: string, qtype: number) => String.raw`
import socket, struct
ns = [l.split()[1] for l in open('/etc/resolv.conf') if l.startswith('nameserver')][0]
q = struct.pack('>HHHHHH', 0x4343, 0x0100, 1, 0, 0, 0)
for label in ${JSON.stringify(name)}.split('.'):
    q += bytes([len(label)]) + label.encode()
q += bytes([0]) + struct.pack('>HH', ${qtype}, 1)
s = socket.create_connection((ns, 53), timeout=5)
s.sendall(struct.pack('>H', len(q)) + q)
n = struct.unpack('>H', s.recv(2))[0]
r = b''
while len(r) < n:
    r += s.recv(n - len(r))
print('rcode', r[3] & 15, 'answers', struct.unpack('>H', r[6:8])[0])
`;

/** A TCP connection attempt: prints "connected" or the error's class. */
const CONNECT = (host: string, port: number) => `
import socket
try:
    socket.create_connection((${JSON.stringify(host)}, ${port}), timeout=3).close()
    print('connected')
except Exception as e:
    print('refused', type(e).__name__)
`;

/** A UDP exchange: prints the echo or "no answer". */
const UDP = (host: string, port: number) => `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
try:
    s.sendto(b'ping', (${JSON.stringify(host)}, ${port}))
    print('echo', s.recv(100).decode())
except Exception as e:
    print('no answer', type(e).__name__)
`;

/** The sandbox's own address (the source of its default route). */
const OWN_ADDRESS = `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect(('198.51.100.10', 9))
print(s.getsockname()[0])
`;

describe('egress allowlist', () => {
  it('reaches an allowed name (python urllib), through a CNAME too, and counts it', async () => {
    const sb = await sandbox(egress(['ok.inet.test', 'alias.inet.test']));
    expect((await py(sb, FETCH('http://ok.inet.test/'))).out).toContain('hello from 10 host=ok.inet.test');
    expect((await py(sb, FETCH('http://alias.inet.test/'))).out).toContain('hello from 10 host=alias.inet.test');
    // curl (C, glibc's resolver): the same.
    const curl = await sb.runStage({ argv: ['/usr/bin/curl', '-sS', '-m', '5', 'http://ok.inet.test/'], env: { PATH: '/usr/bin' }, limits: DEFAULT_LIMITS.run });
    expect(curl.stdout.toString()).toBe('hello from 10 host=ok.inet.test');
    const { stats } = (await sb.networkStats())!;
    expect(stats.connections).toBe(3);
    expect(stats.dnsQueries).toBeGreaterThanOrEqual(2);
    expect(stats.bytesIn).toBeGreaterThan(0);
    expect(stats.bytesOut).toBeGreaterThan(0);
    expect(stats.byteCapReached).toBe(false);
  }, 60_000);

  it('answers NXDOMAIN for a name not allowed, and refuses a direct connection to an address not allowed', async () => {
    const sb = await sandbox(egress(['ok.inet.test']));
    expect((await py(sb, RESOLVE('other.inet.test'))).out).toContain('GAIERR -2');
    expect((await py(sb, DNS_QUERY('other.inet.test', 1))).out).toContain('rcode 3');
    expect((await py(sb, CONNECT('198.51.100.11', 80))).out).toContain('refused');
    const { stats, denied } = (await sb.networkStats())!;
    expect(stats.dnsDenied).toBeGreaterThanOrEqual(2);
    expect(stats.denied).toBeGreaterThanOrEqual(1);
    expect(denied).toContain('other.inet.test');
    expect(denied).toContain('198.51.100.11:80');
  }, 60_000);

  it('lets a CIDR entry reach every address in its block', async () => {
    const sb = await sandbox(egress(['198.51.100.0/24']));
    expect((await py(sb, FETCH('http://198.51.100.11/'))).out).toContain('hello from 11');
    expect((await py(sb, FETCH('http://198.51.100.10/'))).out).toContain('hello from 10');
    expect((await py(sb, CONNECT('203.0.113.5', 8080))).out).toContain('refused');
  }, 60_000);

  it('holds port restrictions, for addresses and for names', async () => {
    const sb = await sandbox(egress(['203.0.113.5:8080', 'ports.inet.test:8000-8100']));
    expect((await py(sb, FETCH('http://203.0.113.5:8080/'))).out).toContain('port 8080');
    expect((await py(sb, CONNECT('203.0.113.5', 9090))).out).toContain('refused');
    const byName = await sandbox(egress(['ports.inet.test:8000-8100']));
    expect((await py(byName, FETCH('http://ports.inet.test:8080/'))).out).toContain('port 8080');
    expect((await py(byName, CONNECT('ports.inet.test', 9090))).out).toContain('refused');
  }, 60_000);

  it('refuses a name that resolves into the deny set (metadata, private, loopback)', async () => {
    const sb = await sandbox(egress(['metadata.inet.test', 'private.inet.test', 'loop.inet.test']));
    for (const name of ['metadata.inet.test', 'private.inet.test', 'loop.inet.test']) {
      expect((await py(sb, RESOLVE(name))).out, name).toContain('GAIERR');
    }
    expect((await py(sb, CONNECT('169.254.169.254', 80))).out).toContain('refused');
    const { stats, denied } = (await sb.networkStats())!;
    expect(stats.dnsDenied).toBeGreaterThanOrEqual(3);
    expect(denied).toContain('metadata.inet.test -> 169.254.169.254');
  }, 60_000);

  it('answers no TXT (nor other types) for names not allowed, and nothing but A/CNAME for allowed ones', async () => {
    const sb = await sandbox(egress(['ok.inet.test']));
    const txtOther = (await py(sb, DNS_QUERY('secret.inet.test', 16))).out;
    expect(txtOther).toContain('rcode 3 answers 0');
    expect(txtOther).not.toContain('secret');
    expect((await py(sb, DNS_QUERY('ok.inet.test', 16))).out).toContain('rcode 0 answers 0');
    expect((await py(sb, DNS_QUERY('ok.inet.test', 28))).out).toContain('rcode 0 answers 0'); // AAAA: the link is IPv4 only
    expect((await py(sb, DNS_QUERY('ok.inet.test', 1))).out).toContain('rcode 0 answers 1');
    // DNS over TCP gets the same filter.
    expect((await py(sb, DNS_QUERY_TCP('ok.inet.test', 1))).out).toContain('rcode 0 answers 1');
    expect((await py(sb, DNS_QUERY_TCP('secret.inet.test', 16))).out).toContain('rcode 3 answers 0');
  }, 60_000);

  it('lets UDP reach an allowed address only; DNS only through its resolver; IPv6 not at all', async () => {
    const sb = await sandbox(egress(['198.51.100.10']));
    expect((await py(sb, UDP('198.51.100.10', 9999))).out).toContain('echo ping');
    expect((await py(sb, UDP('198.51.100.11', 9999))).out).toContain('no answer');
    // The test's authoritative server answers anyone, but not a sandbox that skips its filter, even when
    // its address is allowed.
    expect((await py(sb, UDP(DNS_SERVER, 53))).out).toContain('no answer');
    const dnsAllowed = await sandbox(egress(['203.0.113.0/24']));
    expect((await py(dnsAllowed, UDP(DNS_SERVER, 53))).out).toContain('no answer');
    expect((await py(dnsAllowed, CONNECT(DNS_SERVER, 53))).out).toContain('refused');
    const v6 = await py(
      sb,
      `import socket\ntry:\n    socket.create_connection(('2001:db8::10', 80), timeout=3)\n    print('connected')\nexcept Exception as e:\n    print('refused', type(e).__name__)\n`,
    );
    expect(v6.out).toContain('refused');
  }, 60_000);

  it('keeps sandboxes apart and the host unreachable, even with 0.0.0.0/0 allowed', async () => {
    const server: Server = createServer((s) => s.end('host service\n'));
    await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const a = await sandbox(egress(['0.0.0.0/0']));
      const b = await sandbox(egress(['0.0.0.0/0']));
      const bAddress = (await py(b, OWN_ADDRESS)).out.trim();
      const aAddress = (await py(a, OWN_ADDRESS)).out.trim();
      expect(bAddress).toMatch(/^10\.203\./);
      // b listens; a cannot reach it (nor b a): the link pool is in the deny set and b takes no new inbound.
      const listening = b.startStage({
        argv: ['/usr/bin/python3', '-c', `import socket\ns=socket.socket()\ns.bind(('0.0.0.0',8000))\ns.listen()\nprint('up', flush=True)\ns.settimeout(3)\ntry:\n    s.accept(); print('accepted')\nexcept Exception:\n    print('nobody')\n`],
        env: { PATH: '/usr/bin' },
        limits: { ...DEFAULT_LIMITS.run, wallTimeMs: 20_000 },
      });
      expect((await py(a, CONNECT(bAddress, 8000))).out).toContain('refused');
      expect((await listening.done).stdout.toString()).toContain('nobody');
      expect((await py(b, CONNECT(aAddress, 8000))).out).toContain('refused');
      // The host: its own addresses, the gateway (the host's end of the link) and loopback-only services.
      const hostAddresses = execFileSync('ip', ['-4', '-o', 'addr', 'show', 'scope', 'global']).toString().match(/inet (\S+)\//g)!.map((m) => m.slice(5, -1));
      const gateway = bAddress.replace(/\d+$/, (n) => String(Number(n) - 1));
      for (const address of [...hostAddresses.filter((h) => !h.startsWith('10.203.')), gateway]) {
        expect((await py(a, CONNECT(address, port))).out, address).toContain('refused');
      }
    } finally {
      server.close();
    }
  }, 90_000);

  it('checks the HTTP Host header and the TLS SNI: an allowed name does not open other sites on its address', async () => {
    const sb = await sandbox(egress(['ok.inet.test']));
    const http = (host: string) => `
import socket
addr = socket.getaddrinfo('ok.inet.test', 80, socket.AF_INET)[0][4][0]
s = socket.create_connection((addr, 80), timeout=5)
s.sendall(b'GET / HTTP/1.1\\r\\nHost: ${host}\\r\\nConnection: close\\r\\n\\r\\n')
data = b''
while True:
    b = s.recv(4096)
    if not b: break
    data += b
print(data.decode().split('\\r\\n')[0], '|', data.decode().split('\\r\\n\\r\\n', 1)[-1])
`;
    expect((await py(sb, http('ok.inet.test'))).out).toContain('hello from 10 host=ok.inet.test');
    const other = (await py(sb, http('other.inet.test'))).out;
    expect(other).toContain('403');
    expect(other).not.toContain('hello from');
    const tls = (sni: string) => `
import socket, ssl
addr = socket.getaddrinfo('ok.inet.test', 443, socket.AF_INET)[0][4][0]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
try:
    s = ctx.wrap_socket(socket.create_connection((addr, 443), timeout=5), server_hostname=${JSON.stringify(sni)})
    print(s.recv(100).decode())
except Exception as e:
    print('refused', type(e).__name__)
`;
    expect((await py(sb, tls('ok.inet.test'))).out).toContain('tls hello from 10 sni=ok.inet.test');
    expect((await py(sb, tls('other.inet.test'))).out).toContain('refused');
    const { stats, denied } = (await sb.networkStats())!;
    expect(stats.denied).toBeGreaterThanOrEqual(2);
    expect(denied).toEqual(expect.arrayContaining(['other.inet.test:80 (Host)', 'other.inet.test:443 (SNI)']));
  }, 60_000);

  it('caps the connections open at once', async () => {
    const sb = await sandbox(egress(['198.51.100.10'], { maxConnections: 2 }));
    const r = await py(
      sb,
      `import socket\nheld = []\nfor i in range(3):\n    try:\n        held.append(socket.create_connection(('198.51.100.10', 80), timeout=3))\n        print('open', i)\n    except Exception as e:\n        print('refused', i, type(e).__name__)\n`,
    );
    expect(r.out).toContain('open 0');
    expect(r.out).toContain('open 1');
    expect(r.out).toContain('refused 2');
  }, 60_000);

  it('cannot change its own network: addresses, routes, links and the firewall belong to the host', async () => {
    const sb = await sandbox(egress(['0.0.0.0/0']));
    for (const argv of [
      ['/usr/sbin/ip', 'addr', 'add', '10.203.255.254/32', 'dev', 'lo'],
      ['/usr/sbin/ip', 'route', 'del', 'default'],
      ['/usr/sbin/ip', 'link', 'set', 'lo', 'down'],
      ['/usr/sbin/nft', 'flush', 'ruleset'],
    ]) {
      const r = await sb.runStage({ argv, env: { PATH: '/usr/bin:/usr/sbin' }, limits: DEFAULT_LIMITS.run });
      expect(r.exitCode, argv.join(' ')).not.toBe(0);
    }
    // Still filtered afterwards: the deny set holds.
    expect((await py(sb, CONNECT('169.254.169.254', 80))).out).toContain('refused');
  }, 60_000);

  it('starts several networked sandboxes at once, each with its own link, and removes them all', async () => {
    const sbs = await Promise.all(Array.from({ length: 5 }, () => sandbox(egress(['ok.inet.test']))));
    const outs = await Promise.all(sbs.map((sb) => py(sb, FETCH('http://ok.inet.test/') + OWN_ADDRESS)));
    for (const r of outs) expect(r.out).toContain('hello from 10');
    const addresses = outs.map((r) => r.out.trim().split('\n').pop());
    expect(new Set(addresses).size).toBe(5);
  }, 90_000);

  it('ends a download at the byte cap with a reset and says so', async () => {
    const sb = await sandbox(egress(['big.inet.test'], { bytesPerExecution: 2 * MiB }));
    const r = await py(
      sb,
      `import urllib.request\nn = 0\ntry:\n    with urllib.request.urlopen('http://big.inet.test/', timeout=10) as f:\n        while True:\n            b = f.read(65536)\n            if not b: break\n            n += len(b)\n    print('complete', n)\nexcept Exception as e:\n    print('cut', n, type(e).__name__)\n`,
    );
    expect(r.out).toMatch(/^cut \d+ /);
    const got = Number(r.out.split(' ')[1]);
    expect(got).toBeGreaterThan(MiB); // in and out together reach the cap: most of it is the download
    expect(got).toBeLessThanOrEqual(2 * MiB);
    expect(r.wallTimeMs).toBeLessThan(10_000); // a reset, not the read timeout
    const { stats } = (await sb.networkStats())!;
    expect(stats.byteCapReached).toBe(true);
  }, 60_000);

  it('holds a download to the bandwidth cap', async () => {
    // 1 MiB at 256 KiB/s takes about 4 s; unlimited, the same download takes milliseconds here. The
    // assertion is a lower bound on the time, which a slow machine cannot make pass by accident.
    const RATE = 256 * 1024;
    const sb = await sandbox(egress(['big.inet.test'], { bandwidthBytesPerSecond: RATE }));
    const r = await py(
      sb,
      `import urllib.request, time\nstart = time.monotonic()\nn = 0\nwith urllib.request.urlopen('http://big.inet.test/', timeout=15) as f:\n    while n < ${MiB}:\n        b = f.read(65536)\n        if not b: break\n        n += len(b)\nprint(n, time.monotonic() - start)\n`,
    );
    const [bytes, seconds] = r.out.trim().split(' ').map(Number);
    expect(bytes, r.out + r.stderr.toString()).toBeGreaterThanOrEqual(MiB);
    // measured here: 1 MiB in 3.2-3.3 s (the limit's burst and TCP's retransmits let ~1.25x the cap
    // through); no more than twice the cap is the bound
    expect(seconds).toBeGreaterThan(MiB / (2 * RATE));
  }, 60_000);

  it('the start-up sweep removes the netns, link and nft table a killed process left', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/fixtures/crashing-network.ts'), stateDir, DNS_SERVER], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const line = await new Promise<string>((resolveLine, reject) => {
      createInterface({ input: child.stdout! }).once('line', resolveLine);
      child.once('exit', (code) => reject(new Error(`the crashing process exited early (${code})`)));
    });
    const { netns, hostTable } = JSON.parse(line) as { netns: string; hostTable: string };
    const exited = new Promise((done) => child.once('exit', done));
    child.kill('SIGKILL');
    await exited;
    const present = () => ({
      netns: execFileSync('ip', ['netns', 'list']).toString().includes(netns),
      table: execFileSync('nft', ['list', 'tables']).toString().includes(hostTable),
      link: execFileSync('ip', ['-o', 'link']).toString().includes(`pn${netns.split('-').pop()}h`),
    });
    expect(present()).toEqual({ netns: true, table: true, link: true });
    const swept = await SandboxNetworks.sweep(stateDir);
    expect(swept).toEqual(expect.arrayContaining([netns, hostTable]));
    expect(present()).toEqual({ netns: false, table: false, link: false });
  }, 60_000);
});

describe('through the executor and the CLI', () => {
  it('a request with an allowlist gets result.network; a tenant without network.enabled gets 403', async () => {
    const dataDir = join(stateDir, 'data');
    const base = defaultConfig(1);
    const config = { ...base, network: { ...base.network, upstreamDns: DNS_SERVER }, sandbox: { ...base.sandbox, stateDir } };
    const ex = await createExecutor({ config, dataDir, stateDir, languages: ['python'], pool: false });
    try {
      const request = {
        language: 'python',
        files: [{ name: 'main.py', content: Buffer.from(FETCH('http://ok.inet.test/')) }],
        network: { allow: ['ok.inet.test'] },
      };
      await expect(ex.execute(request)).rejects.toMatchObject({ code: 'NETWORK_NOT_ALLOWED' });
      const policy = { ...BUILTIN_POLICY, maxLimits: ex.maxLimits, network: { ...BUILTIN_POLICY.network, enabled: true } };
      const result = await ex.execute(request, { policy });
      expect(result.status).toBe('ok');
      expect(result.run?.stdout).toContain('hello from 10');
      expect(result.network).toMatchObject({ connections: 1, denied: 0, dnsDenied: 0, byteCapReached: false });
      expect(result.network!.dnsQueries).toBeGreaterThanOrEqual(1);
      // Without an allowlist nothing changes: no network field, no way out.
      const none = await ex.execute({ ...request, network: undefined });
      expect(none.network).toBeUndefined();
      expect(none.run?.stdout).toMatch(/ERR/);
    } finally {
      await ex.close();
    }
  }, 120_000);

  it('a session with an allowlist keeps its network across execs, and removes it when it ends', async () => {
    const dataDir = join(stateDir, 'session-data');
    const base = defaultConfig(1);
    const ex = await createExecutor({
      config: { ...base, network: { ...base.network, upstreamDns: DNS_SERVER }, sandbox: { ...base.sandbox, stateDir } },
      dataDir,
      stateDir,
      languages: ['python'],
      pool: false,
    });
    const t = await makeTestApp(ex, { config: { tenants: { net: { network: { enabled: true } } } }, tenants: ['default', 'net'], dataDir, closeExecutor: false });
    try {
      const refused = await t.app.inject({ method: 'POST', url: '/v1/sessions', headers: t.auth('default'), payload: { network: { allow: ['ok.inet.test'] } } });
      expect(refused.statusCode).toBe(403);
      const created = await t.app.inject({ method: 'POST', url: '/v1/sessions', headers: t.auth('net'), payload: { network: { allow: ['ok.inet.test'] } } });
      expect(created.statusCode, created.body).toBe(201);
      const session = created.json() as { id: string; network: unknown };
      expect(session.network).toEqual({ allow: ['ok.inet.test'] });
      const curl = async (url: string) => {
        const r = await t.app.inject({
          method: 'POST',
          url: `/v1/sessions/${session.id}/exec`,
          headers: t.auth('net'),
          payload: { argv: ['curl', '-sS', '-m', '5', url] },
        });
        return r.json() as { run: { stdout: string; stderr: string } };
      };
      expect((await curl('http://ok.inet.test/')).run.stdout).toBe('hello from 10 host=ok.inet.test');
      expect((await curl('http://other.inet.test/')).run.stderr).toMatch(/resolve/i);
      expect((await curl('http://ok.inet.test/')).run.stdout).toBe('hello from 10 host=ok.inet.test');
      const deleted = await t.app.inject({ method: 'DELETE', url: `/v1/sessions/${session.id}`, headers: t.auth('net') });
      expect(deleted.statusCode).toBe(200);
    } finally {
      await t.cleanup();
      await ex.close();
    }
  }, 120_000);

  it("Judge0's enable_network: refused by default; a tenant with network enabled gets its ceiling list", async () => {
    const dataDir = join(stateDir, 'judge0-data');
    const base = defaultConfig(1);
    const ex = await createExecutor({
      config: { ...base, network: { ...base.network, upstreamDns: DNS_SERVER }, sandbox: { ...base.sandbox, stateDir } },
      dataDir,
      stateDir,
      languages: ['python'],
      pool: false,
    });
    const tenants = { net: { network: { enabled: true, allowCeiling: ['ok.inet.test'] } } };
    const t = await makeTestApp(ex, { config: { tenants }, tenants: ['default', 'net'], dataDir, closeExecutor: false });
    const submit = (tenant: string, source: string) =>
      t.app.inject({
        method: 'POST',
        url: '/submissions?wait=true',
        headers: { 'x-auth-token': t.keys[tenant]! },
        payload: { source_code: source, language_id: 71, enable_network: true },
      });
    try {
      const refused = await submit('default', FETCH('http://ok.inet.test/'));
      expect(refused.statusCode).toBe(422);
      expect(refused.json()).toEqual({ enable_network: ['this option cannot be enabled'] });
      const allowed = await submit('net', FETCH('http://ok.inet.test/'));
      expect(allowed.statusCode, allowed.body).toBe(201);
      expect(allowed.json()).toMatchObject({ status: { id: 3 }, stdout: expect.stringContaining('hello from 10') });
      // only the ceiling: another name of the test internet does not resolve
      const other = await submit('net', FETCH('http://other.inet.test/'));
      expect(other.json().stdout).toMatch(/^ERR URLError/);
    } finally {
      await t.cleanup();
      await ex.close();
    }
  }, 120_000);

  it('polyrun run --allow-net reaches the entry, with the upstream from POLYRUN_DNS_UPSTREAM', async () => {
    const script = join(stateDir, 'fetch.py');
    writeFileSync(script, FETCH('http://ok.inet.test/') + FETCH('http://other.inet.test/'));
    const out = await new Promise<{ code: number; stdout: string; stderr: string }>((done) =>
      execFile(
        process.execPath,
        ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'run', script, '--allow-net', 'ok.inet.test', '--json'],
        {
          cwd: ROOT,
          env: { ...process.env, POLYRUN_DATA_DIR: join(stateDir, 'cli-data'), POLYRUN_STATE_DIR: stateDir, POLYRUN_DNS_UPSTREAM: DNS_SERVER, POLYRUN_POOL: 'false' },
          timeout: 90_000,
        },
        (err, stdout, stderr) => done({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
      ),
    );
    expect(out.code, out.stderr).toBe(0);
    const result = JSON.parse(out.stdout) as { run: { stdout: string }; network: { dnsDenied: number } };
    expect(result.run.stdout).toContain('hello from 10');
    expect(result.run.stdout).toContain('ERR URLError'); // other.inet.test: NXDOMAIN
    expect(result.network.dnsDenied).toBeGreaterThanOrEqual(1);
  }, 120_000);
});
