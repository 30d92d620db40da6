import { describe, expect, it } from 'vitest';
import { BucketMix, bucketOfMessage, COVER_LEVELS, coverCost, coverLevel, fakePostBytes, pickFake, poissonDelay, rideDelay, RIDE_MS, sealedChars } from '../../web/lib/domain/cover.ts';
import { b64Len, ENVELOPE_OVERHEAD } from '../../protocol/index.ts';

describe('cover traffic policy', () => {
  it('gaps are exponential with the configured mean, bounded at both ends', () => {
    const mean = 30_000;
    let seed = 42;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const xs = Array.from({ length: 20_000 }, () => poissonDelay(mean, rnd()));
    const avg = xs.reduce((a, b) => a + b, 0) / xs.length;
    // Clamping moves the mean a little; it must stay near the budget the user chose.
    expect(avg).toBeGreaterThan(mean * 0.9);
    expect(avg).toBeLessThan(mean * 1.1);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(mean / 20);
    expect(Math.max(...xs)).toBeLessThanOrEqual(mean * 8);
    // Memoryless shape: about e^-1 of gaps exceed the mean.
    const over = xs.filter((x) => x > mean).length / xs.length;
    expect(over).toBeGreaterThan(0.33);
    expect(over).toBeLessThan(0.4);
    expect(poissonDelay(mean, 0)).toBe(mean / 20);
    expect(poissonDelay(mean, 1)).toBe(mean * 8);
  });

  it('half fake POSTs, half fake retrievals', () => {
    expect(pickFake(0.1)).toBe('post');
    expect(pickFake(0.7)).toBe('get');
  });

  it('the default is about one fake per 30 s, and settings show its cost', () => {
    expect(coverLevel(undefined).meanSeconds).toBe(30);
    expect(coverLevel('nonsense').id).toBe('default');
    expect(coverLevel('off').meanSeconds).toBe(0);
    expect(coverCost(30)).toEqual({ packetsPerHour: 120, kbPerHour: Math.round((120 * (4400 + 1700)) / 2 / 1024) });
    expect(coverCost(0)).toEqual({ packetsPerHour: 0, kbPerHour: 0 });
    for (const l of COVER_LEVELS) if (l.meanSeconds) expect(coverCost(l.meanSeconds).packetsPerHour).toBe(Math.round(3600 / l.meanSeconds));
  });

  it('the cost shown follows the sizes fakes learned: an 8 KB fake POST carries 9,556 more characters than a 1 KB one', () => {
    expect(sealedChars(1024)).toBe(1748);
    expect(sealedChars(8192)).toBe(11304);
    expect(bucketOfMessage('A'.repeat(sealedChars(8192)))).toBe(8192);
    expect(fakePostBytes(1024)).toBe(4400);
    expect(fakePostBytes(8192)).toBe(4400 + 9556);
    const mixed = coverCost(30, [8192, 1024]);
    expect(mixed.kbPerHour).toBe(Math.round((120 * ((4400 + 13956) / 2 + 1700)) / 2 / 1024));
    expect(mixed.kbPerHour).toBeGreaterThan(coverCost(30).kbPerHour * 1.5);
    // A size that is no bucket (a damaged setting) counts as nothing learned.
    expect(coverCost(30, [5, 1000])).toEqual(coverCost(30));
    expect(coverCost(0, [65536])).toEqual({ packetsPerHour: 0, kbPerHour: 0 });
  });

  it('a real send takes the next slot only when it is close', () => {
    expect(rideDelay(1000, 1000 + RIDE_MS)).toBe(RIDE_MS);
    expect(rideDelay(1000, 1200)).toBe(200);
    expect(rideDelay(1000, 1000 + RIDE_MS + 1)).toBe(0);
    expect(rideDelay(1000, 900)).toBe(0);
    expect(rideDelay(1000, undefined)).toBe(0);
  });

  it('fakes use the buckets real packets used', () => {
    const m = new BucketMix(3);
    expect(m.pick(0.5)).toBe(1024);
    m.add(4096);
    m.add(3000); // not a bucket: ignored
    expect(m.pick(0)).toBe(4096);
    m.add(1024);
    m.add(1024);
    m.add(1024);
    expect([0, 0.4, 0.99].map((u) => m.pick(u))).toEqual([1024, 1024, 1024]);
    // What is saved, and restored after a restart (non-buckets from storage are dropped, the bound holds).
    expect(m.recent).toEqual([1024, 1024, 1024]);
    m.replace([2048, 7, 4096, 8192, 16384]);
    expect(m.recent).toEqual([4096, 8192, 16384]);
    for (const b of [1024, 2048, 65536]) expect(bucketOfMessage('A'.repeat(b64Len(b + ENVELOPE_OVERHEAD)))).toBe(b);
    expect(bucketOfMessage('A'.repeat(100))).toBe(0);
  });
});
