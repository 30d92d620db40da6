// LongPolls (relay/routes/long-poll.ts) and the proxy deadline it needs.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../relay/config.ts';
import { LongPolls } from '../../relay/routes/long-poll.ts';

afterEach(() => vi.useRealTimers());

describe('LongPolls', () => {
  it('answers true on a message for the key, false when the wait runs out', async () => {
    vi.useFakeTimers();
    const polls = new LongPolls(10);
    const woken = polls.wait('k', 5000);
    const timedOut = polls.wait('other', 5000);
    expect(polls.size).toBe(2);
    polls.wake('k');
    expect(await woken).toBe(true);
    expect(polls.size).toBe(1);
    vi.advanceTimersByTime(5000);
    expect(await timedOut).toBe(false);
    expect(polls.size).toBe(0);
    // Nothing is left to wake.
    polls.wake('k');
    expect(polls.size).toBe(0);
  });

  it('holds at most `max` in all and 8 per key; past that answers false at once', async () => {
    vi.useFakeTimers();
    const polls = new LongPolls(10);
    const perKey = Array.from({ length: 8 }, () => polls.wait('k', 5000));
    expect(await polls.wait('k', 5000)).toBe(false);
    const others = [polls.wait('a', 5000), polls.wait('b', 5000)];
    expect(polls.size).toBe(10);
    expect(await polls.wait('c', 5000)).toBe(false);
    polls.wake('k');
    expect(await Promise.all(perKey)).toEqual(Array(8).fill(true));
    expect(polls.size).toBe(2);
    polls.close();
    expect(await Promise.all(others)).toEqual([false, false]);
    expect(polls.size).toBe(0);
    // Stopping: nothing more is held.
    expect(await polls.wait('d', 5000)).toBe(false);
  });

  it('ends a wait its asker cancels, giving the slot back at once', async () => {
    vi.useFakeTimers();
    const polls = new LongPolls(1);
    let cancel!: () => void;
    const held = polls.wait('k', 5000, (c) => (cancel = c));
    expect(polls.size).toBe(1);
    cancel();
    expect(await held).toBe(false);
    expect(polls.size).toBe(0);
    // The slot is free for the next asker, and a late cancel or wake changes nothing.
    const next = polls.wait('k', 5000);
    expect(polls.size).toBe(1);
    cancel();
    polls.wake('k');
    expect(await next).toBe(true);
    expect(polls.size).toBe(0);
  });
});

describe('--forward-timeout', () => {
  const base = ['--public-url', 'http://127.0.0.1:1'];
  it('must leave room for a held retrieval (at least 12 s)', () => {
    expect(() => parseConfig([...base, '--forward-timeout', '5s'], {})).toThrow(/--forward-timeout: at least 12s/);
    expect(parseConfig([...base, '--forward-timeout', '12s'], {})!.proxy!.forwardTimeoutMs).toBe(12_000);
    expect(parseConfig(base, {})!.proxy!.forwardTimeoutMs).toBe(15_000);
  });
});
