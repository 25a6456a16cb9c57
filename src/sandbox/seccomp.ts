/**
 * Seccomp policies are data (seccomp/<name>.json, named by a sandbox profile's `seccomp`); this module
 * turns one into the OCI `linux.seccomp` object. Each policy file is read once per process, not per sandbox.
 */
import { readFileSync } from 'node:fs';
import { projectPath } from '../project.js';

export interface SeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}

export interface SeccompRule {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: SeccompArg[];
}

export interface SeccompPolicy {
  defaultAction: string;
  defaultErrnoRet: number;
  architectures: string[];
  allow: string[];
  conditional: SeccompRule[];
  killSyscalls: string[];
  networkSyscalls: SeccompRule[];
  /** How the policy is given to gVisor's runsc (backends/gvisor.ts); absent: as it is. */
  gvisor?: GvisorSeccomp;
}

/**
 * A policy's differences under gVisor, as data: syscalls its seccomp knows by another name, and rules
 * that come before the policy's own (the first matching rule applies).
 */
export interface GvisorSeccomp {
  syscallNames?: Record<string, string>;
  rules?: SeccompRule[];
}

export interface OciSeccomp {
  defaultAction: string;
  defaultErrnoRet: number;
  architectures: string[];
  syscalls: SeccompRule[];
  /** The policy's gVisor section; not part of the OCI object (specconv leaves it out of the spec). */
  gvisor?: GvisorSeccomp;
}

/** Where the policy named `name` lives: src/sandbox/seccomp/<name>.json. */
export function seccompPolicyPath(name: string): string {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) throw new Error(`not a seccomp policy name: ${JSON.stringify(name)}`);
  return projectPath('src', 'sandbox', 'seccomp', `${name}.json`);
}

export const DEFAULT_POLICY_PATH = seccompPolicyPath('default');

const cache = new Map<string, SeccompPolicy>();

export function loadSeccompPolicy(path = DEFAULT_POLICY_PATH): SeccompPolicy {
  const known = cache.get(path);
  if (known) return known;
  const policy = JSON.parse(readFileSync(path, 'utf8')) as SeccompPolicy;
  for (const key of ['defaultAction', 'architectures', 'allow', 'conditional', 'killSyscalls', 'networkSyscalls'] as const) {
    if (policy[key] === undefined) throw new Error(`seccomp policy ${path}: missing "${key}"`);
  }
  cache.set(path, policy);
  return policy;
}

/** The OCI seccomp object for a sandbox; `network` (profile network "loopback") adds the inet socket rules. */
export function toOciSeccomp(policy: SeccompPolicy, network: boolean): OciSeccomp {
  return {
    defaultAction: policy.defaultAction,
    defaultErrnoRet: policy.defaultErrnoRet,
    architectures: policy.architectures,
    syscalls: [
      { names: policy.allow, action: 'SCMP_ACT_ALLOW' },
      ...policy.conditional,
      ...(network ? policy.networkSyscalls : []),
      { names: policy.killSyscalls, action: 'SCMP_ACT_KILL_PROCESS' },
    ],
    ...(policy.gvisor ? { gvisor: policy.gvisor } : {}),
  };
}
