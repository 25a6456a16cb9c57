/**
 * `polyrun mcp [--config FILE]`: the Model Context Protocol over stdio, for an AI agent on this host
 * (src/mcp). The executor runs in this process, as for `polyrun run`. stdout is the protocol: everything
 * else goes to stderr.
 */
import { loadConfigFile } from '../config/load.js';
import { createExecutor } from '../executor/executor.js';
import { serveStdio } from '../mcp/stdio.js';
import { parse } from './args.js';

const log = (line: string) => void process.stderr.write(`${line}\n`);

export async function mcpCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { config: { type: 'string' } });
  const { config } = loadConfigFile(values.config);
  const executor = await createExecutor({
    config,
    pool: config.sandbox.pool,
    log: (level, msg, fields) => {
      if (level !== 'info') log(`polyrun: ${msg}${fields ? ` ${JSON.stringify(fields)}` : ''}`);
    },
  });
  try {
    await serveStdio(executor, config, log);
  } finally {
    // A client that sends SIGTERM while the sandboxes are being removed waits for it (a few hundred ms).
    const patience = () => log('polyrun mcp: removing sandboxes before exiting');
    process.on('SIGTERM', patience).on('SIGINT', patience);
    await executor.close();
    process.off('SIGTERM', patience).off('SIGINT', patience);
  }
  return 0;
}
