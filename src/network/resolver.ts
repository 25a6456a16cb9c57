/**
 * The DNS filter of one sandbox: a UDP and TCP server on the sandbox's gateway address (the host's end of its
 * link, so it is the only host address the sandbox may reach). Decisions come from dns-filter.ts; this
 * file only decodes, forwards, pins and answers. Queries in flight are bounded, so a sandbox cannot make
 * the filter a traffic amplifier.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { randomInt } from 'node:crypto';
import dnsPacket from 'dns-packet';
import type { Cidr } from './address.js';
import { entriesForName, type AllowEntry } from './allowlist.js';
import { decideQuery, filterAnswer, type AnswerRecord } from './dns-filter.js';

export interface Upstream {
  address: string;
  port: number;
}

export interface ResolverStats {
  dnsQueries: number;
  dnsDenied: number;
  /** Names and addresses refused, for the audit line (bounded). */
  deniedNames: string[];
}

export interface ResolverOptions {
  listen: string;
  upstream: Upstream;
  entries: readonly AllowEntry[];
  deny: readonly Cidr[];
  /** Pin the addresses answered for a name into the firewall before the answer is sent. */
  pin: (matching: readonly AllowEntry[], pins: { address: string; seconds: number }[]) => Promise<void>;
}

const UPSTREAM_TIMEOUT_MS = 3_000;
const MAX_IN_FLIGHT = 16;
const MAX_DENIED_LISTED = 20;
const TCP_IDLE_MS = 10_000;
const TCP_MAX_PENDING_BYTES = 64 * 1024;
const NXDOMAIN = 3;
const SERVFAIL = 2;
const FORMERR = 1;

const MAX_ANSWERED_NAMES = 1024;

export class DnsFilter {
  readonly stats: ResolverStats = { dnsQueries: 0, dnsDenied: 0, deniedNames: [] };
  private inFlight = 0;
  /** Addresses answered per name (lower case), with when their pin ends: the Host/SNI check's targets. */
  private readonly answered = new Map<string, { address: string; until: number }[]>();

  private readonly connections = new Set<Socket>();

  private constructor(
    private readonly socket: UdpSocket,
    private readonly tcp: Server,
    private readonly options: ResolverOptions,
  ) {
    socket.on('message', (msg, rinfo) => void this.answerUdp(msg, rinfo.address, rinfo.port));
    tcp.on('connection', (conn) => this.serveTcp(conn));
  }

  static async start(options: ResolverOptions): Promise<DnsFilter> {
    const socket = createSocket({ type: 'udp4' });
    const tcp = createServer();
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(53, options.listen, () => {
        socket.off('error', reject);
        socket.on('error', () => undefined);
        resolve();
      });
    });
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(53, options.listen, () => resolve());
    }).catch((err: Error) => {
      socket.close();
      throw err;
    });
    return new DnsFilter(socket, tcp, options);
  }

  close(): Promise<void> {
    for (const c of this.connections) c.destroy();
    return Promise.all([
      new Promise<void>((resolve) => this.socket.close(() => resolve())),
      new Promise<void>((resolve) => this.tcp.close(() => resolve())),
    ]).then(() => undefined);
  }

  /** Addresses answered for a name whose pins are still valid. */
  addressesOf(name: string): string[] {
    const now = Date.now();
    return (this.answered.get(name.toLowerCase().replace(/\.$/, '')) ?? []).filter((a) => a.until > now).map((a) => a.address);
  }

  private denied(what: string): void {
    this.stats.dnsDenied++;
    this.record(what);
  }

  /** List a refused name or destination for the audit line (bounded), without counting a question. */
  record(what: string): void {
    if (this.stats.deniedNames.length < MAX_DENIED_LISTED && !this.stats.deniedNames.includes(what)) this.stats.deniedNames.push(what);
  }

  private async answerUdp(msg: Buffer, address: string, port: number): Promise<void> {
    const packet = await this.respond(msg);
    if (!packet) return;
    try {
      this.socket.send(dnsPacket.encode(packet), port, address);
    } catch {
      // the sandbox ended while its question was out (the socket is closed): nobody to answer
    }
  }

  /** DNS over TCP (RFC 7766): 2-byte length-prefixed messages, answered in order. */
  private serveTcp(conn: Socket): void {
    this.connections.add(conn);
    conn.on('close', () => this.connections.delete(conn));
    conn.on('error', () => undefined);
    conn.setTimeout(TCP_IDLE_MS, () => conn.destroy());
    let buffered = Buffer.alloc(0);
    let chain = Promise.resolve();
    conn.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        const msg = buffered.subarray(2, 2 + buffered.readUInt16BE(0));
        buffered = buffered.subarray(2 + msg.length);
        chain = chain.then(async () => {
          const packet = await this.respond(msg);
          if (!packet) return void conn.destroy();
          const out = dnsPacket.encode(packet);
          const length = Buffer.alloc(2);
          length.writeUInt16BE(out.length);
          if (!conn.destroyed) conn.write(Buffer.concat([length, out]));
        }).catch(() => void conn.destroy());
      }
      if (buffered.length > TCP_MAX_PENDING_BYTES) conn.destroy();
    });
  }

  /** The answer to one message, or null for something that is not a DNS message (no answer at all). */
  private async respond(msg: Buffer): Promise<dnsPacket.Packet | null> {
    let query: dnsPacket.DecodedPacket;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      return null; // not DNS: no answer
    }
    this.stats.dnsQueries++;
    const base = { type: 'response' as const, id: query.id ?? 0, questions: query.questions ?? [] };
    const flags = (rcode: number) => dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | rcode;
    const question = query.questions?.length === 1 ? query.questions[0]! : undefined;
    if (query.type !== 'query' || !question) return { ...base, flags: flags(FORMERR) };
    const decision = decideQuery({ name: question.name, type: question.type }, this.options.entries);
    if (decision.action === 'nxdomain') {
      this.denied(question.name);
      return { ...base, flags: flags(NXDOMAIN) };
    }
    if (decision.action === 'empty') {
      if (decision.reason !== 'ipv6') this.denied(`${question.name} ${question.type}`);
      return { ...base, flags: flags(0), answers: [] };
    }
    if (this.inFlight >= MAX_IN_FLIGHT) return { ...base, flags: flags(SERVFAIL) };
    this.inFlight++;
    try {
      const upstream = await this.ask(question);
      const rcode = upstream.flags === undefined ? 0 : upstream.flags & 0xf;
      const filtered = filterAnswer(question.name, (upstream.answers ?? []) as AnswerRecord[], this.options.deny);
      for (const a of filtered.denied) this.denied(`${question.name} -> ${a}`);
      if (filtered.denied.length > 0 && filtered.pins.length === 0) return { ...base, flags: flags(NXDOMAIN) };
      if (filtered.pins.length) {
        const name = question.name.toLowerCase().replace(/\.$/, '');
        // A repeated answer whose pins still have more than half their time left costs no `nft` run.
        const known = this.answered.get(name) ?? [];
        const now = Date.now();
        const fresh = filtered.pins.filter((p) => !known.some((k) => k.address === p.address && k.until - now > (p.seconds * 1000) / 2));
        if (fresh.length) await this.options.pin(entriesForName(this.options.entries, question.name), filtered.pins);
        else return { ...base, flags: flags(rcode), answers: filtered.answers as dnsPacket.Answer[] };
        if (this.answered.size >= MAX_ANSWERED_NAMES && !this.answered.has(name)) this.answered.delete(this.answered.keys().next().value!);
        this.answered.set(name, filtered.pins.map((p) => ({ address: p.address, until: Date.now() + p.seconds * 1000 })));
      }
      return { ...base, flags: flags(rcode), answers: filtered.answers as dnsPacket.Answer[] };
    } catch {
      return { ...base, flags: flags(SERVFAIL) };
    } finally {
      this.inFlight--;
    }
  }

  /** One question to the upstream resolver, on a socket of its own (a fresh port and id per question). */
  private ask(question: dnsPacket.Question): Promise<dnsPacket.DecodedPacket> {
    const { address, port } = this.options.upstream;
    const id = randomInt(0, 65536);
    const socket = createSocket({ type: address.includes(':') ? 'udp6' : 'udp4' });
    return new Promise<dnsPacket.DecodedPacket>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('upstream timeout')), UPSTREAM_TIMEOUT_MS);
      socket.on('error', reject);
      socket.on('message', (msg, rinfo) => {
        if (rinfo.address !== address || rinfo.port !== port) return;
        let packet: dnsPacket.DecodedPacket;
        try {
          packet = dnsPacket.decode(msg);
        } catch {
          return;
        }
        if (packet.id !== id || packet.type !== 'response') return;
        clearTimeout(timer);
        resolve(packet);
      });
      socket.send(dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [question] }), port, address);
    }).finally(() => socket.close());
  }
}
