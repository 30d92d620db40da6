import { describe, expect, it } from 'vitest';
import { RecentMap } from '../../relay/recent.ts';
import { Tally, TalliedCounter } from '../../relay/metrics.ts';
import client from 'prom-client';

describe('RecentMap', () => {
  it('keeps at least the last `max` entries set and at most twice that', () => {
    const m = new RecentMap<number, string>(3);
    for (let i = 0; i < 10; i++) m.set(i, `v${i}`);
    for (let i = 7; i < 10; i++) expect(m.get(i)).toBe(`v${i}`);
    expect(m.has(0)).toBe(false);
    expect(m.get(0)).toBeUndefined();
    expect(m.size).toBeLessThanOrEqual(6);
    expect(m.size).toBeGreaterThanOrEqual(3);
  });

  it('updates in place without rolling a generation, and reads values that are falsy', () => {
    const m = new RecentMap<string, number>(2);
    m.set('a', 0);
    m.set('b', 1);
    m.set('b', 2);
    expect(m.get('a')).toBe(0);
    expect(m.get('b')).toBe(2);
    m.set('c', 3); // young is full: a and b move to the old generation
    expect([m.get('a'), m.get('b'), m.get('c')]).toEqual([0, 2, 3]);
    m.set('a', 4); // the young value wins over the old one
    expect(m.get('a')).toBe(4);
  });

  it('refuses a size below one', () => {
    expect(() => new RecentMap(0)).toThrow(RangeError);
  });
});

describe('TalliedCounter', () => {
  it('reports what each tally gained at each scrape, alongside increments made on the counter itself', async () => {
    const registry = new client.Registry();
    const c = new TalliedCounter({ name: 't_total', help: 'test', labelNames: ['k'], registers: [registry] });
    const a: Tally = c.tally('a');
    expect(c.tally('a')).toBe(a);
    a.inc();
    a.inc(4);
    c.counter.labels('b').inc(2);
    const value = async (k: string) => (await registry.getSingleMetric('t_total')!.get()).values.find((v) => v.labels.k === k)?.value;
    expect(await value('a')).toBe(5);
    expect(await value('b')).toBe(2);
    a.inc();
    expect(await value('a')).toBe(6);
    expect(await registry.metrics()).toContain('t_total{k="a"} 6');
  });
});
