/**
 * Judge0's `enable_network` in polyrun's terms, pure. Judge0's flag means "the internet"; here it means the
 * egress its tenant's network policy grants (docs/network.md): the policy's ceiling list when it has one,
 * else every public destination (0.0.0.0/0, from which the always-denied set is still cut: the host, its
 * neighbours and private ranges stay unreachable). A tenant whose policy does not enable the network (the
 * default) is refused, unlike Judge0, whose default allowed it (CVE-2024-29021).
 */
import type { NetworkPolicy } from '../../config/policy.js';
import type { ExecuteBody } from '../../contract/request.js';

/** Every public IPv4 destination; the deny set (network.denyCidrs) is removed from it by the firewall. */
export const PUBLIC_EGRESS = '0.0.0.0/0';

/** The `network` an enable_network submission runs with, or undefined when its tenant may not use one. */
export function judge0Network(policy: NetworkPolicy): ExecuteBody['network'] | undefined {
  if (!policy.enabled) return undefined;
  const allow = policy.allowCeiling ?? [PUBLIC_EGRESS];
  // A ceiling longer than the tenant's own entry limit could never pass validation: no network then.
  if (allow.length === 0 || allow.length > policy.maxEntries) return undefined;
  return { allow: [...allow] };
}

/** Whether a tenant may set enable_network. */
export function networkAllowed(policy: NetworkPolicy): boolean {
  return judge0Network(policy) !== undefined;
}
