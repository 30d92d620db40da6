// Per-source token buckets in a Map used as an LRU (re-inserting moves a key to
// the end), capped so a flood of spoofed sources costs bounded memory. Evicting
// a bucket only forgives a source that has not been seen for a while; a full
// bucket and a missing one behave the same.

export interface TokenBucketOptions {
  ratePerSecond: number;
  burst: number;
  maxSources: number;
  now: () => number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class SourceRateLimiter {
  readonly #buckets = new Map<string, Bucket>();
  readonly #opts: TokenBucketOptions;

  constructor(opts: TokenBucketOptions) {
    if (!(opts.ratePerSecond > 0) || !(opts.burst >= 1) || !(opts.maxSources >= 1)) throw new RangeError('bad rate limit options');
    this.#opts = opts;
  }

  get size(): number {
    return this.#buckets.size;
  }

  /** Takes one token for `source`; false means drop. */
  take(source: string): boolean {
    const { ratePerSecond, burst, maxSources, now } = this.#opts;
    const t = now();
    let b = this.#buckets.get(source);
    if (b) {
      this.#buckets.delete(source);
      b.tokens = Math.min(burst, b.tokens + (Math.max(0, t - b.at) / 1000) * ratePerSecond);
      b.at = t;
    } else {
      if (this.#buckets.size >= maxSources) {
        const oldest = this.#buckets.keys().next().value;
        if (oldest !== undefined) this.#buckets.delete(oldest);
      }
      b = { tokens: burst, at: t };
    }
    this.#buckets.set(source, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}
