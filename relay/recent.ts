/**
 * A bounded map of recently set entries, for per-message paths: two
 * generations of up to `max` entries each; when the young one fills, the old
 * one is dropped whole. Not LRU (a get does not refresh an entry, and up to
 * 2 × max are kept), but set and get are a Map's, where lru-cache's
 * bookkeeping cost ~1 µs a call (1–2% of a mesh relay's main thread, on the
 * seen-id cache and the mesh's hop budgets).
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
