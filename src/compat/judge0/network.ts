/**
 * Judge0's `enable_network` in polyrun's terms, pure: the sandbox network mode that reaches outside the
 * sandbox, if this polyrun has one (a mode of NETWORK_MODES other than "none" and "loopback", which stay
 * inside), and only for a tenant whose policy lists it. Never on by default (Judge0's default allowed it:
 * CVE-2024-29021). With today's modes there is none, so enable_network is refused.
 */
import { NETWORK_MODES, type NetworkMode } from '../../contract/profile.js';

const INSIDE_ONLY: readonly string[] = ['none', 'loopback'];

/** The mode enable_network asks for, or undefined when no mode reaches outside the sandbox. */
export function outsideNetworkMode(modes: readonly string[] = NETWORK_MODES): NetworkMode | undefined {
  return modes.find((m) => !INSIDE_ONLY.includes(m)) as NetworkMode | undefined;
}

/** Whether a tenant (its policy's network modes) may enable the network. */
export function networkAllowed(tenantModes: readonly string[], modes: readonly string[] = NETWORK_MODES): boolean {
  const mode = outsideNetworkMode(modes);
  return mode !== undefined && tenantModes.includes(mode);
}
