/**
 * The abuse suite's attacks for the language families that open a door of their own: a JVM, the BEAM, Lisp,
 * Octave, R and Emacs can all start host programs (ProcessBuilder, System.cmd, run-program, system(),
 * shell-command). Whatever such a program starts runs inside the sandbox: as uid 1000, in the sandbox's
 * hostname, without the host's secrets or the service's environment, and nothing of it is left afterwards.
 * (The main suite, abuse.test.ts, covers the sandbox itself with C, Python and bash.)
 *
 * It runs on the host's default backend, and again on gVisor where runsc is installed (test/helpers/
 * backends.ts). Under gVisor, a runtime whose manifest says it cannot run there (gvisorUnsupported) must be
 * unavailable with that reason, and `ls` answers EINVAL (a limitation of Debian 12's runsc, see README).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createExecutor, type SandboxExecutor } from '../../src/executor/executor.js';
import { loadManifests } from '../../src/runtimes/registry.js';
import { backendsOnThisHost, configWithBackend } from '../helpers/backends.js';
import { hostLeftovers } from '../helpers/hostClean.js';

// In the service's environment before the executor starts: a spawned program must not see it.
const CANARY = `canary-${randomBytes(12).toString('hex')}`;
process.env.POLYRUN_SECRET_CANARY = CANARY;

/** What every attack asks its host-program door to run. */
const PROBE = 'id -u; hostname; cat /etc/shadow 2>&1; echo "canary=$POLYRUN_SECRET_CANARY"; ls /root 2>&1; echo done';

/** One program per family, each running PROBE through its language's own way of starting a program. */
const ATTACKS: { runtime: string; title: string; program: string }[] = [
  { runtime: 'groovy', title: 'a JVM program (Groovy) with ProcessBuilder', program: `print(["sh", "-c", '${PROBE}'].execute().text)` },
  {
    runtime: 'clojure',
    title: 'a JVM program (Clojure) with clojure.java.shell',
    program: `(require '[clojure.java.shell :as sh])\n(print (:out (sh/sh "sh" "-c" "${PROBE.replaceAll('"', '\\"')}")))\n(flush)\n(shutdown-agents)`,
  },
  { runtime: 'elixir', title: 'a BEAM program (Elixir) with System.cmd', program: `{out, _} = System.cmd("sh", ["-c", ~S(${PROBE})])\nIO.write(out)` },
  { runtime: 'erlang', title: 'a BEAM program (Erlang) with os:cmd', program: `main(_) -> io:put_chars(os:cmd("${PROBE.replaceAll('"', '\\"')}")).` },
  {
    runtime: 'commonlisp',
    title: 'SBCL with run-program',
    program: `(sb-ext:run-program "/bin/sh" (list "-c" "${PROBE.replaceAll('"', '\\"')}") :output *standard-output*)`,
  },
  { runtime: 'octave', title: 'Octave with system()', program: `[status, out] = system('${PROBE}');\nprintf('%s', out);` },
  { runtime: 'r', title: 'R with system()', program: `out <- system(${JSON.stringify(PROBE)}, intern = TRUE)\ncat(out, sep = "\\n")` },
  { runtime: 'emacs-lisp', title: 'Emacs with shell-command-to-string', program: `(princ (shell-command-to-string ${JSON.stringify(PROBE)}))` },
];

/** Why each runtime cannot run under gVisor, from its manifest. */
const GVISOR_UNSUPPORTED = new Map((await loadManifests()).filter((m) => m.gvisorUnsupported).map((m) => [m.name, m.gvisorUnsupported!]));

/** The host's default backend; and gVisor, where it is installed (and not narrowed away). */
const RUNS: { name: string; gvisor: boolean }[] = [
  { name: 'default backend', gvisor: false },
  ...(backendsOnThisHost().backends.includes('gvisor') ? [{ name: 'gvisor', gvisor: true }] : []),
];

afterAll(() => {
  delete process.env.POLYRUN_SECRET_CANARY;
});

describe.each(RUNS)('$name', ({ gvisor }) => {
  let ex: SandboxExecutor;
  let stateDir: string;
  const attacks = gvisor ? ATTACKS.filter((a) => !GVISOR_UNSUPPORTED.has(a.runtime)) : ATTACKS;
  const unsupported = gvisor ? ATTACKS.filter((a) => GVISOR_UNSUPPORTED.has(a.runtime)) : [];

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'polyrun-abuse-languages-'));
    ex = await createExecutor({
      stateDir,
      dataDir: join(tmpdir(), gvisor ? 'polyrun-runtimes-test-data-gvisor' : 'polyrun-runtimes-test-data'),
      languages: [...new Set(ATTACKS.map((a) => a.runtime))],
      ...(gvisor ? { config: configWithBackend('gvisor') } : {}),
    });
    // Under gVisor: unavailable exactly where the manifest says so, with its reason.
    const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
    expect([...ex.unavailable].sort(byName)).toEqual(
      unsupported.map((a) => ({ name: a.runtime, reason: expect.stringContaining(GVISOR_UNSUPPORTED.get(a.runtime)!) })).sort(byName),
    );
  }, 300_000);

  afterAll(async () => {
    await ex?.close();
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  });

  if (unsupported.length > 0) {
    test('a runtime that cannot run under gVisor is refused there, with the reason', async () => {
      for (const { runtime } of unsupported) {
        await expect(ex.execute({ language: runtime, files: [{ content: Buffer.from('') }] })).rejects.toMatchObject({ code: 'UNKNOWN_LANGUAGE' });
      }
    });
  }

  describe.each(attacks)('$title', ({ runtime, program }) => {
    test('the program it starts runs inside the sandbox and sees nothing of the host', async () => {
      const r = await ex.execute({ language: runtime, files: [{ content: Buffer.from(program) }], limits: { wallTimeMs: 20000 } });
      const out = r.run?.stdout ?? '';
      expect({ status: r.status, stderr: r.run?.stderr.slice(0, 500) }).toMatchObject({ status: 'ok' });
      const lines = out.trimEnd().split('\n');
      expect(lines[0], out).toBe('1000');
      expect(lines[1], out).not.toBe(hostname());
      expect(out).toMatch(/\/etc\/shadow: (No such file or directory|Permission denied)/);
      expect(out).toContain('canary=\n');
      expect(out).not.toContain(CANARY);
      // Debian 12's runsc answers ls's statx (AT_NO_AUTOMOUNT) with EINVAL, whatever the path.
      expect(out).toMatch(gvisor ? /\/root'?: Invalid argument/ : /\/root'?: (No such file or directory|Permission denied)/);
      expect(lines.at(-1)).toBe('done');
      await ex.settle();
      expect(await hostLeftovers(ex)).toEqual([]);
    }, 60_000);
  });
});
