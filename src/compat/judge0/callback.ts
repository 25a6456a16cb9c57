/**
 * Judge0's callback_url, delivered safely: a PUT of the submission's default fields (base64, as Judge0
 * sends them) once it is finished, with a timeout per attempt and retries on network errors only (any HTTP
 * answer ends it, as in Judge0). Unlike Judge0 (an SSRF surface), a callback only goes where the operator
 * allows: http(s) URLs without credentials, to `allowedHosts` when that list is set, and never to a
 * loopback, private, link-local or otherwise non-public address unless `allowPrivate`: every address the
 * name resolves to is checked, and the connection goes to the checked address (no second lookup an
 * attacker's DNS could answer differently). Outcomes are counted in polyrun_judge0_callbacks_total.
 */
import { lookup as dnsLookup } from 'node:dns';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';

export interface CallbackPolicy {
  enabled: boolean;
  allowedHosts: string[];
  allowPrivate: boolean;
  timeoutMs: number;
  maxTries: number;
}

export type CallbackOutcome = 'delivered' | 'rejected' | 'failed' | 'refused';

/** Addresses a callback never reaches unless allowPrivate (loopback, private, link-local, CGNAT, reserved). */
const NON_PUBLIC = (() => {
  const b = new BlockList();
  for (const [net, bits] of [
    ['0.0.0.0', 8],
    ['10.0.0.0', 8],
    ['100.64.0.0', 10],
    ['127.0.0.0', 8],
    ['169.254.0.0', 16],
    ['172.16.0.0', 12],
    ['192.0.0.0', 24],
    ['192.168.0.0', 16],
    ['198.18.0.0', 15],
    ['224.0.0.0', 4],
    ['240.0.0.0', 4],
  ] as const) {
    b.addSubnet(net, bits, 'ipv4');
  }
  for (const [net, bits] of [
    ['::', 128],
    ['::1', 128],
    ['fc00::', 7],
    ['fe80::', 10],
    ['ff00::', 8],
    ['64:ff9b::', 96],
  ] as const) {
    b.addSubnet(net, bits, 'ipv6');
  }
  return b;
})();

export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address); // an IPv4 address in IPv6 clothing
  if (mapped) return !NON_PUBLIC.check(mapped[1]!, 'ipv4');
  return !NON_PUBLIC.check(address, family === 6 ? 'ipv6' : 'ipv4');
}

/** Why this URL may not be a callback (422 message), or null. Pure: names are resolved at delivery. */
export function callbackProblem(raw: string, policy: CallbackPolicy): string | null {
  if (!policy.enabled) return 'setting callback is not allowed';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'is not a valid URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an http or https URL';
  if (url.username || url.password) return 'must not carry credentials';
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (policy.allowedHosts.length > 0 && !policy.allowedHosts.map((h) => h.toLowerCase()).includes(host)) return 'this host is not allowed';
  if (!policy.allowPrivate && (host === 'localhost' || host.endsWith('.localhost') || (isIP(host) !== 0 && !isPublicAddress(host)))) {
    return 'must not be a loopback, private or link-local address';
  }
  return null;
}

/** A lookup that only answers addresses the policy allows (every address of the name is checked). */
function checkedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 4);
      const list = addresses as unknown as { address: string; family: number }[];
      if (list.length === 0 || (!allowPrivate && list.some((a) => !isPublicAddress(a.address)))) {
        const refused = Object.assign(new Error(`callback host ${hostname} resolves to a non-public address`), { code: 'POLYRUN_REFUSED' });
        return callback(refused, '', 4);
      }
      if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: typeof list) => void)(null, list);
      callback(null, list[0]!.address, list[0]!.family);
    });
  };
}

function attempt(url: URL, body: string, policy: CallbackPolicy): Promise<{ status: number } | { error: Error }> {
  return new Promise((resolve) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(url, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      lookup: checkedLookup(policy.allowPrivate),
      timeout: policy.timeoutMs,
    });
    const timer = setTimeout(() => req.destroy(new Error('callback timed out')), policy.timeoutMs);
    req.on('timeout', () => req.destroy(new Error('callback timed out')));
    req.on('response', (res) => {
      clearTimeout(timer);
      res.resume(); // the answer's body is of no interest
      resolve({ status: res.statusCode ?? 0 });
    });
    req.on('error', (error) => {
      clearTimeout(timer);
      resolve({ error });
    });
    req.end(body);
  });
}

/** Deliver one callback; never throws. Resolves with how it ended. */
export async function deliverCallback(raw: string, payload: unknown, policy: CallbackPolicy): Promise<CallbackOutcome> {
  if (callbackProblem(raw, policy) !== null) return 'refused';
  const url = new URL(raw);
  const body = JSON.stringify(payload);
  for (let i = 0; i < policy.maxTries; i++) {
    const r = await attempt(url, body, policy);
    if ('status' in r) return r.status >= 200 && r.status < 300 ? 'delivered' : 'rejected';
    if ((r.error as { code?: string }).code === 'POLYRUN_REFUSED') return 'refused';
  }
  return 'failed';
}
