/**
 * The kernels polyrun offers, as a table: which runtime a kernel belongs to, and how its driver starts.
 * A driver (drivers/<language>.*) is a small program in the kernel's own language that keeps one
 * interpreter state across cells and speaks the cell protocol (see drivers/python.py's header). It is passed
 * on the command line (`-c` / `-e`), so a kernel needs nothing in the sandbox but the runtime itself.
 */
import { readFileSync } from 'node:fs';
import { projectPath } from '../project.js';

export interface KernelSpec {
  /** The language a cell names, and the runtime (manifest name) that must be available and allowed. */
  language: string;
  runtime: string;
  /** The driver's file under src/kernels/drivers/. */
  driver: string;
  /** The kernel's argv; `{driver}` is replaced by the driver's source. */
  argv: readonly string[];
}

export const KERNELS: readonly KernelSpec[] = [
  { language: 'python', runtime: 'python', driver: 'python.py', argv: ['/usr/bin/python3', '-u', '-B', '-c', '{driver}'] },
  { language: 'javascript', runtime: 'javascript', driver: 'javascript.js', argv: ['/usr/bin/node', '-e', '{driver}'] },
];

export const KERNEL_LANGUAGES = KERNELS.map((k) => k.language);

/** The kernel of a language (or of one of its runtime's names), or undefined. */
export function kernelFor(language: string): KernelSpec | undefined {
  return KERNELS.find((k) => k.language === language || k.runtime === language);
}

const sources = new Map<string, string>();

/** The argv that starts a kernel, its driver's source read once. */
export function kernelArgv(spec: KernelSpec): string[] {
  let source = sources.get(spec.driver);
  if (source === undefined) {
    source = readFileSync(projectPath('src', 'kernels', 'drivers', spec.driver), 'utf8');
    sources.set(spec.driver, source);
  }
  const driver = source;
  return spec.argv.map((a) => (a === '{driver}' ? driver : a));
}
