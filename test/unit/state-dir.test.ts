/**
 * The state dir must be reachable by the sandbox's unprivileged uid: SandboxHost.create refuses one under
 * a dir that others cannot traverse (a mode-700 temp dir), naming that dir, instead of failing at the
 * first sandbox start with bwrap's "Permission denied".
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { closedAncestor } from '../../src/sandbox/host.js';

const root = mkdtempSync(join(tmpdir(), 'polyrun-state-dir-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

it('names the first dir above the state dir that others cannot traverse', async () => {
  chmodSync(root, 0o700);
  mkdirSync(join(root, 'open'), { mode: 0o755 });
  expect(await closedAncestor(join(root, 'open', 'state'))).toBe(root);
  chmodSync(root, 0o711);
  expect(await closedAncestor(join(root, 'open', 'state'))).toBeNull();
});
