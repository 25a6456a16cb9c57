/**
 * Token bucket math (pure) and a store that plugs it into @fastify/rate-limit, whose own stores count
 * fixed windows. A bucket holds up to `burst` tokens and refills at `perSecond`; each request takes one.
 *
 * @fastify/rate-limit asks its store `incr(key, cb, timeWindow, max)` and treats `current > max` as
 * exceeded, `max - current` as remaining and `ttl` as the reset time. We pass max = burst and
 * timeWindow = the time to refill a whole bucket, so the store can derive the refill rate from them.
 */

export interface Bucket {
  tokens: number;
  updatedAt: number;
}

export interface TakeResult {
  bucket: Bucket;
  allowed: boolean;
  /** Whole tokens left after this request. */
  remaining: number;
  /** Until the next whole token (0 if one is there). */
  msUntilNext: number;
  /** Until the bucket is full again. */
  msUntilFull: number;
}

export function takeToken(prev: Bucket | undefined, capacity: number, refillPerMs: number, now: number): TakeResult {
  const elapsed = prev ? Math.max(0, now - prev.updatedAt) : 0;
  let tokens = prev ? Math.min(capacity, prev.tokens + elapsed * refillPerMs) : capacity;
  const allowed = tokens >= 1;
  if (allowed) tokens -= 1;
  return {
    bucket: { tokens, updatedAt: now },
    allowed,
    remaining: Math.floor(tokens),
    msUntilNext: tokens >= 1 ? 0 : Math.ceil((1 - tokens) / refillPerMs),
    msUntilFull: Math.ceil((capacity - tokens) / refillPerMs),
  };
}

type IncrCallback = (err: Error | null, res?: { current: number; ttl: number }) => void;

/** Buckets kept at most (per-IP keys are unbounded otherwise); the least recently used go first. */
const MAX_BUCKETS = 50_000;

/** Build a store class for @fastify/rate-limit (it instantiates the class itself), with an injectable clock. */
export function tokenBucketStore(now: () => number = Date.now) {
  return class TokenBucketStore {
    private readonly buckets = new Map<string, Bucket>();

    incr(key: string, callback: IncrCallback, timeWindow = 1000, max = 1): void {
      const refillPerMs = max / Math.max(1, timeWindow);
      const r = takeToken(this.buckets.get(key), max, refillPerMs, now());
      this.buckets.delete(key); // re-insert: Map order is then least recently used first
      this.buckets.set(key, r.bucket);
      if (this.buckets.size > MAX_BUCKETS) this.buckets.delete(this.buckets.keys().next().value!);
      callback(null, r.allowed ? { current: max - r.remaining, ttl: r.msUntilFull } : { current: max + 1, ttl: r.msUntilNext });
    }

    child(): TokenBucketStore {
      return new TokenBucketStore();
    }
  };
}
