/**
 * What `polyrun install` and `polyrun uninstall` do to the host, decided from the manifests alone: which
 * runtimes the names mean, which Debian and npm packages to install, and which packages may go on uninstall
 * without breaking another runtime. Pure: the CLI (src/cli/install.ts) asks dpkg what is installed and runs
 * apt-get; every rule is unit-tested (test/unit/runtime-install-plan.test.ts).
 */
import type { RuntimeManifest } from './manifest.js';
import { findManifest } from './registry.js';

/** The install set of a manifest, where `scripts/setup` puts it (core, standard or on demand). */
export type InstallSet = 'core' | 'standard' | 'on demand';

export function installSet(m: RuntimeManifest): InstallSet {
  if (m.core) return 'core';
  return m.onDemand ? 'on demand' : 'standard';
}

/**
 * The manifests `names` mean: a runtime's name or alias that runtime, a language its reference runtime (as a
 * request without a version gets), an extension likewise. Unknown names are returned apart, never guessed.
 */
export function resolveRuntimes(manifests: readonly RuntimeManifest[], names: readonly string[]): { found: RuntimeManifest[]; unknown: string[] } {
  const found: RuntimeManifest[] = [];
  const unknown: string[] = [];
  for (const name of names) {
    const m = findManifest(manifests, name);
    if (!m) unknown.push(name);
    else if (!found.includes(m)) found.push(m);
  }
  return { found, unknown };
}

/** Debian and npm packages of `runtimes`, each once, in manifest order. */
export function packagesOf(runtimes: readonly RuntimeManifest[]): { apt: string[]; npm: string[] } {
  const apt = new Set<string>();
  const npm = new Set<string>();
  for (const m of runtimes) {
    for (const p of m.packages.apt ?? []) apt.add(p);
    for (const p of m.packages.npm ?? []) npm.add(p);
  }
  return { apt: [...apt], npm: [...npm] };
}

/** Whether every Debian package of a runtime is installed (`installed`: the host's installed package names). */
export function isInstalled(m: RuntimeManifest, installed: ReadonlySet<string>): boolean {
  return (m.packages.apt ?? []).every((p) => installed.has(p));
}

/**
 * The Debian packages that uninstalling `runtimes` may remove: theirs, minus every package another installed
 * runtime lists (kotlin and java share the JDK) and minus `keep` (what polyrun itself needs: runc, gcc...).
 * Core runtimes are never uninstalled. Dependencies pulled in by apt stay (no autoremove): removing only what
 * was named is the predictable choice on a shared host.
 */
export function removablePackages(
  all: readonly RuntimeManifest[],
  runtimes: readonly RuntimeManifest[],
  installed: ReadonlySet<string>,
  keep: readonly string[],
): { remove: string[]; kept: { pkg: string; by: string }[]; refused: string[] } {
  const refused = runtimes.filter((m) => m.core).map((m) => m.name);
  const leaving = runtimes.filter((m) => !m.core);
  const others = all.filter((m) => !leaving.includes(m) && isInstalled(m, installed));
  const kept: { pkg: string; by: string }[] = [];
  const remove: string[] = [];
  for (const pkg of packagesOf(leaving).apt) {
    if (!installed.has(pkg)) continue;
    const user = keep.includes(pkg) ? 'polyrun' : others.find((m) => (m.packages.apt ?? []).includes(pkg))?.name;
    if (user) kept.push({ pkg, by: user });
    else remove.push(pkg);
  }
  return { remove, kept, refused };
}
