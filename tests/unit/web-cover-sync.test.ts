import { describe, expect, it } from 'vitest';
import type { ServerRecord } from '../../web/lib/db/records.ts';
import { afterMiss, DropWatch, isSuspect, SUSPECT_AFTER, SUSPECT_FOR_MS } from '../../web/lib/domain/drop-watch.ts';
import { chooseProxies, chooseRelays } from '../../web/lib/domain/servers.ts';
import { newerThan, parseSync, syncExtra } from '../../web/lib/domain/sync.ts';

const KEY = 'M'.repeat(388) + 'IDAQ';
const KEY2 = 'N'.repeat(388) + 'IDAQ';
const NOW = 5_000_000;
const s = (url: string, load: number, extra: Partial<ServerRecord> = {}): ServerRecord => ({ url, source: 'learned', failures: 0, load, id: url.charCodeAt(url.length - 1).toString(16).padStart(2, '0').repeat(32), publicKey: KEY, ...extra });

describe('drop detection', () => {
  it('self-copies that come back clear; late ones are returned once', () => {
    const w = new DropWatch<string>(1000);
    w.watch('a', 'http://tx1', 0, 'A');
    w.watch('b', 'http://tx1', 100, 'B');
    expect(w.arrived('a')).toBe('http://tx1');
    expect(w.arrived('a')).toBeUndefined();
    expect(w.nextDeadline()).toBe(1100);
    expect(w.overdue(1000)).toEqual([]);
    expect(w.overdue(1101).map((x) => x.payload)).toEqual(['B']);
    expect(w.size).toBe(0);
  });

  it('a TX relay becomes suspect after SUSPECT_AFTER misses in a row, for a while', () => {
    let m = afterMiss(undefined, NOW);
    for (let i = 1; i < SUSPECT_AFTER; i++) {
      expect(m.suspectUntil).toBeUndefined();
      m = afterMiss(m.misses, NOW);
    }
    expect(m.suspectUntil).toBe(NOW + SUSPECT_FOR_MS);
    expect(isSuspect(m, NOW + 1)).toBe(true);
    expect(isSuspect(m, NOW + SUSPECT_FOR_MS + 1)).toBe(false);
  });

  it('a suspect relay is avoided as TX, and only used when nothing else is left', () => {
    const servers = [s('http://d', 0, { suspectUntil: NOW + 1000 }), s('http://g', 0.5), s('http://h', 0.6)];
    expect(chooseRelays(servers, NOW).tx).toBe('http://g');
    expect(chooseRelays(servers, NOW, 'http://g').tx).toBe('http://h');
    // Two relays, the kept RX is the only honest one: it sends, the suspect one receives.
    expect(chooseRelays(servers.slice(0, 2), NOW, 'http://g')).toMatchObject({ tx: 'http://g', rx: 'http://d' });
    expect(chooseRelays([servers[0]!], NOW)).toMatchObject({ tx: 'http://d', shared: true });
    // Once the suspicion expires it is an ordinary relay again.
    expect(chooseRelays(servers, NOW + 2000).tx).toBe('http://d');
  });
});

describe('dual proxy choice', () => {
  const four = [s('http://a', 0.1), s('http://b', 0.2), s('http://c', 0.3), s('http://e', 0.4)];
  it('four relays: TX, RX and two proxies all distinct', () => {
    const c = chooseProxies(four, NOW, chooseRelays(four, NOW), true);
    expect(c.proxyMode).toBe('full');
    expect(new Set([c.tx, c.rx, c.txProxy, c.rxProxy]).size).toBe(4);
  });
  it('three relays: one proxy shared (degraded); two: none (unavailable); off when not wanted', () => {
    const three = four.slice(0, 3);
    const c3 = chooseProxies(three, NOW, chooseRelays(three, NOW), true);
    expect(c3).toMatchObject({ proxyMode: 'shared' });
    expect(c3.txProxy).toBe(c3.rxProxy);
    expect([c3.tx, c3.rx]).not.toContain(c3.txProxy);
    const c2 = chooseProxies(four.slice(0, 2), NOW, chooseRelays(four.slice(0, 2), NOW), true);
    expect(c2.proxyMode).toBe('unavailable');
    expect(c2.txProxy).toBeUndefined();
    expect(chooseProxies(four, NOW, chooseRelays(four, NOW), false)).toMatchObject({ proxyMode: 'off' });
  });
  it('a proxy needs a pinned key and id; a destination too', () => {
    const noKey = four.map((x, i) => (i >= 2 ? { ...x, publicKey: undefined } : x)) as ServerRecord[];
    expect(chooseProxies(noKey, NOW, chooseRelays(noKey, NOW), true).proxyMode).toBe('unavailable');
  });
});

describe('sync messages', () => {
  it('round-trips each op and refuses malformed ones', () => {
    const ops = [
      { type: 'message', to: KEY },
      { type: 'contact', key: KEY, name: 'Bob', at: 1, picture: 'data:image/jpeg;base64,/9j/AA==' },
      { type: 'contact', key: KEY2, name: 'Gone', at: 2, deleted: true },
      { type: 'read', key: KEY, upTo: 123 },
      { type: 'call', call_id: '123e4567-e89b-42d3-a456-426614174000', answered: true },
      { type: 'call', call_id: '123e4567-e89b-42d3-a456-426614174000', answered: false },
    ] as const;
    for (const op of ops) expect(parseSync(syncExtra(op))).toEqual(op);
    expect(parseSync({ to: 'short' })).toBeUndefined();
    expect(parseSync({ type: 'contact', key: KEY, name: '', at: 1 })).toBeUndefined();
    expect(parseSync({ type: 'contact', key: KEY, name: 'x', at: 1, picture: 'javascript:alert(1)' })).toBeUndefined();
    expect(parseSync({ type: 'contact', key: KEY, name: 'x', at: 1, picture: `data:image/jpeg;base64,${'A'.repeat(7000)}` })).toBeUndefined();
    expect(parseSync({ type: 'read', key: KEY, upTo: -1 })).toBeUndefined();
    expect(parseSync({ type: 'wipe' })).toBeUndefined();
    expect(parseSync({ type: 'call', call_id: '123E4567-E89B-42D3-A456-426614174000', answered: true })).toBeUndefined();
    expect(parseSync({ type: 'call', call_id: '123e4567-e89b-42d3-a456-426614174000', answered: 'yes' })).toBeUndefined();
    expect(parseSync({ type: 'call', answered: true })).toBeUndefined();
    expect(parseSync(undefined)).toBeUndefined();
  });
  it('last writer wins', () => {
    expect(newerThan({ at: 5 }, { updatedAt: 4 })).toBe(true);
    expect(newerThan({ at: 4 }, { updatedAt: 4 })).toBe(false);
    expect(newerThan({ at: 1 }, undefined)).toBe(true);
  });
});
