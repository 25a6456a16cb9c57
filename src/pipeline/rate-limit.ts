/**
 * Pipeline stage 2, rate limiting: a token bucket per tenant (per client IP when auth is off or the key is
 * missing or wrong), sized by the tenant's policy. Runs after authentication (it needs the tenant) and before the body is parsed, so a
 * flood costs little. 429 RATE_LIMITED with Retry-After and RateLimit-Limit/Remaining/Reset.
 */
import fp from 'fastify-plugin';
import rateLimit from '@fastify/rate-limit';
import type { FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { errors } from '../contract/errors.js';
import type { TenantPolicy } from '../config/policy.js';
import type { Metrics } from '../telemetry/metrics.js';
import { tokenBucketStore } from './token-bucket.js';
import './context.js';

export interface RateLimitOptions {
  /** The rate of callers without a valid key (per client IP). */
  unauthenticatedRate: TenantPolicy['rate'];
  /**
   * No limit for the anonymous tenant (auth off, listening on loopback only, no anonymousPolicy.rate set):
   * the single user of a local service, as with Piston, which has no rate limit.
   */
  unlimitedAnonymous?: boolean;
  metrics: Metrics;
  now?: () => number;
  /**
   * A cluster's Redis: the limits are shared by every API node (the plugin's Redis store, a window of
   * burst/perSecond seconds holding `burst` requests) instead of this process's token buckets.
   */
  shared?: { redis: Redis; prefix: string };
}

export const rateLimiting = fp<RateLimitOptions>(
  async (app, { metrics, now, unauthenticatedRate, unlimitedAnonymous, shared }) => {
    // Authentication has run: a tenant, or none when the key was missing or wrong.
    const rateOf = (request: FastifyRequest) => request.tenant?.policy.rate ?? unauthenticatedRate;
    await app.register(rateLimit, {
      global: true,
      hook: 'onRequest',
      enableDraftSpec: true, // RateLimit-* headers instead of X-RateLimit-*
      // While Redis is unreachable requests pass here and the queue answers 503 QUEUE_UNAVAILABLE.
      ...(shared ? { redis: shared.redis, nameSpace: `${shared.prefix}:pr:rl:`, skipOnError: true } : { store: tokenBucketStore(now) }),
      allowList: (request) => request.routeOptions.config?.public === true || (unlimitedAnonymous === true && request.tenant?.anonymous === true),
      keyGenerator: (request) =>
        request.tenant && !request.tenant.anonymous ? `tenant:${request.tenant.id}` : `ip:${request.ip}`,
      max: (request) => rateOf(request).burst,
      timeWindow: (request) => {
        const { burst, perSecond } = rateOf(request);
        return Math.ceil((burst / perSecond) * 1000);
      },
      errorResponseBuilder: (_request, context) => {
        metrics.rateLimited.inc();
        return errors.rateLimited(Math.ceil(context.ttl / 1000), context.max, context.after);
      },
    });
  },
  { name: 'polyrun-rate-limit', dependencies: ['polyrun-authentication'] },
);
