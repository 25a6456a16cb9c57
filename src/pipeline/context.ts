/**
 * What the pipeline stages attach to a request and read from a route's config, declared once for
 * TypeScript.
 */
import type { Tenant } from '../config/policy.js';
import type { PolyrunError } from '../contract/errors.js';
import type { QuotaLease } from './quota.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the authentication stage on every non-public route. */
    tenant: Tenant | null;
    /** Set by the authentication stage when the key is missing or wrong; thrown after rate limiting. */
    authFailure: PolyrunError | null;
    /** Set by the quota stage on execution routes; handed to the execution service once queued. */
    quotaLease: QuotaLease | null;
  }
  interface FastifyContextConfig {
    /** No authentication, rate limiting or quota (health, metrics, docs). */
    public?: boolean;
    /** The route starts an execution: the quota stage applies. */
    execution?: boolean;
  }
}

export {};
