/**
 * The bench's side of the out-of-process HTTP client (bench/http-client-main.ts says why it is a process of
 * its own): one child process for the whole run, requests matched to answers by id, any number in flight.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

export interface ClientAnswer {
  /** From just before the request until the whole body was read, by the client's clock. */
  ms: number;
  status: number;
  text: string;
}

type Pending = { resolve: (a: ClientAnswer) => void; reject: (e: Error) => void };

export class HttpClient {
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();

  private constructor(private readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const answer = JSON.parse(line) as Partial<ClientAnswer> & { id: number; error?: string };
      const waiter = this.pending.get(answer.id);
      this.pending.delete(answer.id);
      if (answer.error !== undefined) waiter?.reject(new Error(`http client: ${answer.error}`));
      else waiter?.resolve(answer as ClientAnswer);
    });
    child.once('exit', (code, signal) => {
      for (const w of this.pending.values()) w.reject(new Error(`http client exited (${signal ?? code})`));
      this.pending.clear();
    });
  }

  /** Starts the client: the compiled .js beside this module (npm run bench), else the .ts through tsx. */
  static start(): HttpClient {
    const js = fileURLToPath(new URL('./http-client-main.js', import.meta.url));
    const args = existsSync(js) ? [js] : ['--import', 'tsx', fileURLToPath(new URL('./http-client-main.ts', import.meta.url))];
    const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    return new HttpClient(child);
  }

  request(method: string, url: string, body?: string): Promise<ClientAnswer> {
    const id = this.nextId++;
    return new Promise<ClientAnswer>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.stdin!.write(`${JSON.stringify({ id, method, url, ...(body !== undefined ? { body } : {}) })}\n`);
    });
  }

  close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.stdin!.end();
    });
  }
}
