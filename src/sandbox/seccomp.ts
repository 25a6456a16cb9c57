/**
 * The seccomp policy is data (seccomp/default.json); this module turns it into the OCI `linux.seccomp`
 * object. It is read once per process, not per sandbox.
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
}

export interface OciSeccomp {
  defaultAction: string;
  defaultErrnoRet: number;
  architectures: string[];
  syscalls: SeccompRule[];
}

export const DEFAULT_POLICY_PATH = projectPath('src', 'sandbox', 'seccomp', 'default.json');

let cached: { path: string; policy: SeccompPolicy } | undefined;

export function loadSeccompPolicy(path = DEFAULT_POLICY_PATH): SeccompPolicy {
  if (cached?.path === path) return cached.policy;
  const policy = JSON.parse(readFileSync(path, 'utf8')) as SeccompPolicy;
  for (const key of ['defaultAction', 'architectures', 'allow', 'conditional', 'killSyscalls'] as const) {
    if (policy[key] === undefined) throw new Error(`seccomp policy ${path}: missing "${key}"`);
  }
  cached = { path, policy };
  return policy;
}

/** The OCI seccomp object for a sandbox; `network` adds the inet socket rules. */
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
  };
}
