/**
 * The DNS filter's decisions, apart from sockets and packets (resolver.ts does those). Pure.
 *
 * - A question for a name no entry allows: NXDOMAIN, whatever its type (no TXT/NULL/ANY tunnel through
 *   names that are not allowed).
 * - An allowed name: A and CNAME go to the upstream resolver; AAAA gets an empty answer (the sandbox link
 *   is IPv4 only, so clients fall back to IPv4 at once); every other type gets an empty answer.
 * - An upstream answer keeps only the CNAME chain from the asked name and the A records at its end; an
 *   address in the deny set is dropped (DNS rebinding: a public name must not lead to 10.x, 127.x or
 *   169.254.169.254). Each address kept is pinned into the sandbox's firewall for its TTL, bounded.
 */
import { cidrContainsAddress, type Cidr } from './address.js';
import { entriesForName, type AllowEntry } from './allowlist.js';

export type DnsReason = 'name_not_allowed' | 'type_not_allowed' | 'answer_denied';

export type QueryDecision = { action: 'forward' } | { action: 'nxdomain'; reason: DnsReason } | { action: 'empty'; reason: DnsReason | 'ipv6' };

/** Record types forwarded for allowed names; everything else is answered empty without asking upstream. */
export const FORWARDED_TYPES = new Set(['A', 'CNAME']);

/** Pins last at least this long (clients keep answers a little past their TTL) and at most this long. */
export const PIN_MIN_SECONDS = 30;
export const PIN_MAX_SECONDS = 3600;
const MAX_CHAIN = 8;

export function decideQuery(question: { name: string; type: string }, entries: readonly AllowEntry[]): QueryDecision {
  if (entriesForName(entries, question.name).length === 0) return { action: 'nxdomain', reason: 'name_not_allowed' };
  if (FORWARDED_TYPES.has(question.type)) return { action: 'forward' };
  if (question.type === 'AAAA') return { action: 'empty', reason: 'ipv6' };
  return { action: 'empty', reason: 'type_not_allowed' };
}

export interface AnswerRecord {
  name: string;
  type: string;
  ttl?: number;
  data: unknown;
}

export interface FilteredAnswer {
  answers: AnswerRecord[];
  /** Addresses to pin, with how long. */
  pins: { address: string; seconds: number }[];
  /** Addresses dropped because they are in the deny set. */
  denied: string[];
}

const lower = (n: string) => n.toLowerCase().replace(/\.$/, '');

export function filterAnswer(qname: string, answers: readonly AnswerRecord[], deny: readonly Cidr[]): FilteredAnswer {
  const chain = new Set([lower(qname)]);
  const kept: AnswerRecord[] = [];
  // Follow the CNAME chain in order, whatever order the records came in.
  for (let step = 0; step < MAX_CHAIN; step++) {
    const next = answers.find((a) => a.type === 'CNAME' && chain.has(lower(a.name)) && !chain.has(lower(String(a.data))));
    if (!next) break;
    kept.push(next);
    chain.add(lower(String(next.data)));
  }
  const pins: FilteredAnswer['pins'] = [];
  const denied: string[] = [];
  for (const a of answers) {
    if (a.type !== 'A' || !chain.has(lower(a.name)) || typeof a.data !== 'string') continue;
    if (deny.some((d) => cidrContainsAddress(d, a.data as string))) {
      denied.push(a.data);
      continue;
    }
    const ttl = Math.min(a.ttl ?? PIN_MIN_SECONDS, PIN_MAX_SECONDS);
    kept.push({ ...a, ttl });
    pins.push({ address: a.data, seconds: Math.max(ttl, PIN_MIN_SECONDS) });
  }
  return { answers: kept, pins, denied };
}
