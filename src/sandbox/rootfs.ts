/**
 * The prepared read-only root every sandbox starts from. It holds no host content of its own: only the
 * directories and empty files the mounts land on, the symlinks Debian's merged /usr expects, a handful of
 * generated /etc files (a passwd naming the sandbox user, hosts, a resolv.conf with no servers) and a copy
 * of polyrun-init. Built once into a temp dir and renamed into place, keyed by a hash of its content, so
 * concurrent service processes share it and never see a half-built root.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { copyFile, chmod, mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { BASE_READONLY_MOUNTS } from './specconv.js';

export interface RootfsContent {
  initBinary: string;
  mounts: string[];
  sandboxUid: number;
}

const MERGED_USR_LINKS: Record<string, string> = {
  bin: 'usr/bin',
  sbin: 'usr/sbin',
  lib: 'usr/lib',
  lib64: 'usr/lib64',
};

/** Mount points that must exist as directories in the root. */
const DIRS = ['usr', 'etc', 'proc', 'dev', 'box', 'tmp', '.polyrun'];

export function generatedEtc(uid: number): Record<string, string> {
  return {
    passwd: `root:x:0:0:root:/root:/usr/sbin/nologin\nsandbox:x:${uid}:${uid}:sandbox:/box:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`,
    group: `root:x:0:\nsandbox:x:${uid}:\nnogroup:x:65534:\n`,
    hosts: '127.0.0.1\tlocalhost sandbox\n::1\tlocalhost\n',
    'resolv.conf': '# no name servers: sandboxes have no network\n',
    'nsswitch.conf': 'passwd: files\ngroup: files\nhosts: files\n',
    hostname: 'sandbox\n',
  };
}

export async function prepareRootfs(stateDir: string, content: RootfsContent): Promise<string> {
  const init = readFileSync(content.initBinary);
  const mounts = [...new Set([...BASE_READONLY_MOUNTS, ...content.mounts])].sort();
  const hash = createHash('sha256')
    .update(init)
    .update(JSON.stringify({ mounts, uid: content.sandboxUid, v: 1 }))
    .digest('hex')
    .slice(0, 16);
  const root = join(stateDir, `rootfs-${hash}`);
  if (existsSync(join(root, '.polyrun', 'init'))) return root;

  const tmp = `${root}.tmp-${process.pid}-${Date.now()}`;
  await mkdir(tmp, { recursive: true, mode: 0o755 });
  await chmod(tmp, 0o755);
  for (const dir of DIRS) await mkdir(join(tmp, dir), { recursive: true, mode: 0o755 });
  await chmod(join(tmp, 'tmp'), 0o1777);
  for (const [link, target] of Object.entries(MERGED_USR_LINKS)) await symlink(target, join(tmp, link));
  for (const [name, text] of Object.entries(generatedEtc(content.sandboxUid))) {
    await writeFile(join(tmp, 'etc', name), text, { mode: 0o644 });
  }
  for (const mount of mounts) {
    const target = join(tmp, mount);
    if (mount === '/usr' || !existsSync(mount)) continue;
    if (statSync(mount).isDirectory()) {
      await mkdir(target, { recursive: true, mode: 0o755 });
    } else {
      await mkdir(dirname(target), { recursive: true, mode: 0o755 });
      await writeFile(target, '', { mode: 0o644 });
    }
  }
  await copyFile(content.initBinary, join(tmp, '.polyrun', 'init'));
  await chmod(join(tmp, '.polyrun', 'init'), 0o755);
  try {
    await rename(tmp, root);
  } catch (err) {
    // Another process finished first: use its root.
    await rm(tmp, { recursive: true, force: true });
    if (!existsSync(join(root, '.polyrun', 'init'))) throw err;
  }
  return root;
}
