import { LRUCache } from 'lru-cache';
import type { Clock } from './clock.ts';

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Per-address token buckets. Bounded: the least recently seen addresses are
 * forgotten first (which only ever resets them to a full bucket).
 */
export class RateLimiter {
  private readonly buckets: LRUCache<string, Bucket>;
  constructor(
    private readonly ratePerSec: number,
    private readonly burst: number,
    private readonly clock: Clock,
    maxAddresses = 100_000,
  ) {
    this.buckets = new LRUCache({ max: maxAddresses });
  }

  get enabled(): boolean {
    return this.ratePerSec > 0;
  }

  /** Takes `cost` tokens; returns 0 when allowed, else seconds until it would be. */
  take(address: string, cost = 1): number {
    if (this.ratePerSec <= 0) return 0;
    const now = this.clock.now();
    let b = this.buckets.get(address);
    if (!b) {
      b = { tokens: this.burst, at: now };
      this.buckets.set(address, b);
    } else {
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.ratePerSec);
      b.at = now;
    }
    if (b.tokens >= cost) {
      b.tokens -= cost;
      return 0;
    }
    return Math.max(1, Math.ceil((cost - b.tokens) / this.ratePerSec));
  }
}
