// The store in-process with an injected clock: expiry without sleeping for days.
import { appendFileSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../relay/clock.ts';
import { packetIdOf } from '../../relay/ingest.ts';
import { silentLogger, type Logger } from '../../relay/log.ts';
import { MessageStore, SEQ_RESTART_GAP } from '../../relay/store/store.ts';
import * as P from '../../protocol/index.ts';
import { keyPair, publicKeyOf, shaped, tempDir } from './harness.ts';
import { writeLegacyStore } from './legacy-store.ts';

const DAY = 86_400_000;
const dirs: string[] = [];
const stores: MessageStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Group commits are fdatasync'd under sync full and only written under sync normal: both paths get every test. */
let sync: 'full' | 'normal' = 'full';

function open(clock: ManualClock, dir?: string, more?: { segmentBytes?: number; segmentSpanMs?: number; legacyPath?: string; log?: Logger }): MessageStore {
  const d = dir ?? tempDir('relay-store-');
  if (!dir) dirs.push(d);
  const s = new MessageStore({ path: join(d, 'messages'), retentionMs: 7 * DAY, clock, log: silentLogger(), sync, ...more });
  stores.push(s);
  return s;
}

function add(s: MessageStore, p: P.ClientMessagePacket): Promise<number> {
  return new Promise((resolve, reject) => {
    s.add(packetIdOf(p), p, (err, seq) => (err ? reject(err) : resolve(seq)));
  });
}

describe.each(['full', 'normal'] as const)('MessageStore (sync %s)', (mode) => {
  beforeEach(() => {
    sync = mode;
  });

  it('rolls to a new segment file when one is full, reads them all back after a restart, and deletes whole files once all they hold has expired', async () => {
    const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
    const dir = tempDir('relay-store-');
    dirs.push(dir);
    const k = publicKeyOf(await keyPair());
    // About 2.7 KB a record: a new segment every ~12 messages.
    let s = open(clock, dir, { segmentBytes: 32 * 1024 });
    const early = Array.from({ length: 60 }, () => shaped(k));
    for (const p of early) await add(s, p);
    clock.advance(DAY);
    const late = Array.from({ length: 30 }, () => shaped(k));
    for (const p of late) await add(s, p);
    const files = s.logFiles();
    expect(files.count).toBeGreaterThan(5);
    expect(readdirSync(join(dir, 'messages')).filter((n) => n.endsWith('.seg')).length).toBe(files.count);
    await s.close();
    stores.pop();
    s = open(clock, dir, { segmentBytes: 32 * 1024 });
    expect(s.count()).toBe(90);
    expect(s.page(k, 0, 100).messages.map((m) => m.id)).toEqual([...early, ...late].map(packetIdOf));
    clock.advance(6 * DAY);
    expect(await s.expire()).toBe(60);
    // Only the files holding the late ones (and the one written to) are left.
    const left = s.logFiles();
    expect(left.count).toBeLessThan(files.count - 3);
    expect(left.bytes).toBeLessThan(files.bytes / 2);
    expect(readdirSync(join(dir, 'messages')).filter((n) => n.endsWith('.seg')).length).toBe(left.count);
    expect(s.page(k, 0, 100).messages.map((m) => m.id)).toEqual(late.map(packetIdOf));
  });

  it('starts a new segment file once its first message is an hour old, so an expired message leaves the disk within an hour of its expiry however quiet the relay', async () => {
    const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
    const dir = tempDir('relay-store-');
    dirs.push(dir);
    const k = publicKeyOf(await keyPair());
    const files = () => readdirSync(join(dir, 'messages')).filter((n) => n.endsWith('.seg'));
    const s = open(clock, dir);
    const first = shaped(k);
    await add(s, first);
    clock.advance(30 * 60_000);
    await add(s, shaped(k)); // same segment: under an hour since its first
    expect(files().length).toBe(1);
    clock.advance(30 * 60_000);
    const third = shaped(k);
    await add(s, third);
    expect(files().length).toBe(2);
    // The second expires half an hour before the third: its file goes with it.
    clock.advance(7 * DAY - 30 * 60_000);
    expect(await s.expire()).toBe(2);
    expect(files().length).toBe(1);
    expect(statSync(join(dir, 'messages', files()[0]!)).size).toBeLessThan(4000);
    expect(s.page(k, 0, 10).messages.map((m) => m.id)).toEqual([packetIdOf(third)]);
  });

  it('reads a page whose messages are interleaved with others, far apart and in several segment files, whole and in order', async () => {
    const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
    const s = open(clock, undefined, { segmentBytes: 64 * 1024 });
    const k = publicKeyOf(await keyPair());
    const other = publicKeyOf(await keyPair());
    const mine: P.ClientMessagePacket[] = [];
    // Mine every other message for a while, then one after ten of the other's (more than the 16 KB a read spans over).
    for (let i = 0; i < 120; i++) {
      const p = shaped(i < 60 ? (i % 2 ? k : other) : i % 11 === 0 ? k : other);
      if (p.recipient === k) mine.push(p);
      await add(s, p);
    }
    expect(s.logFiles().count).toBeGreaterThan(3);
    const got: string[] = [];
    let after = 0;
    for (;;) {
      const page = s.page(k, after, 7);
      for (const m of page.messages) {
        expect(m.recipient).toBe(k);
        got.push(m.message);
      }
      if (!page.more) break;
      after = page.messages.at(-1)!.seq;
    }
    expect(got).toEqual(mine.map((p) => p.message));
  });

  it('hands out seq and receipt time when a packet is queued, and pages and lists it as uncommitted until the commit', async () => {
    const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
    const s = open(clock);
    const k = publicKeyOf(await keyPair());
    const other = publicKeyOf(await keyPair());
    const ps = [shaped(k), shaped(other), shaped(k)];
    const done = ps.map((p) => new Promise<number>((resolve, reject) => {
      const q = s.add(packetIdOf(p), p, (err, seq) => (err ? reject(err) : resolve(seq)));
      expect(q?.receivedAt).toBe(clock.now());
    }));
    // Synchronously after add: listed as uncommitted, in seq order, and already in pages
    // (they are pushed on acceptance; a client fetching on a push must find them).
    const pending = s.uncommittedFor(k, 0);
    expect(pending.map((m) => m.id)).toEqual([packetIdOf(ps[0]!), packetIdOf(ps[2]!)]);
    expect(s.page(k, 0, 10).messages).toEqual(pending);
    expect(s.page(k, 0, 1)).toEqual({ messages: pending.slice(0, 1), more: true });
    expect(s.page(k, pending[0]!.seq, 10).messages).toEqual(pending.slice(1));
    expect(s.uncommittedFor(k, pending[0]!.seq).map((m) => m.id)).toEqual([packetIdOf(ps[2]!)]);
    // Peers asking by id (graft, catch-up) get accepted messages before their commit too.
    expect(s.getByIds([packetIdOf(ps[2]!), packetIdOf(ps[1]!)]).map((m) => m.message)).toEqual([ps[2]!.message, ps[1]!.message]);
    // The commit reports the same seqs, and the rows move from uncommitted to pages.
    const seqs = await Promise.all(done);
    expect([seqs[0], seqs[2]]).toEqual(pending.map((m) => m.seq));
    expect(s.uncommittedFor(k, 0)).toEqual([]);
    expect(s.page(k, 0, 10).messages.map((m) => m.seq)).toEqual([seqs[0], seqs[2]]);
  });

  it('lets packets no one waits on share a later commit, and commits them at once when someone waits or deletes', async () => {
    const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
    const s = open(clock);
    const k = publicKeyOf(await keyPair());
    const turn = () => new Promise((r) => setImmediate(r));
    const lazy = (p: P.ClientMessagePacket) => new Promise<number>((resolve, reject) => s.add(packetIdOf(p), p, (err, seq) => (err ? reject(err) : resolve(seq)), true));
    // After a quiet spell a lazy packet commits at the end of its turn: a
    // relay at a low rate is not woken a second time for it 10 ms later.
    const first = shaped(k);
    const firstDone = lazy(first);
    await turn();
    await turn();
    // Under sync full the commit then waits for its fdatasync, still pending.
    if (mode === 'normal') expect(s.isPending(packetIdOf(first))).toBe(false);
    await firstDone;
    // Soon after a commit (the manual clock has not moved) lazy packets wait
    // for company (up to 10 ms), then commit by themselves.
    const a = [shaped(k), shaped(k)];
    const aDone = Promise.all(a.map(lazy));
    await turn();
    await turn();
    expect(a.map((p) => s.isPending(packetIdOf(p)))).toEqual([true, true]);
    await aDone;
    expect(s.page(k, 0, 10).messages.map((m) => m.id)).toEqual([first, ...a].map(packetIdOf));
    // A packet someone waits on (a client's 202) takes the queued lazy ones along, this turn.
    const b = shaped(k);
    const bLazy = lazy(b);
    const c = shaped(k);
    await add(s, c);
    expect(s.isPending(packetIdOf(b))).toBe(false);
    await bLazy;
    // A recipient may delete what was pushed before its commit: the delete waits for it.
    const d = shaped(k);
    void lazy(d);
    expect(await s.deleteFor(k, [packetIdOf(d)])).toBe(1);
    expect(s.page(k, 0, 10).messages.map((m) => m.id)).toEqual([first, ...a, b, c].map(packetIdOf));
  });

  it('after a restart hands out seqs past every seq it could have handed out before (pushed before a commit that never came)', async () => {
    const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
    const dir = tempDir('relay-store-');
    dirs.push(dir);
    const k = publicKeyOf(await keyPair());
    const s1 = open(clock, dir);
    const before = await add(s1, shaped(k));
    await s1.close();
    stores.splice(stores.indexOf(s1), 1);
    const s2 = open(clock, dir);
    const after = await add(s2, shaped(k));
    // Up to the ingest queue's cap (20k) may have been handed out uncommitted when a relay died.
    expect(after - before).toBeGreaterThan(20_000);
    expect(after).toBe(before + 1 + SEQ_RESTART_GAP);
    // A run that commits nothing (it died before its first commit) still moves the next start on.
    await s2.close();
    stores.splice(stores.indexOf(s2), 1);
    const s3 = open(clock, dir);
    await s3.close();
    stores.splice(stores.indexOf(s3), 1);
    const s4 = open(clock, dir);
    const later = await add(s4, shaped(k));
    expect(later - after).toBeGreaterThan(2 * SEQ_RESTART_GAP);
  });

  it('expires messages exactly retention after first receipt, in bounded batches', async () => {
    const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
    const s = open(clock);
    const k = publicKeyOf(await keyPair());
    const early = Array.from({ length: 1200 }, () => shaped(k));
    await Promise.all(early.map((p) => add(s, p)));
    clock.advance(DAY);
    const late = shaped(k);
    await add(s, late);
    expect(s.count()).toBe(1201);
    const bytesBefore = s.storedBytes();

    clock.advance(6 * DAY - 1); // 1 ms before the early ones expire
    expect(await s.expire()).toBe(0);
    expect(s.page(k, 0, 500).messages.length).toBe(500);
    clock.advance(1); // exactly 7 days: gone
    expect(s.page(k, 0, 500).messages.map((m) => m.id)).toEqual([packetIdOf(late)]);
    expect(await s.expireBatch(500)).toBe(500); // bounded batch
    expect(await s.expire()).toBe(700);
    expect(s.count()).toBe(1);
    expect(s.storedBytes()).toBeLessThan(bytesBefore / 1000);
    expect(s.has(packetIdOf(early[0]!))).toBe(false);
    expect(s.has(packetIdOf(late))).toBe(true);

    clock.advance(DAY);
    expect(await s.expire()).toBe(1);
    expect(s.count()).toBe(0);
  });

  it('keeps cursors increasing across deletes, expiry and restarts', async () => {
    const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
    const dir = tempDir('relay-store-');
    dirs.push(dir);
    const k = publicKeyOf(await keyPair());
    let s = open(clock, dir);
    const a = await add(s, shaped(k));
    const b = await add(s, shaped(k));
    expect(b).toBeGreaterThan(a);
    clock.advance(8 * DAY);
    await s.expire();
    expect(s.count()).toBe(0);
    await s.close();
    stores.pop();
    s = open(clock, dir);
    const c = await add(s, shaped(k));
    expect(c).toBeGreaterThan(b);
    expect(s.page(k, 0, 10).messages.map((m) => m.seq)).toEqual([c]);
  });

  it('knows what it holds across restarts and expiry, and answers has() from memory without reading the log', async () => {
    const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
    const dir = tempDir('relay-store-');
    dirs.push(dir);
    const k = publicKeyOf(await keyPair());
    let s = open(clock, dir);
    const old = Array.from({ length: 300 }, () => shaped(k));
    await Promise.all(old.map((p) => add(s, p)));
    clock.advance(DAY);
    const recent = Array.from({ length: 300 }, () => shaped(k));
    await Promise.all(recent.map((p) => add(s, p)));
    await s.close();
    stores.pop();

    s = open(clock, dir);
    // White-box: count the reads from the log files.
    const segments = (s as unknown as { segments: { read: (...a: unknown[]) => void } }).segments;
    const read = segments.read.bind(segments);
    let reads = 0;
    segments.read = (...a: unknown[]) => (reads++, read(...a));
    for (const p of [...old, ...recent]) expect(s.has(packetIdOf(p))).toBe(true);
    for (let i = 0; i < 1000; i++) expect(s.has(packetIdOf(shaped(k)))).toBe(false);
    expect(reads).toBe(0);
    expect(s.getByIds([packetIdOf(recent[0]!)])[0]!.message).toBe(recent[0]!.message);
    expect(reads).toBe(1);

    clock.advance(6 * DAY);
    expect(await s.expire()).toBe(300);
    for (const p of old) expect(s.has(packetIdOf(p))).toBe(false);
    for (const p of recent) expect(s.has(packetIdOf(p))).toBe(true);
    // An expired packet that comes round again is new, and held again once committed.
    await add(s, old[0]!);
    expect(s.has(packetIdOf(old[0]!))).toBe(true);
  });

  it('keeps deletes across a restart, and cuts a torn tail (a crash mid-write) without losing what came before it', async () => {
    const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
    const dir = tempDir('relay-store-');
    dirs.push(dir);
    const k = publicKeyOf(await keyPair());
    let s = open(clock, dir);
    const ps = Array.from({ length: 10 }, () => shaped(k));
    for (const p of ps) await add(s, p);
    expect(await s.deleteFor(k, [packetIdOf(ps[3]!), packetIdOf(ps[4]!)])).toBe(2);
    await s.close();
    stores.pop();
    // A crash part-way through the next append: half a record at the end of the newest file.
    const seg = join(dir, 'messages', readdirSync(join(dir, 'messages')).filter((n) => n.endsWith('.seg')).sort().at(-1)!);
    const whole = statSync(seg).size;
    appendFileSync(seg, readFileSync(seg).subarray(0, 1000));
    const warnings: string[] = [];
    const log = { ...silentLogger(), warn: (_o: unknown, msg?: string) => void warnings.push(String(msg)) } as unknown as Logger;
    s = open(clock, dir, { log });
    expect(warnings.some((w) => /torn/.test(w))).toBe(true);
    expect(statSync(seg).size).toBe(whole);
    const kept = ps.filter((_, i) => i !== 3 && i !== 4).map(packetIdOf);
    expect(s.page(k, 0, 100).messages.map((m) => m.id)).toEqual(kept);
    expect(s.count()).toBe(8);
    expect(s.has(packetIdOf(ps[3]!))).toBe(true); // still held as deleted: the mesh must not bring it back
    // And the log takes appends again after the cut.
    const more = shaped(k);
    await add(s, more);
    await s.close();
    stores.pop();
    s = open(clock, dir);
    expect(s.page(k, 0, 100).messages.map((m) => m.id)).toEqual([...kept, packetIdOf(more)]);
  });

  it('cuts the log at a record whose body does not match its checksum (a torn write the header survived)', async () => {
    const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
    const dir = tempDir('relay-store-');
    dirs.push(dir);
    const k = publicKeyOf(await keyPair());
    let s = open(clock, dir);
    const ps = Array.from({ length: 3 }, () => shaped(k));
    for (const p of ps) await add(s, p);
    await s.close();
    stores.pop();
    const seg = join(dir, 'messages', readdirSync(join(dir, 'messages')).filter((n) => n.endsWith('.seg'))[0]!);
    const b = readFileSync(seg);
    b[b.length - 10]! ^= 0xff; // in the last record's body
    writeFileSync(seg, b);
    s = open(clock, dir);
    expect(s.page(k, 0, 100).messages.map((m) => m.id)).toEqual(ps.slice(0, 2).map(packetIdOf));
    expect(s.has(packetIdOf(ps[2]!))).toBe(false);
  });

  it('imports the SQLite store of an older version once, keeping messages, tombstones and cursors, then deletes it', async () => {
    const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
    const dir = tempDir('relay-store-');
    dirs.push(dir);
    const k = publicKeyOf(await keyPair());
    const ps = Array.from({ length: 5 }, () => shaped(k));
    const legacyPath = join(dir, 'messages.db');
    writeLegacyStore(legacyPath, ps, clock.now(), 4_000_000, 2);
    const s = open(clock, dir, { legacyPath });
    expect(existsSync(legacyPath)).toBe(false);
    expect(s.count()).toBe(4);
    const page = s.page(k, 0, 10).messages;
    expect(page.map((m) => m.id)).toEqual(ps.filter((_, i) => i !== 2).map(packetIdOf));
    expect(page.map((m) => m.seq)).toEqual([1, 2, 4, 5]);
    expect({ recipient: page[0]!.recipient, message: page[0]!.message, signature: page[0]!.signature }).toEqual(ps[0]);
    expect(s.has(packetIdOf(ps[2]!))).toBe(true);
    // Cursors keep increasing past the old store's high water.
    expect(await add(s, shaped(k))).toBeGreaterThan(4_000_000);
  });

  it('answers the mesh: idsByReceipt, getByIds, has, count, tombstones', async () => {
    const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
    const s = open(clock);
    const k = publicKeyOf(await keyPair());
    const t0 = clock.now();
    const ps = [shaped(k), shaped(k), shaped(k), shaped(k)];
    for (const p of ps) {
      await add(s, p);
      clock.advance(1000);
    }
    const ids = ps.map(packetIdOf);
    expect(s.idsByReceipt(t0, t0 + 4000).map((e) => e.id)).toEqual(ids);
    expect(s.idsByReceipt(t0 + 1000, t0 + 3000).map((e) => e.id)).toEqual(ids.slice(1, 3));
    const firstTwo = s.idsByReceipt(t0, t0 + 4000, 2);
    expect(s.idsByReceipt(t0, t0 + 4000, 10, firstTwo[1]!.seq).map((e) => e.id)).toEqual(ids.slice(2));
    expect(s.getByIds([ids[2]!, 'f'.repeat(64), ids[0]!]).map((m) => m.id)).toEqual([ids[2], ids[0]]);
    const m = s.getByIds([ids[0]!])[0]!;
    expect({ recipient: m.recipient, message: m.message, signature: m.signature }).toEqual(ps[0]);

    expect(await s.deleteFor(k, [ids[1]!])).toBe(1);
    expect(s.count()).toBe(3);
    expect(s.has(ids[1]!)).toBe(true); // tombstone: still "held" for dedupe
    expect(s.getByIds([ids[1]!])).toEqual([]);
    expect(s.idsByReceipt(t0, t0 + 4000).find((e) => e.id === ids[1])!.deleted).toBe(true);
    const other = publicKeyOf(await keyPair());
    expect(await s.deleteFor(other, [ids[0]!])).toBe(0);
  });

  it('keeps a hop budget with each message, queued or written, tells committed from queued, and knows none after a restart', async () => {
    const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
    const dir = tempDir('relay-store-');
    dirs.push(dir);
    let s = open(clock, dir);
    const k = publicKeyOf(await keyPair());
    const [a, b] = [shaped(k), shaped(k)];
    const [ida, idb] = [packetIdOf(a), packetIdOf(b)];
    await add(s, a);
    // Queued, not committed yet: has() and idState() 'queued', and its budget set before the write survives it.
    const committed = add(s, b);
    expect(s.has(idb)).toBe(true);
    expect(s.idState(idb)).toBe('queued');
    s.setHops(idb, 9);
    expect(s.hopsOf(idb)).toBe(9);
    await committed;
    expect(s.idState(idb)).toBe('committed');
    expect(s.hopsOf(idb)).toBe(9);
    s.setHops(ida, 15);
    expect(s.hopsOf(ida)).toBe(15);
    expect(s.hopsOf('0'.repeat(64))).toBe(0);
    s.setHops('0'.repeat(64), 3); // unknown: ignored
    expect(s.has('0'.repeat(64))).toBe(false);
    expect(s.idState('0'.repeat(64))).toBe('absent');
    expect(s.has('not hex')).toBe(false);
    expect(s.idState('not hex')).toBe('absent');
    await s.close();
    stores.pop();
    s = open(clock, dir);
    expect(s.idState(ida)).toBe('committed');
    expect(s.hopsOf(ida)).toBe(0);
  });

  it('pages past other keys that share a hash bucket and past tombstones', async () => {
    const clock = new ManualClock();
    const s = open(clock);
    const k = publicKeyOf(await keyPair());
    const ps = Array.from({ length: 30 }, () => shaped(k));
    for (const p of ps) await add(s, p);
    await s.deleteFor(k, ps.slice(0, 20).map(packetIdOf));
    const r = s.page(k, 0, 5);
    expect(r.messages.map((m) => m.id)).toEqual(ps.slice(20, 25).map(packetIdOf));
    expect(r.more).toBe(true);
    const r2 = s.page(k, r.messages.at(-1)!.seq, 5);
    expect(r2.messages.length).toBe(5);
    expect(r2.more).toBe(false);
  });
});
