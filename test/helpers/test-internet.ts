/**
 * A small local "internet" for the network tests, in a network namespace this helper makes and removes:
 * TEST-NET addresses (198.51.100.0/24, 203.0.113.0/24) on the namespace's loopback, reached from the host
 * through a veth link and two host routes; HTTP servers, a UDP echo and an authoritative DNS server for
 * the zone inet.test at 203.0.113.53 (test/fixtures/network/internet.mjs). Nothing leaves the machine.
 *
 * Host changes, all undone by `close()`: the namespace, the link, the two routes, and IP forwarding if it
 * was off (networked sandboxes need it; `polyrun doctor` tells operators the same).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { projectPath } from '../../src/project.js';

export const DNS_SERVER = '203.0.113.53';
const ADDRESSES = ['198.51.100.10', '198.51.100.11', '198.51.100.12', '203.0.113.5', DNS_SERVER];
const FORWARD = '/proc/sys/net/ipv4/ip_forward';

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

export class TestInternet {
  private constructor(
    readonly netns: string,
    private readonly hostLink: string,
    private readonly server: ChildProcess,
    private readonly forwardWas: string,
  ) {}

  static async start(): Promise<TestInternet> {
    const tag = (process.pid % 100000).toString(36);
    const netns = `pt-inet-${tag}`;
    const hostLink = `pti${tag}h`;
    const forwardWas = readFileSync(FORWARD, 'utf8').trim();
    if (forwardWas !== '1') writeFileSync(FORWARD, '1');
    // Link 100.127.253.0/30 is CGNAT space (denied to sandboxes by default), unused on this host.
    ip('netns', 'add', netns);
    ip('link', 'add', hostLink, 'type', 'veth', 'peer', 'name', `pti${tag}i`, 'netns', netns);
    ip('addr', 'add', '100.127.253.1/30', 'dev', hostLink);
    ip('link', 'set', hostLink, 'up');
    ip('-n', netns, 'addr', 'add', '100.127.253.2/30', 'dev', `pti${tag}i`);
    ip('-n', netns, 'link', 'set', `pti${tag}i`, 'up');
    ip('-n', netns, 'link', 'set', 'lo', 'up');
    for (const a of ADDRESSES) ip('-n', netns, 'addr', 'add', `${a}/32`, 'dev', 'lo');
    ip('-n', netns, 'route', 'add', 'default', 'via', '100.127.253.1');
    ip('route', 'add', '198.51.100.0/24', 'via', '100.127.253.2');
    ip('route', 'add', '203.0.113.0/24', 'via', '100.127.253.2');
    const server = spawn('ip', ['netns', 'exec', netns, process.execPath, projectPath('test', 'fixtures', 'network', 'internet.mjs')], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const net = new TestInternet(netns, hostLink, server, forwardWas);
    await new Promise<void>((resolve, reject) => {
      server.once('exit', (code) => reject(new Error(`test internet exited (${code})`)));
      server.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) resolve();
      });
    }).catch(async (err) => {
      await net.close();
      throw err;
    });
    return net;
  }

  async close(): Promise<void> {
    this.server.stdin?.end();
    if (this.server.exitCode === null) await new Promise((resolve) => this.server.once('exit', resolve));
    for (const args of [
      ['route', 'del', '198.51.100.0/24'],
      ['route', 'del', '203.0.113.0/24'],
      ['link', 'del', this.hostLink],
      ['netns', 'del', this.netns],
    ]) {
      try {
        ip(...args);
      } catch {
        // already gone
      }
    }
    if (this.forwardWas !== '1') writeFileSync(FORWARD, this.forwardWas);
  }
}
