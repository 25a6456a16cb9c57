#!/usr/bin/env node
/**
 * The `polyrun` command line: `run`, `judge`, `runtimes`, `install`, `uninstall`, `doctor`, `serve`, `keys`, `mcp`.
 * Exit status: 0 when polyrun did its job (whatever the program did), 1 for polyrun's own errors, 2 for
 * bad usage. Errors are one clear line on stderr.
 */
import { PolyrunError } from '../contract/errors.js';
import { UsageError } from './args.js';
import { doctorCommand } from './doctor.js';
import { runCommand, runtimesCommand } from './run.js';

const USAGE = `usage: polyrun <command> [options]

commands:
  run FILE... [--language L] [--stdin TEXT | --stdin-file F] [--arg A]... [--time-limit MS]
              [--wall-limit MS] [--memory-limit MB] [--json] [--interactive] [--config F]
              [--allow-net ENTRY]...
                      run a program in a sandbox (language inferred from the first file's extension);
                      an argument that starts with "-" is given as --arg=-x; --interactive connects
                      the terminal (input as typed, output as it comes, Ctrl-C sends SIGINT);
                      --allow-net lets the program reach ENTRY (name, *.name, IP, CIDR, :port)
  judge SOLUTION... --tests DIR [--language L] [--checker C] [--tolerance X] [--stop-on-failure]
              [--time-limit MS] [--wall-limit MS] [--memory-limit MB] [--total-time MS] [--json]
                      judge a solution against DIR's test cases (NAME.in / NAME.out): a verdict per
                      case as decided, then the verdict and score; checkers: exact, trailing_whitespace
                      (default), tokens, float (--tolerance, default 1e-6), case_insensitive
  runtimes [--json]   list the runtimes that passed their self-test on this host
  runtimes --available [--json]
                      every runtime polyrun knows: installed or not, core/standard/on demand, version
  install NAME... | --all
                      install runtimes from Debian (apt-get, as root), self-test them, and make a
                      running service detect them again (SIGHUP to the pid in DATA_DIR/polyrun.pid)
  uninstall NAME...   remove a runtime's Debian packages (none another installed runtime needs)
  doctor              check this host (namespaces, seccomp, cgroups, OCI runtime) and say what to fix
  serve [options]     start the HTTP service (see docs/configuration.md)
  keys create --tenant T [--admin]
                      create an API key for a tenant (printed once, stored hashed)
  mcp [--config FILE] serve the Model Context Protocol on stdin/stdout (tools for AI agents)
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'run':
      return runCommand(rest);
    case 'runtimes':
      if (rest.includes('--available')) {
        const { availableCommand } = await import('./install.js');
        return availableCommand(rest);
      }
      return runtimesCommand(rest);
    case 'judge': {
      const { judgeCommand } = await import('./judge.js');
      return judgeCommand(rest);
    }
    case 'install': {
      const { installCommand } = await import('./install.js');
      return installCommand(rest);
    }
    case 'uninstall': {
      const { uninstallCommand } = await import('./install.js');
      return uninstallCommand(rest);
    }
    case 'doctor':
      return doctorCommand(rest);
    case 'serve': {
      const { serveCommand } = await import('./serve.js');
      await serveCommand(rest);
      return 0;
    }
    case 'mcp': {
      const { mcpCommand } = await import('./mcp.js');
      return mcpCommand(rest);
    }
    case 'keys': {
      const { keysCommand } = await import('./keys.js');
      await keysCommand(rest);
      return 0;
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`polyrun: ${err.message}\n\n${USAGE}`);
      process.exitCode = 2;
    } else if (err instanceof PolyrunError) {
      process.stderr.write(`polyrun: ${err.message}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`polyrun: ${(err as Error).message ?? String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
