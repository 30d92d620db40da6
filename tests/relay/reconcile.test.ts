// Catch-up snapshots against a real store: what a summary for a newly opened link must include.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../relay/clock.ts';
import { packetIdOf } from '../../relay/ingest.ts';
import { silentLogger } from '../../relay/log.ts';
import { createHash, randomBytes } from 'node:crypto';
import { diffChildren, IdSnapshot, type Summary, SnapshotSource } from '../../relay/mesh/reconcile.ts';
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
  const s = new MessageStore({ path: join(d, 'messages'), retentionMs: 7 * 86_400_000, clock, log: silentLogger(), sync: 'normal' });
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

/** The summary of `prefix` computed directly from a plain list: what the bucketed snapshot must agree with. */
function naiveSummary(ids: string[], prefix: string): Summary {
  const counts = new Array<number>(256).fill(0);
  const acc = Array.from({ length: 256 }, () => Buffer.alloc(16));
  for (const id of new Set(ids)) {
    if (!id.startsWith(prefix)) continue;
    const c = parseInt(id.slice(prefix.length, prefix.length + 2), 16);
    counts[c]! += 1;
    const b = Buffer.from(id.slice(0, 32), 'hex');
    for (let k = 0; k < 16; k++) acc[c]![k]! ^= b[k]!;
  }
  return { counts, hashes: acc.map((b) => b.toString('hex')) };
}

describe('IdSnapshot', () => {
  it('summarises and lists every prefix as a plain sorted list would, dedupes, and yields while it builds', async () => {
    const ids = Array.from({ length: 45_000 }, () => randomBytes(32).toString('hex'));
    // Ids sharing two and three leading bytes, so the deeper prefixes have something in them.
    for (let i = 0; i < 300; i++) ids.push(`3fa0${createHash('sha256').update(String(i)).digest('hex').slice(4)}`);
    ids.push(ids[7]!, ids[45_010]!); // twice: once uncommitted, once from a page
    const buckets: string[][] = Array.from({ length: 256 }, () => []);
    for (const id of ids) buckets[parseInt(id.slice(0, 2), 16)]!.push(id);
    let yields = 0;
    const snap = await IdSnapshot.build(buckets, 0, async () => void yields++);
    const sorted = [...new Set(ids)].sort();
    expect(snap.ids).toEqual(sorted);
    expect(yields).toBeGreaterThanOrEqual(2);
    for (const p of ['', '3f', '3fa0', ids[100]!.slice(0, 6), '00']) {
      expect(snap.summary(p), p).toEqual(naiveSummary(ids, p));
      expect(snap.list(p), p).toEqual(sorted.filter((id) => id.startsWith(p)));
    }
    expect(snap.list('ffffff')).toEqual(sorted.filter((id) => id.startsWith('ffffff')));
    // Two snapshots differing in one id differ in exactly one child at each level down to it.
    const other = sorted.filter((id) => id !== ids[45_100]);
    const b2: string[][] = Array.from({ length: 256 }, () => []);
    for (const id of other) b2[parseInt(id.slice(0, 2), 16)]!.push(id);
    const snap2 = await IdSnapshot.build(b2, 0, async () => {});
    const lacking = ids[45_100]!; // one of the 3fa0… ids
    expect(diffChildren('', snap2.summary(''), snap.summary(''))).toEqual({ descend: ['3f'], list: [] });
    expect(diffChildren('3f', snap2.summary('3f'), snap.summary('3f'))).toEqual({ descend: ['3fa0'], list: [] });
    expect(diffChildren('3fa0', snap2.summary('3fa0'), snap.summary('3fa0'))).toEqual({ descend: [], list: [lacking.slice(0, 6)] });
  });
});
