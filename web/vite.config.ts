/**
 * Builds the playground (web/) into build/web: index.html at the root, every other file hashed under
 * assets/. Nothing is inlined as a data: URL and nothing comes from another origin at run time.
 *
 * `virtual:starters` is the starter program of each runtime, read at build time from the runtimes' cases
 * files (their "hello" program; the manifest's self-test when a cases file has none), so the page needs no
 * API of its own for them.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));
const manifestDir = join(here, '..', 'src', 'runtimes', 'manifests');

function readStarters(): Record<string, string> {
  const starters: Record<string, string> = {};
  for (const file of readdirSync(manifestDir).sort()) {
    if (!file.endsWith('.json') || file.endsWith('.cases.json')) continue;
    const manifest = JSON.parse(readFileSync(join(manifestDir, file), 'utf8'));
    const casesFile = join(manifestDir, file.replace(/\.json$/, '.cases.json'));
    const hello: unknown = existsSync(casesFile) ? JSON.parse(readFileSync(casesFile, 'utf8')).hello : undefined;
    const text = Array.isArray(hello) ? hello.join('\n') : typeof hello === 'string' ? hello : manifest.selfTest?.files?.[0]?.content;
    if (typeof text === 'string') starters[manifest.name] = text.endsWith('\n') ? text : `${text}\n`;
  }
  return starters;
}

function starters(): Plugin {
  const id = 'virtual:starters';
  return {
    name: 'polyrun-starters',
    resolveId: (source) => (source === id ? `\0${id}` : null),
    load: (resolved) => (resolved === `\0${id}` ? `export default ${JSON.stringify(readStarters())};` : null),
  };
}

function chunkName(moduleId: string | null): string | undefined {
  const m = moduleId && /@codemirror\/(?:legacy-modes\/mode\/)?([\w-]+)/.exec(moduleId);
  return m?.[1];
}

export default defineConfig({
  root: here,
  base: '/',
  publicDir: false,
  plugins: [starters()],
  build: {
    outDir: join(here, '..', 'build', 'web'),
    emptyOutDir: true,
    assetsDir: 'assets',
    assetsInlineLimit: 0,
    target: 'es2020',
    reportCompressedSize: false,
    rollupOptions: {
      // Language chunks named after their package ("lang-python-HASH.js", "clike-HASH.js"), not "dist-HASH.js".
      output: { chunkFileNames: (chunk) => `assets/${chunkName(chunk.facadeModuleId) ?? '[name]'}-[hash].js` },
    },
  },
});
