/**
 * The runtime catalogue: the runtimes that passed their self-test on this host, what callers may call them,
 * and the limits that apply to each. It answers "which runtime is this request for" (the API's validation)
 * and "which manifest runs this job" (the worker). Detection itself is detect.ts; the self-test is run by
 * whoever owns a sandbox (the executor), passed in as a function.
 */
import { overlay, type LimitTable } from '../limits/limits.js';
import { detectRuntimes, type SelfTest, type UnavailableRuntime } from './detect.js';
import type { RuntimeManifest } from './manifest.js';
import { languageOf, manifestsFor } from './registry.js';
import { chooseRuntime } from './versions.js';

export interface RuntimeInfo {
  /** The runtime's own name (its manifest's): with the version, what a job carries. */
  name: string;
  /** The language it implements: its name for the reference implementation ("python"), else that language. */
  language: string;
  version: string;
  aliases: string[];
  extensions: string[];
  compiled: boolean;
  /** Why it cannot run under isolation "gvisor" (its manifest's gvisorUnsupported); absent: it can. */
  gvisorUnsupported?: string;
  /** Default limits of this runtime (after its manifest's overrides) and the ceiling a request may reach. */
  limits: { defaults: LimitTable; maximum: LimitTable };
}

/** What validation needs of a catalogue; a fake in tests, the real catalogue in the service. */
export interface RuntimeLookup {
  runtimes(): RuntimeInfo[];
  /**
   * By language, runtime name, alias or extension, and an optional version selector ("*", "3.x", "3.11.2",
   * "^3.10", ">=12 <14 || 14.x"); see versions.ts for the choice among several runtimes of a language.
   */
  findRuntime(language: string, version?: string): RuntimeInfo | undefined;
}

interface Entry {
  manifest: RuntimeManifest;
  info: RuntimeInfo;
}

export class RuntimeCatalogue implements RuntimeLookup {
  private entries: Entry[] = [];
  unavailable: UnavailableRuntime[] = [];

  constructor(
    readonly manifests: readonly RuntimeManifest[],
    private readonly defaults: LimitTable,
    private readonly maximum: LimitTable,
  ) {}

  /** Probe and self-test every manifest; only those that pass are served. `probe` replaces the host probe in tests. */
  async detect(selfTest: SelfTest, cacheFile?: string, probe?: (m: RuntimeManifest) => Promise<string | null>): Promise<void> {
    const result = await detectRuntimes({ manifests: this.manifests, selfTest, ...(cacheFile ? { cacheFile } : {}), ...(probe ? { probe } : {}) });
    this.entries = result.available.map((a) => ({ manifest: a.manifest, info: this.describe(a.manifest, a.version) }));
    this.unavailable = result.unavailable;
  }

  /** The limits a runtime gets before any request asks for more or less. */
  defaultLimits(manifest: RuntimeManifest): LimitTable {
    return overlay(this.defaults, manifest.limits);
  }

  private describe(manifest: RuntimeManifest, version: string): RuntimeInfo {
    return {
      name: manifest.name,
      language: languageOf(manifest),
      version,
      aliases: manifest.aliases,
      extensions: manifest.extensions,
      compiled: manifest.compile !== undefined,
      ...(manifest.gvisorUnsupported ? { gvisorUnsupported: manifest.gvisorUnsupported } : {}),
      limits: { defaults: this.defaultLimits(manifest), maximum: this.maximum },
    };
  }

  runtimes(): RuntimeInfo[] {
    return this.entries.map((e) => e.info);
  }

  findRuntime(language: string, version?: string): RuntimeInfo | undefined {
    return this.find(language, version)?.info;
  }

  /** The manifest that runs a job's runtime (exact name and version, as the job carries them). */
  manifestFor(name: string, version: string): RuntimeManifest | undefined {
    return this.entries.find((e) => e.info.name === name && e.info.version === version)?.manifest;
  }

  private find(language: string, version?: string): Entry | undefined {
    const manifests = new Set(
      manifestsFor(
        this.entries.map((e) => e.manifest),
        language,
      ),
    );
    const candidates = this.entries.filter((e) => manifests.has(e.manifest)).map((e) => ({ ...e.info, entry: e }));
    return chooseRuntime(candidates, version)?.entry;
  }
}

export { versionMatches } from './versions.js';
