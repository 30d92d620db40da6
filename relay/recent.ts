/**
 * A bounded map of recently set entries: two generations of up to `max`
 * entries each; when the young one fills, the old one is dropped whole. Not
 * LRU (a get does not refresh an entry, and up to 2 × max are kept), but set
 * and get are a Map's, where lru-cache's bookkeeping cost ~1 µs a call.
 * Per-message state belongs in the store's index instead: a lookup in a Map
 * this size costs a cache miss or two (docs/performance.md, session 19).
 */
export class RecentMap<K, V> {
  private young = new Map<K, V>();
  private old = new Map<K, V>();

  constructor(private readonly max: number) {
    if (!(max >= 1)) throw new RangeError('RecentMap: max must be at least 1');
  }

  get size(): number {
    return this.young.size + this.old.size;
  }

  get(key: K): V | undefined {
    const v = this.young.get(key);
    return v !== undefined || this.young.has(key) ? v : this.old.get(key);
  }

  has(key: K): boolean {
    return this.young.has(key) || this.old.has(key);
  }

  set(key: K, value: V): void {
    if (this.young.size >= this.max && !this.young.has(key)) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(key, value);
  }
}
