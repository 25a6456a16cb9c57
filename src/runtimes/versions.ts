/**
 * Choosing one runtime among several of a language by the request's `version` selector. Pure: no I/O.
 *
 * A selector is what Piston clients send: an exact version ("3.11.2"), a prefix ("3", "3.11", "3.x",
 * "3.11.*"), "*" or "latest" (or nothing), or an npm-style semver range ("^3.10", "~1.14", ">=12 <14",
 * "1.x || 2.x"). Ranges are the `semver` package's; toolchain versions that are not semver ("8.7",
 * "2022.12", "0.7.3") are coerced to one ("8.7.0", "2022.12.0") before a range is tested, and an exact
 * string match always counts.
 *
 * Among the runtimes that match, the language's reference implementation (the manifest named after the
 * language: CPython for python, GCC for c) comes before alternative implementations (PyPy, Clang, TCC), then
 * the newest version first. So with no selector the default is the newest reference runtime that passed its
 * self-test, and an alternative implementation is picked by its own name or alias ("pypy") or by a version
 * only it has.
 */
import semver from 'semver';

/** What the choice needs to know of a runtime. */
export interface VersionedRuntime {
  /** The runtime's own name (its manifest's). */
  name: string;
  /** The language it implements; the reference implementation's name is the language itself. */
  language: string;
  version: string;
}

/** True when `version` satisfies `selector` (see the module comment); an absent selector matches all. */
export function versionMatches(version: string, selector?: string): boolean {
  const wanted = selector?.trim() ?? '';
  if (wanted === '' || wanted === '*' || wanted.toLowerCase() === 'latest' || wanted === version) return true;
  const range = semver.validRange(wanted, { loose: true });
  const have = asSemver(version);
  if (range !== null && have !== null && semver.satisfies(have, range, { loose: true, includePrerelease: true })) return true;
  // A dotted prefix ("x" and "*" standing for the rest) also for what semver reads otherwise: "2.1" is meant
  // to match "2.1.0-beta3" (a prerelease sorts below 2.1.0), "1.14" to match "1.14.0.dfsg".
  const parts = wanted.replace(/(\.(x|\*))+$/i, '').split('.');
  const own = version.split('.');
  return parts.every((part, i) => own[i] === part);
}

/** Newer first: by semver when both coerce, else by comparing the dotted numbers and then the strings. */
export function compareVersionsDescending(a: string, b: string): number {
  const sa = asSemver(a);
  const sb = asSemver(b);
  if (sa !== null && sb !== null) {
    const order = semver.rcompare(sa, sb);
    if (order !== 0) return order;
  }
  return b.localeCompare(a, 'en', { numeric: true });
}

/** The runtime a request gets: the first of the matching ones in preference order, or undefined. */
export function chooseRuntime<T extends VersionedRuntime>(candidates: readonly T[], selector?: string): T | undefined {
  return rankRuntimes(candidates.filter((c) => versionMatches(c.version, selector)))[0];
}

/** Reference implementations first, then newest version first; stable otherwise. */
export function rankRuntimes<T extends VersionedRuntime>(runtimes: readonly T[]): T[] {
  const reference = (r: VersionedRuntime) => (r.name === r.language ? 0 : 1);
  return [...runtimes].sort((a, b) => reference(a) - reference(b) || compareVersionsDescending(a.version, b.version));
}

/** "8.7" -> "8.7.0", "2022.12" -> "2022.12.0", "3.11.2" as it is; null when there is no number to read. */
function asSemver(version: string): string | null {
  const exact = semver.valid(version, { loose: true });
  if (exact !== null) return exact;
  return semver.coerce(version)?.version ?? null;
}
