/**
 * Pipeline stage 2, rate limiting: a token bucket per tenant (per client IP when auth is off), sized by the
 * tenant's policy. Runs after authentication (it needs the tenant) and before the body is parsed, so a
 * flood costs little. 429 RATE_LIMITED with Retry-After and RateLimit-Limit/Remaining/Reset.
 */
import fp from 'fastify-plugin';
import rateLimit from '@fastify/rate-limit';
import type { FastifyRequest } from 'fastify';
import { PolyrunError } from '../contract/errors.js';
import type { Metrics } from '../telemetry/metrics.js';
import { tokenBucketStore } from './token-bucket.js';
import './context.js';

export interface RateLimitOptions {
  metrics: Metrics;
  now?: () => number;
}

function policyOf(request: FastifyRequest) {
  // Authentication always runs first on rate-limited routes; the fallback only guards against misuse.
  return request.tenant?.policy.rate ?? { perSecond: 1, burst: 1 };
}

export const rateLimiting = fp<RateLimitOptions>(
  async (app, { metrics, now }) => {
    await app.register(rateLimit, {
      global: true,
      hook: 'onRequest',
      enableDraftSpec: true, // RateLimit-* headers instead of X-RateLimit-*
      store: tokenBucketStore(now),
      allowList: (request) => request.routeOptions.config?.public === true,
      keyGenerator: (request) =>
        request.tenant && !request.tenant.anonymous ? `tenant:${request.tenant.id}` : `ip:${request.ip}`,
      max: (request) => policyOf(request).burst,
      timeWindow: (request) => {
        const { burst, perSecond } = policyOf(request);
        return Math.ceil((burst / perSecond) * 1000);
      },
      errorResponseBuilder: (_request, context) => {
        metrics.rateLimited.inc();
        return new PolyrunError('RATE_LIMITED', `too many requests; retry in ${context.after}`, {
          limit: context.max,
          retryAfterSeconds: Math.ceil(context.ttl / 1000),
        });
      },
    });
  },
  { name: 'polyrun-rate-limit', dependencies: ['polyrun-authentication'] },
);
