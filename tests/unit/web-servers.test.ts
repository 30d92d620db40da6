import { describe, expect, it } from 'vitest';
import type { ServerRecord } from '../../web/lib/db/records.ts';
import { backoffMs, checkPin, chooseProxies, chooseRelays, normalise, recordFailure, recordSuccess, seedList } from '../../web/lib/domain/servers.ts';

const s = (url: string, load?: number, extra: Partial<ServerRecord> = {}): ServerRecord => ({ url, source: 'learned', failures: 0, ...(load === undefined ? {} : { load }), ...extra });
const NOW = 1_000_000;

describe('relay choice', () => {
  it('sends through the least loaded and receives through a different least loaded relay', () => {
    const c = chooseRelays([s('http://a', 0.5), s('http://b', 0.1), s('http://c', 0.3)], NOW);
    expect(c).toEqual({ tx: 'http://b', rx: 'http://c', shared: false });
  });

  it('falls back to one relay for both when only one is usable, and says so', () => {
    expect(chooseRelays([s('http://a', 0.2)], NOW)).toEqual({ tx: 'http://a', rx: 'http://a', shared: true });
    expect(chooseRelays([], NOW)).toEqual({ shared: false });
  });

  it('skips a relay in failure back-off and one whose key changed', () => {
    const list = [s('http://a', 0.0, { failures: 2, lastFailureAt: NOW - 1000 }), s('http://b', 0.9, { keyChanged: true }), s('http://c', 0.5), s('http://d', 0.6)];
    expect(chooseRelays(list, NOW)).toEqual({ tx: 'http://c', rx: 'http://d', shared: false });
    // After the back-off the failed relay is eligible again.
    expect(chooseRelays(list, NOW + backoffMs(2) + 1).tx).toBe('http://a');
  });

  it('keeps the current RX while it stays usable and picks TX among the rest', () => {
    const list = [s('http://a', 0.1), s('http://b', 0.2), s('http://c', 0.9)];
    expect(chooseRelays(list, NOW, 'http://c')).toEqual({ tx: 'http://a', rx: 'http://c', shared: false });
    expect(chooseRelays(list, NOW, 'http://gone')).toEqual({ tx: 'http://a', rx: 'http://b', shared: false });
  });

  it('counts a relay known under two addresses once: never TX and RX together, never both proxies or a proxy of itself', () => {
    const id = (c: string) => ({ id: c.repeat(64), publicKey: `key-${c}` });
    // One relay as http://localhost:8080 and http://127.0.0.1:8080 (the page's own origin), and three others.
    const same = [s('http://127.0.0.1:8080', 0.1, id('a')), s('http://localhost:8080', 0.1, id('a'))];
    expect(chooseRelays(same, NOW)).toEqual({ tx: 'http://127.0.0.1:8080', rx: 'http://127.0.0.1:8080', shared: true });
    const list = [...same, s('http://b', 0.2, id('b')), s('http://c', 0.3, id('c')), s('http://d', 0.4, id('d'))];
    const c = chooseRelays(list, NOW);
    expect(c).toEqual({ tx: 'http://127.0.0.1:8080', rx: 'http://b', shared: false });
    // Only c and d are other relays: four distinct ones, not a second address of TX as a proxy.
    expect(chooseProxies(list, NOW, c, true)).toMatchObject({ txProxy: 'http://c', rxProxy: 'http://d', proxyMode: 'full' });
    const three = list.filter((r) => r.url !== 'http://d');
    expect(chooseProxies(three, NOW, chooseRelays(three, NOW), true)).toMatchObject({ txProxy: 'http://c', rxProxy: 'http://c', proxyMode: 'shared' });
    // The address RX is reached by is kept (the subscription and cursor live there).
    expect(chooseRelays(list, NOW, 'http://localhost:8080')).toEqual({ tx: 'http://b', rx: 'http://localhost:8080', shared: false });
    // Without ids (not checked yet), addresses are all we know.
    expect(chooseRelays([s('http://x', 0.1), s('http://y', 0.2)], NOW)).toEqual({ tx: 'http://x', rx: 'http://y', shared: false });
  });

  it('ranks unknown load behind measured low load', () => {
    expect(chooseRelays([s('http://unknown'), s('http://low', 0.2), s('http://high', 0.95)], NOW)).toMatchObject({ tx: 'http://low', rx: 'http://unknown' });
  });

  it('backs off exponentially with a cap', () => {
    expect(backoffMs(0)).toBe(0);
    expect(backoffMs(2)).toBe(2 * backoffMs(1));
    expect(backoffMs(50)).toBe(10 * 60_000);
  });

  it('records failures and successes', () => {
    const f = recordFailure(s('http://a', 0.1), NOW);
    expect(f).toMatchObject({ failures: 1, lastFailureAt: NOW });
    expect(recordSuccess(f, NOW + 5, 0.4)).toMatchObject({ failures: 0, lastSeen: NOW + 5, load: 0.4 });
  });
});

describe('key pinning', () => {
  it('pins on first use, then flags a change', () => {
    expect(checkPin(undefined, 'K1')).toBe('new');
    expect(checkPin(s('http://a'), 'K1')).toBe('new');
    expect(checkPin(s('http://a', 0, { publicKey: 'K1' }), 'K1')).toBe('same');
    expect(checkPin(s('http://a', 0, { publicKey: 'K1' }), 'K2')).toBe('changed');
  });
});

describe('seed list', () => {
  it('takes the origin first, then bundled relays, deduplicated and normalised', () => {
    expect(seedList('http://127.0.0.1:8080', { relays: ['http://127.0.0.1:8080/', 'https://b.example/', 'ftp://x', 42] })).toEqual([
      { url: 'http://127.0.0.1:8080', source: 'origin' },
      { url: 'https://b.example', source: 'bundled' },
    ]);
    expect(seedList(undefined, ['https://c.example'])).toEqual([{ url: 'https://c.example', source: 'bundled' }]);
    expect(seedList(undefined, 'garbage')).toEqual([]);
  });
  it('normalises or refuses URLs', () => {
    expect(normalise(' https://a.example/x/ ')).toBe('https://a.example/x');
    expect(normalise('https://a.example?q=1')).toBeUndefined();
    expect(normalise('javascript:alert(1)')).toBeUndefined();
  });
});
