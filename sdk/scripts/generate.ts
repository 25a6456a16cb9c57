/**
 * Generates sdk/src/openapi.ts, the SDK's request and response types, from the server's own OpenAPI
 * document: the real app is built in-process (no sandbox, no listening socket) and `app.swagger()` is
 * turned into types by openapi-typescript. The document comes from the same TypeBox schemas that validate
 * requests, so the SDK's types cannot drift from the server's.
 *
 *   npx tsx sdk/scripts/generate.ts            write sdk/src/openapi.ts
 *   npx tsx sdk/scripts/generate.ts --check    exit 1 when sdk/src/openapi.ts is out of date
 *
 * test/unit/sdk-types.test.ts fails when the committed file differs from what the schemas generate.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import openapiTS, { astToString, COMMENT_HEADER, type OpenAPI3 } from 'openapi-typescript';
import { buildApp } from '../../src/api/app.js';
import { mergeLayers, validateConfig } from '../../src/config/load.js';
import { defaultConfig } from '../../src/config/schema.js';
import type { Executor } from '../../src/executor/types.js';

/** Where the generated types live. */
export const OPENAPI_TS = fileURLToPath(new URL('../src/openapi.ts', import.meta.url));

const HEADER =
  COMMENT_HEADER.trimEnd().replace(/\n \*\/$/, '') +
  '\n * Source: the polyrun server\'s OpenAPI document (GET /openapi.json), built from its TypeBox schemas.\n' +
  ' * Regenerate with `npm run sdk:generate` (npx tsx sdk/scripts/generate.ts).\n */\n\n';

/** The document needs routes and schemas only: an executor that knows no runtime and runs nothing. */
const noExecutor: Executor = {
  runtimes: () => [],
  findRuntime: () => undefined,
  health: () => ({ ready: false, detail: 'generating the OpenAPI document' }),
  run: () => Promise.reject(new Error('the OpenAPI generator runs nothing')),
  close: async () => undefined,
};

/** The server's OpenAPI document, exactly as GET /openapi.json serves it. */
export async function serverOpenApiDocument(): Promise<OpenAPI3> {
  const dataDir = mkdtempSync(join(tmpdir(), 'polyrun-openapi-'));
  try {
    const config = validateConfig(mergeLayers(defaultConfig(1), { dataDir, logLevel: 'silent' }));
    const app = await buildApp({ config, executor: noExecutor });
    try {
      await app.ready();
      return app.swagger() as OpenAPI3;
    } finally {
      await app.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The text of sdk/src/openapi.ts for the server's current schemas. */
export async function generateOpenApiTypes(): Promise<string> {
  const document = await serverOpenApiDocument();
  const ast = await openapiTS(document, { silent: true, alphabetize: false });
  return HEADER + astToString(ast);
}

async function main(argv: string[]): Promise<number> {
  const text = await generateOpenApiTypes();
  if (argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(OPENAPI_TS, 'utf8');
    } catch {
      // missing: out of date
    }
    if (current === text) return 0;
    process.stderr.write(`${OPENAPI_TS} is out of date: run npm run sdk:generate\n`);
    return 1;
  }
  writeFileSync(OPENAPI_TS, text);
  process.stdout.write(`wrote ${OPENAPI_TS}\n`);
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
