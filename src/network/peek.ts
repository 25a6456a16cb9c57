/**
 * The name a client asks for, read from the first bytes of its connection: the Host header of an HTTP
 * request, the server_name (SNI) of a TLS ClientHello. Pure; the host-side check (name-check.ts) uses it so
 * an allowed name does not open every other site on the same address (a CDN).
 */

export type Peek = { status: 'more' } | { status: 'name'; name: string } | { status: 'none' };

/** Bytes read at most before deciding (a ClientHello with many extensions fits; a larger one is refused). */
export const PEEK_MAX_BYTES = 16 * 1024;

const NAME = /^(?=.{1,253}$)[a-z0-9-]+(\.[a-z0-9-]+)*$/;

function named(raw: string): Peek {
  const name = raw.trim().toLowerCase().replace(/\.$/, '');
  return NAME.test(name) ? { status: 'name', name } : { status: 'none' };
}

export function httpHost(buf: Buffer): Peek {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return buf.length < PEEK_MAX_BYTES ? { status: 'more' } : { status: 'none' };
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  if (!/^[A-Z]+ \S+ HTTP\/1\.[01]$/.test(lines[0] ?? '')) return { status: 'none' };
  const hosts = lines.slice(1).filter((l) => /^host\s*:/i.test(l));
  if (hosts.length !== 1) return { status: 'none' }; // none, or two (which one would the server use?)
  const value = hosts[0]!.slice(hosts[0]!.indexOf(':') + 1).trim();
  return named(value.replace(/:\d+$/, ''));
}

export function tlsServerName(buf: Buffer): Peek {
  if (buf.length < 5) return { status: 'more' };
  if (buf[0] !== 0x16) return { status: 'none' }; // not a handshake record
  const recordLength = buf.readUInt16BE(3);
  if (buf.length < 5 + recordLength) return 5 + recordLength <= PEEK_MAX_BYTES ? { status: 'more' } : { status: 'none' };
  const hs = buf.subarray(5, 5 + recordLength);
  if (hs.length < 4 || hs[0] !== 0x01) return { status: 'none' }; // not a ClientHello
  const body = hs.subarray(4, 4 + hs.readUIntBE(1, 3));
  try {
    let p = 2 + 32; // version, random
    p += 1 + body[p]!; // session id
    p += 2 + body.readUInt16BE(p); // cipher suites
    p += 1 + body[p]!; // compression methods
    const end = p + 2 + body.readUInt16BE(p);
    p += 2;
    while (p + 4 <= end) {
      const type = body.readUInt16BE(p);
      const length = body.readUInt16BE(p + 2);
      p += 4;
      if (type === 0) {
        let q = p + 2;
        while (q + 3 <= p + length) {
          const nameLength = body.readUInt16BE(q + 1);
          if (body[q] === 0) return named(body.toString('latin1', q + 3, q + 3 + nameLength));
          q += 3 + nameLength;
        }
        return { status: 'none' };
      }
      p += length;
    }
  } catch {
    // truncated or malformed: no name
  }
  return { status: 'none' };
}
