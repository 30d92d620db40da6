import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CoverTraffic } from '../../web/lib/engine/cover.ts';
import type { AppStore } from '../../web/lib/db/store.ts';
import type { CryptoPort } from '../../web/lib/engine/ports.ts';
import type { ServerManager } from '../../web/lib/engine/server-manager.ts';

/**
 * The cover scheduler's decisions with a fake clock: when slots fire, which
 * fake each sends, that a real send close to a slot takes it, and that
 * hidden/off stop everything. The worker calls are counted; they throw so
 * no packet leaves (the relay-facing side is covered by anonymity.spec.ts).
 */
let t = 0;
let settings: Record<string, unknown> = {};
const store = { getSetting: async (k: string) => settings[k], setSetting: async (k: string, v: unknown) => void (settings[k] = v) } as unknown as AppStore;
const servers = { choice: { tx: 'http://127.0.0.1:9', rx: 'http://127.0.0.1:9', shared: false }, relayId: async () => 'a'.repeat(64), via: async () => undefined } as unknown as ServerManager;

function make(randoms: number[]) {
  const calls = { post: 0, get: 0 };
  const crypto = {
    sealCover: async () => {
      calls.post++;
      throw new Error('no network in this test');
    },
    signCoverRetrieval: async () => {
      calls.get++;
      throw new Error('no network in this test');
    },
  } as unknown as CryptoPort;
  let i = 0;
  const cover = new CoverTraffic(store, crypto, servers, () => t, () => randoms[i++ % randoms.length]!);
  return { cover, calls };
}

async function advance(ms: number): Promise<void> {
  t += ms;
  await vi.advanceTimersByTimeAsync(ms);
}

beforeEach(() => {
  vi.useFakeTimers();
  t = 0;
  settings = { cover: 'max' }; // mean 3 s
});
afterEach(() => vi.useRealTimers());

describe('cover traffic scheduler', () => {
  it('fires fakes at the drawn times: a POST or a retrieval by the coin', async () => {
    // Draws: gap (u=0.5 → 3000·ln 2 ≈ 2079 ms); at the slot the next gap first, then the coin (0.2 → POST, 0.8 → GET).
    const { cover, calls } = make([0.5, 0.5, 0.2, 0.5, 0.8]);
    await cover.start();
    await advance(2000);
    expect(calls).toEqual({ post: 0, get: 0 });
    await advance(100);
    expect(calls).toEqual({ post: 1, get: 0 });
    await advance(2100);
    expect(calls).toEqual({ post: 1, get: 1 });
    cover.stop();
  });

  it('a real send just before a slot takes it instead of the fake; one far from a slot goes at once', async () => {
    const { cover, calls } = make([0.5, 0.9]);
    await cover.start();
    let gone = false;
    await advance(1000); // slot at ~2079: 1079 ms away, within RIDE_MS
    void cover.ride().then(() => (gone = true));
    await advance(1000);
    expect(gone).toBe(false);
    await advance(100);
    expect(gone).toBe(true);
    expect(calls).toEqual({ post: 0, get: 0 }); // that slot carried the real packet
    // The next slot is ~6.9 s away (u=0.9): too far, so no waiting.
    let now = false;
    void cover.ride().then(() => (now = true));
    await Promise.resolve();
    expect(now).toBe(true);
    cover.stop();
  });

  it('nothing while hidden or off, and nothing waits for a slot that will not come', async () => {
    const { cover, calls } = make([0.5, 0.2]);
    await cover.start();
    await advance(1000);
    let gone = false;
    void cover.ride().then(() => (gone = true));
    cover.setVisible(false);
    await advance(1);
    expect(gone).toBe(true);
    await advance(60_000);
    expect(calls).toEqual({ post: 0, get: 0 });
    cover.setVisible(true);
    await cover.setLevel('off');
    expect(settings.cover).toBe('off');
    expect(cover.active).toBe(false);
    await advance(60_000);
    expect(calls).toEqual({ post: 0, get: 0 });
    await cover.setLevel('max');
    await advance(20_000);
    expect(calls.post + calls.get).toBeGreaterThan(0);
    cover.stop();
  });
});
