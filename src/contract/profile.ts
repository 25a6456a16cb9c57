/**
 * The sandbox profile: the security settings fixed when a sandbox starts (they are part of its OCI spec),
 * chosen per execution. The warm pool keeps sandboxes per profile.
 *
 * - `seccomp`: the name of a policy file in src/sandbox/seccomp/ (data).
 * - `isolation`: absent = the host's backend; "gvisor" = the gVisor tier (src/sandbox/backends/gvisor.ts).
 * - `network`: "none" = a private network namespace with loopback only and no inet sockets (the default);
 *   "loopback" = the same private namespace, inet sockets allowed, so a program can talk to itself
 *   (a test server and its client). Nothing outside the sandbox is reachable in either mode.
 *   "egress" = its own network namespace with a link to the host, DNS through polyrun's filter and an
 *   nftables firewall that lets out only what `egress.allow` names (src/network/). Never pooled: the
 *   allowlist is the request's.
 */
import { Type, type Static } from '@sinclair/typebox';

export const NETWORK_MODES = ['none', 'loopback'] as const;
export type NetworkMode = (typeof NETWORK_MODES)[number];
export const PROFILE_NETWORKS = [...NETWORK_MODES, 'egress'] as const;

/** The network a sandbox with profile network "egress" gets: the request's allowlist and the tenant's caps. */
export const EgressSchema = Type.Object(
  {
    /** Allowlist entries (src/network/allowlist.ts grammar), validated when the request was prepared. */
    allow: Type.Array(Type.String()),
    bytesPerExecution: Type.Integer({ minimum: 1 }),
    bandwidthBytesPerSecond: Type.Integer({ minimum: 1 }),
    maxConnections: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
);
export type Egress = Static<typeof EgressSchema>;

/**
 * Isolation levels a request may ask for: "default" (the host's sandbox backend) or "gvisor" (the
 * hardened tier: gVisor's user-space kernel; only where the host has runsc and the tenant's policy allows it).
 */
export const ISOLATIONS = ['default', 'gvisor'] as const;
export type Isolation = (typeof ISOLATIONS)[number];

export const SandboxProfileSchema = Type.Object(
  {
    seccomp: Type.Literal('default'),
    network: Type.Union(PROFILE_NETWORKS.map((m) => Type.Literal(m))),
    egress: Type.Optional(EgressSchema),
    /** Absent = "default"; a gVisor sandbox is started by the gVisor backend and pooled apart. */
    isolation: Type.Optional(Type.Literal('gvisor')),
  },
  { additionalProperties: false },
);
export type SandboxProfile = Static<typeof SandboxProfileSchema>;

export const DEFAULT_PROFILE: SandboxProfile = { seccomp: 'default', network: 'none' };

/** A stable key for maps (the pool keeps one list per profile). */
export function profileKey(profile: SandboxProfile): string {
  return `${profile.seccomp}/${profile.network}${profile.isolation ? `/${profile.isolation}` : ''}`;
}
