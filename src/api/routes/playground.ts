/**
 * The web playground (web/, built by scripts/setup into build/web): index.html at `/`, its hashed files
 * under `/assets/`. Public like the system routes: the page itself asks for the API key (or none when auth
 * is off) and calls /v1 with it. Only these two routes are added, so every other unknown path keeps the
 * API's JSON 404. Without a build, `/` answers a JSON 404 saying how to make one.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';
import { errors } from '../../contract/errors.js';
import { projectPath } from '../../project.js';

export interface PlaygroundOptions {
  /** The built playground (default build/web in the project). */
  dir?: string;
}

// The page loads and calls nothing outside its own origin; CodeMirror sets inline styles.
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const playgroundRoutes: FastifyPluginAsync<PlaygroundOptions> = async (app, options) => {
  const dir = options.dir ?? projectPath('build', 'web');
  const config = { public: true };
  const schema = { hide: true };

  // serve: false: only reply.sendFile, no routes of its own (its wildcard would swallow unknown paths).
  await app.register(fastifyStatic, { serve: false });

  app.get('/', { config, schema }, async (_request, reply) => {
    if (!existsSync(join(dir, 'index.html'))) {
      throw errors.notFound('the playground is not built: run scripts/setup (it builds web/ into build/web)');
    }
    return reply
      .header('content-security-policy', CONTENT_SECURITY_POLICY)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', 'no-cache')
      .sendFile('index.html', dir, { cacheControl: false });
  });

  // Asset names carry a content hash, so they never change: cached for good. Vite writes them flat, so a
  // name with a slash or a leading dot is no asset; that and a missing file are the app's JSON 404.
  app.get('/assets/*', { config, schema }, async (request, reply) => {
    const file = (request.params as { '*': string })['*'];
    if (!/^[\w-][\w.-]*$/.test(file)) return reply.callNotFound();
    return reply
      .header('x-content-type-options', 'nosniff')
      .sendFile(file, join(dir, 'assets'), { immutable: true, maxAge: '365d', dotfiles: 'deny', index: false });
  });
};
