/**
 * A request's `network` against its tenant's policy: the sandbox profile it gets, or the error that says
 * why not. Pure; used by the one validation (src/pipeline/prepare.ts).
 */
import { errors } from '../contract/errors.js';
import { DEFAULT_PROFILE, type SandboxProfile } from '../contract/profile.js';
import type { ExecuteBody } from '../contract/request.js';
import type { NetworkPolicy } from '../config/policy.js';
import { parseAllowList, withinCeiling } from './allowlist.js';

export function resolveNetwork(network: ExecuteBody['network'], policy: NetworkPolicy): SandboxProfile {
  if (network === undefined || typeof network === 'string') {
    const mode = network ?? DEFAULT_PROFILE.network;
    if (mode === 'egress' || !policy.modes.includes(mode)) throw errors.networkNotAllowed(mode, policy.modes);
    return { ...DEFAULT_PROFILE, network: mode };
  }
  if (!policy.enabled) throw errors.networkDisabled();
  const texts = network.allow;
  if (texts.length > policy.maxEntries) throw errors.tooManyNetworkEntries(texts.length, policy.maxEntries);
  const { entries, problems } = parseAllowList(texts);
  // The sandbox link is IPv4 only: an IPv6 destination would be accepted and never reached, so say so.
  entries.forEach((e, i) => {
    if (e.target.kind === 'cidr' && e.target.cidr.family === 6) {
      problems.push({ index: texts.indexOf(e.text, i), entry: e.text, reason: 'IPv6 destinations are not routed (the sandbox link is IPv4 only)' });
    }
  });
  if (problems.length > 0) throw errors.invalidNetworkEntries(problems.sort((a, b) => a.index - b.index));
  if (policy.allowCeiling) {
    const ceiling = parseAllowList(policy.allowCeiling).entries;
    const outside = entries.findIndex((e) => !withinCeiling(e, ceiling));
    if (outside >= 0) throw errors.networkEntryOutsideCeiling(outside, texts[outside]!);
  }
  return {
    ...DEFAULT_PROFILE,
    network: 'egress',
    egress: {
      allow: [...texts],
      bytesPerExecution: policy.bytesPerExecution,
      bandwidthBytesPerSecond: policy.bandwidthBytesPerSecond,
      maxConnections: policy.maxConnections,
    },
  };
}
