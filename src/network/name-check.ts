/**
 * The Host/SNI check of one sandbox: connections from the sandbox to an address pinned for a name, on port
 * 80 or 443, are redirected (nft DNAT inside the sandbox's netns) to this small proxy on the gateway. It
 * reads the HTTP Host header or the TLS SNI (peek.ts), and passes the connection on only when that name is
 * allowed on that port, to an address the DNS filter answered for that name; otherwise the connection is
 * closed (HTTP gets a 403 first). So a name allowed does not open every other site on its address.
 * TLS is not terminated: the proxy only reads the ClientHello and then copies bytes both ways.
 * Limits: only the first request of an HTTP/1.1 connection is checked; a ClientHello without SNI is refused.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { entriesForName, type AllowEntry } from './allowlist.js';
import { httpHost, tlsServerName, PEEK_MAX_BYTES, type Peek } from './peek.js';

/** The proxy's port on the gateway for each checked destination port. */
export const NAME_CHECK_PORTS = { 80: 15080, 443: 15443 } as const;
export type CheckedPort = keyof typeof NAME_CHECK_PORTS;

const PEEK_TIMEOUT_MS = 10_000;
const FORBIDDEN = 'HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: 58\r\n\r\npolyrun: this host name is not in the network allowlist.\r\n';

export interface NameCheckOptions {
  listen: string;
  entries: readonly AllowEntry[];
  /** Addresses the DNS filter answered (and pinned) for a name, still valid. */
  addressesOf: (name: string) => string[];
  onDenied: (what: string) => void;
}

function allowedOn(entries: readonly AllowEntry[], name: string, port: number): boolean {
  return entriesForName(entries, name).some((e) => e.ports === null || (e.ports.from <= port && port <= e.ports.to));
}

export class NameCheck {
  private constructor(
    private readonly servers: Server[],
    private readonly sockets: Set<Socket>,
  ) {}

  static async start(options: NameCheckOptions): Promise<NameCheck> {
    const sockets = new Set<Socket>();
    const servers = await Promise.all(
      (Object.entries(NAME_CHECK_PORTS) as [string, number][]).map(([target, listenPort]) => {
        const port = Number(target) as CheckedPort;
        const server = createServer((client) => handle(client, port, options, sockets));
        return new Promise<Server>((resolve, reject) => {
          server.once('error', reject);
          server.listen(listenPort, options.listen, () => resolve(server));
        });
      }),
    );
    return new NameCheck(servers, sockets);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

function handle(client: Socket, port: CheckedPort, options: NameCheckOptions, sockets: Set<Socket>): void {
  sockets.add(client);
  client.on('close', () => sockets.delete(client));
  client.on('error', () => undefined);
  client.setTimeout(PEEK_TIMEOUT_MS, () => client.destroy());
  const parse = port === 80 ? httpHost : tlsServerName;
  let buffered = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]).subarray(0, PEEK_MAX_BYTES + 1);
    const peek: Peek = parse(buffered);
    if (peek.status === 'more') return;
    client.off('data', onData);
    client.pause();
    client.setTimeout(0);
    const name = peek.status === 'name' ? peek.name : null;
    const address = name && allowedOn(options.entries, name, port) ? options.addressesOf(name)[0] : undefined;
    if (!address) {
      options.onDenied(`${name ?? '(no name)'}:${port} (${port === 80 ? 'Host' : 'SNI'})`);
      if (port === 80) client.end(FORBIDDEN);
      else client.destroy();
      return;
    }
    const upstream = connect(port, address);
    sockets.add(upstream);
    upstream.on('close', () => {
      sockets.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.write(buffered);
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
  };
  client.on('data', onData);
}
