/**
 * API keys: a JSON file (default DATA_DIR/keys.json) holding only sha256 hashes of the keys and the tenant
 * each belongs to. Keys are 32 random bytes, so a plain sha256 is enough (no need for a slow KDF); the
 * comparison is constant-time. The file is re-read when it changes, so `polyrun keys create` works
 * against a running server.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface StoredKey {
  id: string;
  tenant: string;
  sha256: string;
  createdAt: string;
  /** May install and remove runtimes (the Piston package endpoints); absent: false. */
  admin?: boolean;
}

interface KeysFile {
  version: 1;
  keys: StoredKey[];
}

const KEY_PREFIX = 'pr_';
const RELOAD_CHECK_MS = 1000;

export function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export class KeyStore {
  private keys: StoredKey[] = [];
  private mtimeMs = -1;
  private checkedAt = 0;

  constructor(
    readonly path: string,
    private readonly now: () => number = Date.now,
  ) {
    this.reload();
  }

  list(): StoredKey[] {
    this.reloadIfChanged();
    return [...this.keys];
  }

  /** Make a new key for a tenant; the plain key is returned once and never stored. */
  create(tenant: string, options: { admin?: boolean } = {}): { key: string; stored: StoredKey } {
    this.reload();
    const key = KEY_PREFIX + randomBytes(32).toString('base64url');
    const stored: StoredKey = {
      id: randomBytes(6).toString('hex'),
      tenant,
      sha256: hashKey(key),
      createdAt: new Date(this.now()).toISOString(),
      ...(options.admin ? { admin: true } : {}),
    };
    this.keys.push(stored);
    this.save();
    return { key, stored };
  }

  /** Remove a key by id; false when there was none. */
  revoke(id: string): boolean {
    this.reload();
    const before = this.keys.length;
    this.keys = this.keys.filter((k) => k.id !== id);
    if (this.keys.length === before) return false;
    this.save();
    return true;
  }

  /** The stored key matching a presented one, if any. */
  verify(presented: string): StoredKey | undefined {
    this.reloadIfChanged();
    const digest = Buffer.from(hashKey(presented), 'hex');
    let match: StoredKey | undefined;
    // Compare against every key, not stopping at the first match, so timing says nothing about position.
    for (const k of this.keys) {
      const candidate = Buffer.from(k.sha256, 'hex');
      if (candidate.length === digest.length && timingSafeEqual(candidate, digest)) match ??= k;
    }
    return match;
  }

  private reloadIfChanged(): void {
    const now = this.now();
    if (now - this.checkedAt < RELOAD_CHECK_MS) return;
    this.checkedAt = now;
    const mtime = existsSync(this.path) ? statSync(this.path).mtimeMs : -1;
    if (mtime !== this.mtimeMs) this.reload();
  }

  private reload(): void {
    if (!existsSync(this.path)) {
      this.keys = [];
      this.mtimeMs = -1;
      return;
    }
    const parsed = JSON.parse(readFileSync(this.path, 'utf8')) as Partial<KeysFile>;
    if (!Array.isArray(parsed.keys)) throw new Error(`${this.path}: expected {"version": 1, "keys": [...]}`);
    this.keys = parsed.keys.filter(
      (k): k is StoredKey => typeof k?.sha256 === 'string' && /^[0-9a-f]{64}$/.test(k.sha256) && typeof k.tenant === 'string',
    );
    this.mtimeMs = statSync(this.path).mtimeMs;
  }

  private save(): void {
    mkdirSync(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    const body: KeysFile = { version: 1, keys: this.keys };
    writeFileSync(tmp, JSON.stringify(body, null, 2) + '\n', { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, this.path); // atomic: a reader never sees half a file
    this.mtimeMs = statSync(this.path).mtimeMs;
  }
}
