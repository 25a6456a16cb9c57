/**
 * Running `ip` and `nft`: argv only (no shell), a script on stdin when there is one, the tool's stderr in
 * the error. Every network change goes through here.
 */
import { spawn } from 'node:child_process';

export function run(command: string, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else reject(new Error(`${command} ${args.join(' ')}: ${Buffer.concat(err).toString('utf8').trim() || `exit ${code}`}`));
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}

/** `nft -f -` in a named network namespace (or the host's when `netns` is undefined). */
export function nft(script: string, netns?: string): Promise<string> {
  return netns ? run('ip', ['netns', 'exec', netns, 'nft', '-f', '-'], script) : run('nft', ['-f', '-'], script);
}

export function nftJson(args: readonly string[], netns?: string): Promise<string> {
  return netns ? run('ip', ['netns', 'exec', netns, 'nft', '-j', ...args]) : run('nft', ['-j', ...args]);
}

/** `ip -batch -`: several changes in one process (in a namespace when `netns` is given). */
export function ipBatch(lines: readonly string[], netns?: string): Promise<string> {
  return run('ip', [...(netns ? ['-n', netns] : []), '-batch', '-'], lines.join('\n') + '\n');
}
