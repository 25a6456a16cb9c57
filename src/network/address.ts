/**
 * IP addresses and CIDR blocks as numbers (bigint), so containment is arithmetic, not string matching.
 * Pure. IPv4 and IPv6; an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is an IPv6 address here (the deny set
 * lists ::ffff:0:0/96 so such destinations are refused as a whole).
 */
import { isIPv4, isIPv6 } from 'node:net';

export type Family = 4 | 6;

export interface Cidr {
  family: Family;
  /** The network address (host bits zero). */
  base: bigint;
  prefix: number;
}

const BITS: Record<Family, number> = { 4: 32, 6: 128 };

export function familyOf(address: string): Family | null {
  if (isIPv4(address)) return 4;
  if (isIPv6(address)) return 6;
  return null;
}

/** The address as a number, or null if it is not an IP address. */
export function addressValue(address: string): { family: Family; value: bigint } | null {
  const family = familyOf(address);
  if (family === 4) return { family, value: v4Value(address) };
  if (family === 6) return { family, value: v6Value(address) };
  return null;
}

function v4Value(address: string): bigint {
  return address.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function v6Value(address: string): bigint {
  let text = address.split('%')[0]!;
  // A trailing dotted quad (::ffff:1.2.3.4) becomes two hex groups.
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (quad) {
    const v = v4Value(quad[1]!);
    text = text.slice(0, -quad[1]!.length) + `${(v >> 16n).toString(16)}:${(v & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const missing = 8 - headGroups.length - tailGroups.length;
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array(missing).fill('0'), ...tailGroups];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

export function formatAddress(family: Family, value: bigint): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => ((value >> s) & 0xffn).toString()).join('.');
  const groups = Array.from({ length: 8 }, (_, i) => ((value >> BigInt((7 - i) * 16)) & 0xffffn).toString(16));
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::').replace(/:::+/, '::');
}

function mask(family: Family, prefix: number): bigint {
  const bits = BigInt(BITS[family]);
  return ((1n << bits) - 1n) ^ ((1n << (bits - BigInt(prefix))) - 1n);
}

/** Parse "a.b.c.d/n", "x::/n" or a bare address (a /32 or /128). Errors say why, for 422 answers. */
export function parseCidr(text: string): { ok: true; cidr: Cidr } | { ok: false; reason: string } {
  const [addr, prefixText, extra] = text.split('/');
  if (extra !== undefined) return { ok: false, reason: 'has more than one "/"' };
  const parsed = addressValue(addr!);
  if (!parsed) return { ok: false, reason: `"${addr}" is not an IP address` };
  const max = BITS[parsed.family];
  let prefix = max;
  if (prefixText !== undefined) {
    if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) {
      return { ok: false, reason: `prefix length must be 0 to ${max}` };
    }
    prefix = Number(prefixText);
  }
  if ((parsed.value & ~mask(parsed.family, prefix)) !== 0n) {
    return { ok: false, reason: `host bits are set (did you mean ${formatAddress(parsed.family, parsed.value & mask(parsed.family, prefix))}/${prefix}?)` };
  }
  return { ok: true, cidr: { family: parsed.family, base: parsed.value, prefix } };
}

/** parseCidr for trusted input (config defaults, tests): throws on a bad block. */
export function cidr(text: string): Cidr {
  const parsed = parseCidr(text);
  if (!parsed.ok) throw new Error(`bad CIDR ${text}: ${parsed.reason}`);
  return parsed.cidr;
}

export function cidrContainsAddress(block: Cidr, address: string): boolean {
  const a = addressValue(address);
  return !!a && a.family === block.family && (a.value & mask(block.family, block.prefix)) === block.base;
}

/** Whether `outer` contains all of `inner`. */
export function cidrContainsCidr(outer: Cidr, inner: Cidr): boolean {
  return outer.family === inner.family && outer.prefix <= inner.prefix && (inner.base & mask(outer.family, outer.prefix)) === outer.base;
}

export function formatCidr(block: Cidr): string {
  return `${formatAddress(block.family, block.base)}/${block.prefix}`;
}

/** The n-th address of a block (n from 0). */
export function nthAddress(block: Cidr, n: bigint): string {
  return formatAddress(block.family, block.base + n);
}

export function blockSize(block: Cidr): bigint {
  return 1n << BigInt(BITS[block.family] - block.prefix);
}

/** Blocks with those inside another block of the list removed (nft interval sets refuse overlaps). */
export function mergeCidrs(blocks: Cidr[]): Cidr[] {
  const sorted = [...blocks].sort((a, b) => a.prefix - b.prefix);
  const kept: Cidr[] = [];
  for (const b of sorted) if (!kept.some((k) => cidrContainsCidr(k, b))) kept.push(b);
  return kept;
}
