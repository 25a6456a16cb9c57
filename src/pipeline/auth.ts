/**
 * Pipeline stage 1, authentication: turn the API key of a request (`Authorization: Bearer KEY`,
 * `X-API-Key: KEY`, or Judge0's `X-Auth-Token: KEY`) into a tenant and its policy. With auth off every caller is the anonymous tenant.
 * A request without a valid key gets no tenant and is refused with 401 once it has passed the rate limiter.
 */
import fp from 'fastify-plugin';
import type { FastifyRequest } from 'fastify';
import { errors } from '../contract/errors.js';
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
  const apiKey = headers['x-api-key'] ?? headers['x-auth-token']; // X-Auth-Token: Judge0's header (src/compat/judge0)
  return typeof apiKey === 'string' && apiKey.length > 0 ? apiKey.trim() : undefined;
}

export const authentication = fp<AuthOptions>(
  async (app, { config, keys, metrics }) => {
    const anonymous: Tenant = { id: ANONYMOUS_TENANT_ID, policy: anonymousPolicy(config), anonymous: true };
    app.decorateRequest('tenant', null);

    app.decorateRequest('authFailure', null);

    app.addHook('onRequest', async (request) => {
      if (request.routeOptions.config?.public) return;
      if (!config.auth || !keys) {
        request.tenant = anonymous;
        return;
      }
      const key = presentedKey(request.headers);
      const stored = key === undefined ? undefined : keys.verify(key);
      if (stored) {
        request.tenant = { id: stored.tenant, policy: policyFor(config, stored.tenant), anonymous: false, ...(stored.admin ? { admin: true } : {}) };
        return;
      }
      metrics.authFailures.inc({ reason: key === undefined ? 'missing' : 'invalid' });
      request.authFailure = errors.unauthorized(
        key === undefined
          ? 'an API key is required: send "Authorization: Bearer KEY" or "X-API-Key: KEY"'
          : 'the API key is not valid',
      );
    });

    // The refusal waits until after the rate limiter (an onRequest hook of each route, so it runs after
    // this one): requests without a valid key are rate-limited per client IP, which throttles key guessing.
    // preParsing still comes before the body is read.
    app.addHook('preParsing', async (request, reply) => {
      if (!request.authFailure) return;
      reply.header('www-authenticate', 'Bearer realm="polyrun"');
      throw request.authFailure;
    });
  },
  { name: 'polyrun-authentication' },
);
