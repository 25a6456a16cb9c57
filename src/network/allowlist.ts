/**
 * The allowlist entry grammar of a request's `network.allow` (docs/api.md), parsed into data. Pure.
 *
 *   entry   = target [ ":" ports ]            (an IPv6 target with ports is written in brackets: [2001:db8::1]:443)
 *   target  = name | "*." name | ipv4 [ "/" len ] | ipv6 [ "/" len ]
 *   ports   = port | port "-" port            (1-65535; no ports = every port)
 *
 * A name has at least two labels (letters, digits, "-", no label starting or ending with "-"), is at most
 * 253 bytes and is matched case-insensitively; "*.example.com" allows every name under example.com but not
 * example.com itself, and the wildcard must cover at least two labels ("*.com" is refused as too broad).
 */
import { cidrContainsCidr, parseCidr, type Cidr } from './address.js';

export interface PortRange {
  from: number;
  to: number;
}

export type AllowTarget = { kind: 'name'; name: string } | { kind: 'wildcard'; suffix: string } | { kind: 'cidr'; cidr: Cidr };

export interface AllowEntry {
  /** The entry as the request wrote it. */
  text: string;
  target: AllowTarget;
  /** null: every port. */
  ports: PortRange | null;
}

export type ParseResult = { ok: true; entry: AllowEntry } | { ok: false; reason: string };

const MAX_ENTRY_LENGTH = 300;
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

export const ALL_PORTS: PortRange = { from: 1, to: 65535 };

function parsePorts(text: string): PortRange | string {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  if (!m) return `port "${text}" is not a number or a range lo-hi`;
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  if (from < 1 || to > 65535) return 'ports must be 1 to 65535';
  if (from > to) return `port range ${from}-${to} is empty`;
  return { from, to };
}

function parseName(text: string): string | { error: string } {
  const name = text.toLowerCase().replace(/\.$/, '');
  if (name.length === 0) return { error: 'empty name' };
  if (name.length > 253) return { error: 'name longer than 253 characters' };
  const labels = name.split('.');
  const bad = labels.find((l) => !LABEL.test(l));
  if (bad !== undefined) return { error: `"${bad}" is not a valid label (letters, digits and "-", 1 to 63 characters)` };
  if (labels.length < 2) return { error: 'a name needs at least two labels (example.com)' };
  if (/^\d+$/.test(labels[labels.length - 1]!)) return { error: 'not a valid IP address or name' };
  return name;
}

/** Split "target:ports" (IPv6 targets need brackets to carry ports). */
function splitPorts(text: string): { target: string; ports?: string } | { error: string } {
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return { error: 'missing "]"' };
    const rest = text.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) return { error: 'expected ":port" after "]"' };
    return rest === '' ? { target: text.slice(1, close) } : { target: text.slice(1, close), ports: rest.slice(1) };
  }
  const colons = text.split(':').length - 1;
  if (colons === 0) return { target: text };
  if (colons === 1) {
    const [target, ports] = text.split(':');
    return { target: target!, ports: ports! };
  }
  return { target: text }; // a bare IPv6 address or block, no ports
}

export function parseAllowEntry(text: string): ParseResult {
  if (typeof text !== 'string' || text.trim() !== text || text.length === 0) return { ok: false, reason: 'empty or surrounded by spaces' };
  if (text.length > MAX_ENTRY_LENGTH) return { ok: false, reason: `longer than ${MAX_ENTRY_LENGTH} characters` };
  const split = splitPorts(text);
  if ('error' in split) return { ok: false, reason: split.error };
  let ports: PortRange | null = null;
  if (split.ports !== undefined) {
    const p = parsePorts(split.ports);
    if (typeof p === 'string') return { ok: false, reason: p };
    ports = p;
  }
  const target = split.target;
  if (/^[0-9.]+(\/\d+)?$/.test(target) || target.includes(':')) {
    const c = parseCidr(target);
    return c.ok ? { ok: true, entry: { text, target: { kind: 'cidr', cidr: c.cidr }, ports } } : { ok: false, reason: c.reason };
  }
  if (target.startsWith('*.')) {
    const suffix = parseName(target.slice(2));
    if (typeof suffix !== 'string') return { ok: false, reason: suffix.error };
    return { ok: true, entry: { text, target: { kind: 'wildcard', suffix }, ports } };
  }
  if (target.includes('*')) return { ok: false, reason: 'a wildcard is only allowed as a leading "*."' };
  const name = parseName(target);
  if (typeof name !== 'string') return { ok: false, reason: name.error };
  return { ok: true, entry: { text, target: { kind: 'name', name }, ports } };
}

export interface EntryProblem {
  index: number;
  entry: string;
  reason: string;
}

/** Parse a whole list; the problems carry the index of each bad entry. */
export function parseAllowList(texts: readonly string[]): { entries: AllowEntry[]; problems: EntryProblem[] } {
  const entries: AllowEntry[] = [];
  const problems: EntryProblem[] = [];
  texts.forEach((text, index) => {
    const r = parseAllowEntry(text);
    if (r.ok) entries.push(r.entry);
    else problems.push({ index, entry: String(text), reason: r.reason });
  });
  return { entries, problems };
}

/** Whether a name (lower case, no trailing dot) is allowed by a name or wildcard entry. */
export function nameMatches(target: AllowTarget, name: string): boolean {
  const n = name.toLowerCase().replace(/\.$/, '');
  if (target.kind === 'name') return n === target.name;
  if (target.kind === 'wildcard') return n.endsWith(`.${target.suffix}`);
  return false;
}

/** Entries whose target allows this name (their ports then apply to its addresses). */
export function entriesForName(entries: readonly AllowEntry[], name: string): AllowEntry[] {
  return entries.filter((e) => nameMatches(e.target, name));
}

function portsWithin(inner: PortRange | null, outer: PortRange | null): boolean {
  if (outer === null) return true;
  if (inner === null) return false;
  return inner.from >= outer.from && inner.to <= outer.to;
}

function targetWithin(inner: AllowTarget, outer: AllowTarget): boolean {
  if (outer.kind === 'cidr') return inner.kind === 'cidr' && cidrContainsCidr(outer.cidr, inner.cidr);
  if (inner.kind === 'cidr') return false; // an address is not a name: the tenant's ceiling names names
  if (outer.kind === 'name') return inner.kind === 'name' && inner.name === outer.name;
  const name = inner.kind === 'name' ? inner.name : inner.suffix;
  return name.endsWith(`.${outer.suffix}`);
}

/** Whether an entry stays within a ceiling (some ceiling entry covers its target and its ports). */
export function withinCeiling(entry: AllowEntry, ceiling: readonly AllowEntry[]): boolean {
  return ceiling.some((c) => targetWithin(entry.target, c.target) && portsWithin(entry.ports, c.ports));
}
