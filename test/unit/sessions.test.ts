/** Sessions, the pure part: settings within the policy, exec requests, paths, the reaper's rule. */
import { describe, expect, it } from 'vitest';
import { BUILTIN_POLICY, applyPolicyOverride } from '../../src/config/policy.js';
import { Value } from '@sinclair/typebox/value';
import { PolyrunError } from '../../src/contract/errors.js';
import { DEFAULT_BOUNDS, DEFAULT_LIMITS, MAX_LIMITS } from '../../src/limits/limits.js';
import {
  SessionCreateBodySchema,
  SessionExecBodySchema,
  commandArgv,
  commandEnv,
  commandLimits,
  expiry,
  programBody,
  reapReason,
  runtimeAllowed,
  sessionPath,
  sessionSettings,
  sessionShape,
} from '../../src/sessions/requests.js';

const MiB = 1024 * 1024;
const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return (err as PolyrunError).code;
  }
  return null;
};

describe('session settings', () => {
  it('take the policy defaults and refuse more than its ceilings', () => {
    const s = sessionSettings({}, BUILTIN_POLICY, DEFAULT_BOUNDS);
    expect(s).toMatchObject({ idleTimeoutMs: 5 * 60_000, lifetimeMs: 60 * 60_000, network: 'none', runtimes: '*', limits: DEFAULT_LIMITS.run });
    expect(code(() => sessionSettings({ idleTimeoutMs: 31 * 60_000 }, BUILTIN_POLICY, DEFAULT_BOUNDS))).toBe('VALIDATION_FAILED');
    expect(code(() => sessionSettings({ maxLifetimeMs: 5 * 60 * 60_000 }, BUILTIN_POLICY, DEFAULT_BOUNDS))).toBe('VALIDATION_FAILED');
    expect(code(() => sessionSettings({ limits: { cpuTimeMs: MAX_LIMITS.run.cpuTimeMs + 1 } }, BUILTIN_POLICY, DEFAULT_BOUNDS))).toBe('LIMIT_EXCEEDS_MAXIMUM');
    const noLoopback = { ...BUILTIN_POLICY, network: { ...BUILTIN_POLICY.network, modes: ['none' as const] } };
    expect(code(() => sessionSettings({ network: 'loopback' }, noLoopback, DEFAULT_BOUNDS))).toBe('NETWORK_NOT_ALLOWED');
    expect(sessionSettings({ limits: { cpuTimeMs: 100 } }, BUILTIN_POLICY, DEFAULT_BOUNDS).limits.cpuTimeMs).toBe(100);
  });

  it('size the sandbox from the maximum limits, memory and disk from the session policy', () => {
    const policy = applyPolicyOverride(BUILTIN_POLICY, { sessions: { memoryBytes: 128 * MiB, diskBytes: 8 * MiB, maxOpen: 1 } });
    expect(policy.sessions).toMatchObject({ maxOpen: 1, memoryBytes: 128 * MiB, idleTimeoutMs: BUILTIN_POLICY.sessions.idleTimeoutMs });
    expect(sessionShape(policy, DEFAULT_BOUNDS)).toMatchObject({ memoryBytes: 128 * MiB, workDirBytes: 8 * MiB, tmpBytes: 8 * MiB, processes: MAX_LIMITS.run.processes });
  });
});

describe('exec requests', () => {
  it('resolve a command exec: session defaults, then the exec, within the ceiling', () => {
    const session = { ...DEFAULT_LIMITS.run, cpuTimeMs: 1000 };
    expect(commandLimits(session, undefined, MAX_LIMITS).cpuTimeMs).toBe(1000);
    expect(commandLimits(session, { cpuTimeMs: 2000 }, MAX_LIMITS).cpuTimeMs).toBe(2000);
    expect(code(() => commandLimits(session, { cpuTimeMs: 10 ** 9 }, MAX_LIMITS))).toBe('LIMIT_EXCEEDS_MAXIMUM');
  });

  it('look a bare program name up in the sandbox PATH through env, keep paths as given', () => {
    expect(commandArgv(['ls', '-l'])).toEqual(['/usr/bin/env', '--', 'ls', '-l']);
    expect(commandArgv(['/usr/bin/python3', '-c', 'x'])).toEqual(['/usr/bin/python3', '-c', 'x']);
    expect(commandArgv(['./a.out'])).toEqual(['./a.out']);
    expect(code(() => commandArgv(['']))).toBe('VALIDATION_FAILED');
    expect(code(() => commandArgv(['a\0b']))).toBe('VALIDATION_FAILED');
  });

  it('start the env from the base env', () => {
    expect(commandEnv({ A: '1' })).toMatchObject({ PATH: '/usr/local/bin:/usr/bin:/bin', A: '1' });
    expect(code(() => commandEnv({ A: 'x\0y' }))).toBe('VALIDATION_FAILED');
  });

  it('turn a program exec into an execute body, code first, session defaults under the exec limits', () => {
    const body = programBody({ language: 'python', code: 'print(1)', files: [{ name: 'lib.py', content: 'x = 1' }], limits: { cpuTimeMs: 5 } }, DEFAULT_LIMITS.run, 'none');
    expect(body.files).toEqual([{ content: 'print(1)' }, { name: 'lib.py', content: 'x = 1' }]);
    expect(body.limits).toMatchObject({ cpuTimeMs: 5, wallTimeMs: DEFAULT_LIMITS.run.wallTimeMs });
    expect(code(() => programBody({ language: 'python' }, DEFAULT_LIMITS.run, 'none'))).toBe('VALIDATION_FAILED');
  });

  it('confine paths and runtimes', () => {
    expect(sessionPath('dir/a.txt', DEFAULT_BOUNDS)).toBe('dir/a.txt');
    for (const bad of ['../x', '/etc/passwd', 'a/../../b', '', 'a//b', '-rf']) expect(code(() => sessionPath(bad, DEFAULT_BOUNDS))).toBe('INVALID_FILE_NAME');
    expect(runtimeAllowed('*', { name: 'c', aliases: [] })).toBe(true);
    expect(runtimeAllowed(['py'], { name: 'python', aliases: ['py'] })).toBe(true);
    expect(runtimeAllowed(['c'], { name: 'python', aliases: ['py'] })).toBe(false);
  });
});

describe('the schemas', () => {
  it('take a command or a program exec, and refuse what is neither', () => {
    expect(Value.Check(SessionExecBodySchema, { argv: ['ls'], env: { A_1: 'x' }, limits: { cpuTimeMs: 10 } })).toBe(true);
    expect(Value.Check(SessionExecBodySchema, { language: 'c', files: [{ name: 'm.c', content: 'x', encoding: 'utf8' }] })).toBe(true);
    expect(Value.Check(SessionExecBodySchema, { argv: ['ls'], env: { 'bad-key': 'x' } })).toBe(false);
    expect(Value.Check(SessionExecBodySchema, { argv: [] })).toBe(false);
    expect(Value.Check(SessionExecBodySchema, { argv: ['ls'], language: 'c' })).toBe(false);
    expect(Value.Check(SessionCreateBodySchema, { network: 'loopback', idleTimeoutMs: 1000 })).toBe(true);
    expect(Value.Check(SessionCreateBodySchema, { idleTimeoutMs: 0 })).toBe(false);
  });
});

describe('the reaper rule', () => {
  const s = { createdAt: 0, lastUsedAt: 1000, idleTimeoutMs: 500, lifetimeMs: 10_000, busy: false };
  it('ends an idle session after its timeout, never a busy one, and any session at the end of its lifetime', () => {
    expect(reapReason(s, 1400)).toBeNull();
    expect(reapReason(s, 1500)).toBe('idle');
    expect(reapReason({ ...s, busy: true }, 1500)).toBeNull();
    expect(reapReason({ ...s, busy: true }, 10_000)).toBe('lifetime');
    expect(expiry(s)).toBe(1500);
    expect(expiry({ ...s, lastUsedAt: 9900 })).toBe(10_000);
  });
});
