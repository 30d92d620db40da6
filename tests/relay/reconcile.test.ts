// Catch-up snapshots against a real store: what a summary for a newly opened link must include.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../relay/clock.ts';
import { packetIdOf } from '../../relay/ingest.ts';
import { silentLogger } from '../../relay/log.ts';
import { SnapshotSource } from '../../relay/mesh/reconcile.ts';
import { MessageStore } from '../../relay/store/store.ts';
import { keyPair, shaped, tempDir } from './harness.ts';

const dirs: string[] = [];
const stores: MessageStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function open(clock: ManualClock): MessageStore {
  const d = tempDir('relay-reconcile-');
  dirs.push(d);
  const s = new MessageStore({ path: join(d, 'messages.db'), retentionMs: 7 * 86_400_000, clock, log: silentLogger(), sync: 'normal' });
  stores.push(s);
  return s;
}

/** Queues a packet for the group commit; resolves once it is committed. */
function add(s: MessageStore, id: string, p: ReturnType<typeof shaped>): Promise<void> {
  return new Promise((resolve, reject) => s.add(id, p, (err) => (err ? reject(err) : resolve())));
}

describe('SnapshotSource', () => {
  it('includes ids accepted but not committed yet, once each, and rebuilds for a link that came up after the cached snapshot began', async () => {
    const clock = new ManualClock();
    const store = open(clock);
    const snaps = new SnapshotSource(store, () => clock.now());
    const k = await keyPair();
    const packets = Array.from({ length: 3 }, () => shaped(k));
    const ids = packets.map((p) => packetIdOf(p));
    await add(store, ids[0]!, packets[0]!);

    // Queued, not committed: the commit runs on a later turn, after the snapshot is taken.
    const second = add(store, ids[1]!, packets[1]!);
    expect(store.isPending(ids[1]!)).toBe(true);
    const first = await snaps.get();
    expect([...first.ids].sort()).toEqual([ids[0], ids[1]].sort());
    await second;

    // Within the cache's life a caller with no constraint gets the same snapshot, without the newer id...
    const linkUp = performance.now();
    await add(store, ids[2]!, packets[2]!);
    expect(await snaps.get()).toBe(first);
    // ...but a link that came up after it began gets a fresh one that has it.
    const fresh = await snaps.get(linkUp);
    expect(fresh).not.toBe(first);
    expect(fresh.ids).toEqual([...ids].sort());
    expect(new Set(fresh.ids).size).toBe(fresh.ids.length);
  });
});
