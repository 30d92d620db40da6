import { describe, expect, it } from 'vitest';
import { GraftTimer } from '../../relay/mesh/graft-timer.ts';

function timer(base = 150) {
  let now = 1000;
  const t = new GraftTimer(base, 2000, () => now);
  return { t, advance: (ms: number) => (now += ms) };
}

describe('GraftTimer (plumtree graft timeout that adapts to late eager pushes)', () => {
  it('starts at the base and stays there while grafts are answered by the peer asked', () => {
    const { t, advance } = timer();
    expect(t.ms).toBe(150);
    for (let i = 0; i < 100; i++) {
      t.sent(`id${i}`, 'A');
      advance(10);
      t.payload(`id${i}`, 'A');
    }
    expect(t.ms).toBe(150);
    expect(t.spurious).toBe(0);
  });

  it('lengthens on each spurious graft (a copy from a peer not asked, before or after the answer), up to the cap', () => {
    const { t } = timer();
    t.sent('x', 'A');
    t.payload('x', 'B');
    expect(t.ms).toBe(187.5);
    t.sent('y', 'A');
    t.payload('y', 'A');
    t.payload('y', 'C');
    expect(t.ms).toBeCloseTo(234.4, 1);
    // One id counts once.
    t.payload('y', 'D');
    expect(t.spurious).toBe(2);
    for (let i = 0; i < 100; i++) {
      t.sent(`z${i}`, 'A');
      t.payload(`z${i}`, 'B');
    }
    expect(t.ms).toBe(2000);
  });

  it('shrinks back to the base a tenth per quiet second', () => {
    const { t, advance } = timer();
    for (let i = 0; i < 100; i++) {
      t.sent(`z${i}`, 'A');
      t.payload(`z${i}`, 'B');
    }
    advance(999);
    expect(t.ms).toBe(2000);
    advance(1);
    expect(t.ms).toBe(1800);
    advance(10_500);
    expect(t.ms).toBeCloseTo(1800 * 0.9 ** 10, 5);
    advance(60_000);
    expect(t.ms).toBe(150);
  });

  it('forgets grafts older than its window: a very late copy says nothing', () => {
    const { t, advance } = timer();
    t.sent('old', 'A');
    advance(11_000);
    t.sent('new', 'A');
    t.payload('old', 'B');
    expect(t.spurious).toBe(0);
    t.payload('new', 'B');
    expect(t.spurious).toBe(1);
  });
});
