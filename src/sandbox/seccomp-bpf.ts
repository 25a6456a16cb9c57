/**
 * The seccomp policy as a compiled BPF program, for backends that load the filter themselves (bwrap's
 * --seccomp FD). The source is the very OCI object the OCI runtimes get (`toOciSeccomp`), so every backend
 * enforces one policy; `bpfInput` flattens it into the line format of polyrun-seccomp-bpf
 * (seccomp/compile-bpf.c, built by scripts/setup against libseccomp), which writes the program.
 * Each distinct policy is compiled once per process and kept as a file.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { OciSeccomp } from './seccomp.js';

/** OCI names (SCMP_ARCH_X86_64) to libseccomp's (x86_64). */
function archName(oci: string): string {
  return oci.replace(/^SCMP_ARCH_/, '').toLowerCase();
}

function actionName(oci: string): string {
  return oci.replace(/^SCMP_ACT_/, '');
}

/** The compiler's input for one policy (pure; unit-tested). */
export function bpfInput(seccomp: OciSeccomp): string {
  const lines = [`default ${actionName(seccomp.defaultAction)} ${seccomp.defaultErrnoRet ?? 1}`];
  for (const arch of seccomp.architectures) lines.push(`arch ${archName(arch)}`);
  for (const rule of seccomp.syscalls) {
    const args = rule.args ?? [];
    const conds = args.map((a) => `${a.index} ${a.op.replace(/^SCMP_CMP_/, '')} ${a.value} ${a.valueTwo ?? 0}`);
    for (const name of rule.names) {
      lines.push(`rule ${actionName(rule.action)} ${rule.errnoRet ?? seccomp.defaultErrnoRet ?? 1} ${name} ${args.length}${conds.length ? ' ' + conds.join(' ') : ''}`);
    }
  }
  return lines.join('\n') + '\n';
}

/** Compiles policies with the helper binary into `dir`, once per distinct policy. */
export class SeccompBpfCache {
  private readonly compiled = new Map<string, Promise<string>>();
  /** The host builds one seccomp object per profile: its path is found without hashing the policy again. */
  private readonly byObject = new WeakMap<OciSeccomp, Promise<string>>();

  constructor(
    private readonly compiler: string,
    private readonly dir: string,
  ) {}

  /** Path of the BPF program of `seccomp` (compiled on first use). */
  pathFor(seccomp: OciSeccomp): Promise<string> {
    let known = this.byObject.get(seccomp);
    if (!known) {
      known = this.pathForPolicy(seccomp);
      known.catch(() => this.byObject.delete(seccomp));
      this.byObject.set(seccomp, known);
    }
    return known;
  }

  private pathForPolicy(seccomp: OciSeccomp): Promise<string> {
    const input = bpfInput(seccomp);
    const key = createHash('sha256').update(input).digest('hex').slice(0, 16);
    let path = this.compiled.get(key);
    if (!path) {
      path = this.compile(input, join(this.dir, `${key}.bpf`));
      path.catch(() => this.compiled.delete(key));
      this.compiled.set(key, path);
    }
    return path;
  }

  private async compile(input: string, target: string): Promise<string> {
    if (existsSync(target)) return target;
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const bpf = await new Promise<Buffer>((resolve, reject) => {
      const child = execFile(this.compiler, [], { encoding: 'buffer', timeout: 30_000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`compiling the seccomp policy failed: ${stderr.toString().trim() || err.message}`));
        else resolve(stdout);
      });
      child.stdin!.end(input);
    });
    if (bpf.length === 0 || bpf.length % 8 !== 0) throw new Error(`the seccomp compiler wrote ${bpf.length} bytes, not a BPF program`);
    const tmp = `${target}.tmp-${process.pid}`;
    await writeFile(tmp, bpf, { mode: 0o600 }); // handed to bwrap as an open fd
    await rename(tmp, target);
    return target;
  }
}
