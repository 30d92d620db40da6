import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { IdIndex } from '../../relay/store/id-index.ts';

/** A random 48-bit id key, like the store's idk. */
const key = (): number => randomBytes(6).readUIntBE(0, 6);

describe('IdIndex (which ids the store holds, off the V8 heap)', () => {
  it('agrees with a counted multiset through random adds, deletes and growth, never missing a held key', () => {
    const idx = new IdIndex();
    const truth = new Map<number, number>();
    const keys: number[] = [];
    // Few distinct low-32-bit values so collisions and repeats are common,
    // plus the two marker values (0, 1) and keys that only differ above bit 32.
    const pool = [0, 1, 2, 3, 2 ** 32, 2 ** 32 + 1, 2 ** 40 + 7, 7];
    for (let i = 0; i < 200; i++) pool.push(key());
    let seed = 1;
    const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    for (let step = 0; step < 50_000; step++) {
      if (keys.length === 0 || rnd(3) > 0) {
        const k = pool[rnd(pool.length)]!;
        idx.add(k);
        keys.push(k);
        truth.set(k, (truth.get(k) ?? 0) + 1);
      } else {
        const k = keys.splice(rnd(keys.length), 1)[0]!;
        expect(idx.delete(k)).toBe(true);
        truth.set(k, truth.get(k)! - 1);
      }
      if (step % 997 === 0) for (const [k, n] of truth) if (n > 0) expect(idx.mayHave(k)).toBe(true);
    }
    expect(idx.size).toBe(keys.length);
    for (const k of keys) expect(idx.mayHave(k)).toBe(true);
  });

  it('says no for keys never added (up to fingerprint collisions) and after every copy is deleted', () => {
    const idx = new IdIndex();
    const held = Array.from({ length: 20_000 }, key);
    for (const k of held) idx.add(k);
    let maybe = 0;
    for (let i = 0; i < 20_000; i++) if (idx.mayHave(key())) maybe++;
    // 20k of 2^32 fingerprints: expected false positives ~0.1 in 20k lookups.
    expect(maybe).toBeLessThan(5);
    idx.add(held[0]!);
    expect(idx.delete(held[0]!)).toBe(true);
    expect(idx.mayHave(held[0]!)).toBe(true); // the first copy is still held
    expect(idx.delete(held[0]!)).toBe(true);
    expect(idx.mayHave(held[0]!)).toBe(false);
    expect(idx.delete(held[0]!)).toBe(false);
  });

  it('stays sized to what it holds: 2-4 slots per key as it grows, and shrinks back when most are deleted', () => {
    const idx = new IdIndex();
    const held = Array.from({ length: 100_000 }, key);
    for (const k of held) idx.add(k);
    expect(idx.capacity).toBeGreaterThanOrEqual(held.length / 0.7);
    expect(idx.capacity).toBeLessThanOrEqual(held.length * 4);
    for (const k of held.slice(0, 99_000)) idx.delete(k);
    expect(idx.size).toBe(1000);
    expect(idx.capacity).toBeLessThanOrEqual(4096);
    for (const k of held.slice(99_000)) expect(idx.mayHave(k)).toBe(true);
  });
});
