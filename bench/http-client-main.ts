/**
 * The benchmark's HTTP client, run as a process of its own (bench/http-client.ts `HttpClient` starts it).
 *
 * Why a separate process: a client inside the bench process shares the service's event loop, so work the
 * service does after it has written a response (the pool's refill spawns a sandbox, a synchronous fork of
 * the whole Node process) delayed the client's read of that response and was counted as request latency.
 * A real client never shares the server's loop; this one does not either.
 *
 * Protocol (one JSON object per line): in `{ id, method, url, body? }`, out `{ id, ms, status, text }` or
 * `{ id, error }`. The time is taken here, from just before fetch until the whole body has been read;
 * Node's fetch keeps connections alive between requests, as a real client's agent does.
 */
import { createInterface } from 'node:readline';

interface ClientRequest {
  id: number;
  method: string;
  url: string;
  body?: string;
}

async function answer(req: ClientRequest): Promise<string> {
  try {
    const init: RequestInit = { method: req.method };
    if (req.body !== undefined) {
      init.body = req.body;
      init.headers = { 'content-type': 'application/json' };
    }
    const t0 = performance.now();
    const response = await fetch(req.url, init);
    const text = await response.text();
    const ms = performance.now() - t0;
    return JSON.stringify({ id: req.id, ms, status: response.status, text });
  } catch (err) {
    return JSON.stringify({ id: req.id, error: (err as Error).message });
  }
}

const inFlight = new Set<Promise<void>>();
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const done = answer(JSON.parse(line) as ClientRequest).then((out) => void process.stdout.write(`${out}\n`));
  inFlight.add(done);
  void done.finally(() => inFlight.delete(done));
});
// End of input: answer what is in flight, then exit (idle keep-alive connections would hold the process).
lines.on('close', () => void Promise.all(inFlight).then(() => process.exit(0)));
