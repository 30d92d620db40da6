import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Ticker } from '../../relay/mesh/ticker.ts';

describe('Ticker (relay housekeeping that sleeps when idle)', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('does nothing until poked, then ticks while work is left and stops when it is done', () => {
    let left = 3;
    const tick = vi.fn(() => --left > 0);
    const t = new Ticker(50, tick);
    vi.advanceTimersByTime(500);
    expect(tick).not.toHaveBeenCalled();
    t.poke();
    vi.advanceTimersByTime(49);
    expect(tick).toHaveBeenCalledTimes(0);
    vi.advanceTimersByTime(1);
    expect(tick).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(1000);
    expect(tick).toHaveBeenCalledTimes(3);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('coalesces pokes into one pending tick, and a stopped ticker never runs again', () => {
    const tick = vi.fn(() => false);
    const t = new Ticker(10, tick);
    for (let i = 0; i < 5; i++) t.poke();
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(10);
    expect(tick).toHaveBeenCalledTimes(1);
    t.poke();
    t.stop();
    t.poke();
    vi.advanceTimersByTime(100);
    expect(tick).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(0);
  });
});
