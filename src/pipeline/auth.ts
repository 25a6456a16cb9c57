/**
 * Pipeline stage 1, authentication: turn the API key of a request (`Authorization: Bearer KEY` or
 * `X-API-Key: KEY`) into a tenant and its policy. With auth off every caller is the anonymous tenant.
 */
import fp from 'fastify-plugin';
import type { FastifyRequest } from 'fastify';
import { PolyrunError } from '../contract/errors.js';
import { anonymousPolicy, policyFor, type Tenant } from '../config/policy.js';
import type { PolyrunConfig } from '../config/schema.js';
import type { KeyStore } from '../store/keys.js';
import type { Metrics } from '../telemetry/metrics.js';
import './context.js';

export interface AuthOptions {
  config: PolyrunConfig;
  keys: KeyStore | null;
  metrics: Metrics;
}

export const ANONYMOUS_TENANT_ID = 'anonymous';

/** The key a request presents, or undefined. Pure. */
export function presentedKey(headers: FastifyRequest['headers']): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (m) return m[1];
  }
  const apiKey = headers['x-api-key'];
  return typeof apiKey === 'string' && apiKey.length > 0 ? apiKey.trim() : undefined;
}

export const authentication = fp<AuthOptions>(
  async (app, { config, keys, metrics }) => {
    const anonymous: Tenant = { id: ANONYMOUS_TENANT_ID, policy: anonymousPolicy(config), anonymous: true };
    app.decorateRequest('tenant', null);

    app.addHook('onRequest', async (request, reply) => {
      if (request.routeOptions.config?.public) return;
      if (!config.auth || !keys) {
        request.tenant = anonymous;
        return;
      }
      const key = presentedKey(request.headers);
      const stored = key === undefined ? undefined : keys.verify(key);
      if (!stored) {
        metrics.authFailures.inc({ reason: key === undefined ? 'missing' : 'invalid' });
        reply.header('www-authenticate', 'Bearer realm="polyrun"');
        throw new PolyrunError(
          'UNAUTHORIZED',
          key === undefined
            ? 'an API key is required: send "Authorization: Bearer KEY" or "X-API-Key: KEY"'
            : 'the API key is not valid',
        );
      }
      request.tenant = { id: stored.tenant, policy: policyFor(config, stored.tenant), anonymous: false };
    });
  },
  { name: 'polyrun-authentication' },
);
