import type { MessageStore } from '../store/store.ts';
import { MAX_PREFIX_BYTES, SUMMARY_FANOUT } from './frames.ts';

/**
 * Catch-up set reconciliation (PROTOCOL.md §9.5). Ids are SHA-256 values, so
 * their leading bytes spread evenly; a set is summarised per id prefix as
 * (count, XOR of the first 16 bytes of each id). Two relays compare the 256
 * summaries under the empty prefix, descend only into children that differ,
 * and list ids only where a child is small or the depth limit is reached.
 * Receipt times differ between relays (a relay that was down stores caught-up
 * messages later), so prefixes, not time buckets, are what both sides agree on;
 * the retention window bounds which ids take part.
 */

/** Children with at most this many ids (on the peer's side) are listed rather than summarised. */
export const LIST_BELOW = 256;
/** A snapshot is reused by every session that asks within this long. */
const SNAPSHOT_TTL_MS = 2000;
const PAGE = 5000;
/** Ids sorted and summarised between two yields to the event loop while a snapshot is built. */
const YIELD_EVERY = 8000;

export interface Summary {
  counts: number[];
  hashes: string[];
}

/**
 * A sorted copy of the ids this relay holds within the retention window, kept
 * as 256 buckets by first byte, with the summary of the empty prefix made
 * while building. Why buckets: on a relay holding a million ids, one sort
 * of them all blocked the event loop for about a second and one summary of
 * the empty prefix for most of another; built a bucket at a time, with
 * yields between, no step takes more than a few ms, so a reconciliation
 * (now also every --reconcile-interval) does not stall forwarding.
 */
export class IdSnapshot {
  private constructor(
    private readonly buckets: string[][],
    private readonly root: Summary,
    readonly at: number,
  ) {}

  /** Sorts and dedupes each bucket in place and summarises them, yielding between buckets; `at` is when the snapshot began. */
  static async build(buckets: string[][], at: number, yieldNow: () => Promise<void>): Promise<IdSnapshot> {
    const root: Summary = { counts: new Array<number>(SUMMARY_FANOUT).fill(0), hashes: [] };
    let work = 0;
    for (let b = 0; b < SUMMARY_FANOUT; b++) {
      const ids = buckets[b]!;
      ids.sort();
      // An id may be there twice (taken uncommitted at the start, then read from a page): a summary XORs each once.
      let w = 0;
      for (let i = 0; i < ids.length; i++) if (i === 0 || ids[i] !== ids[w - 1]) ids[w++] = ids[i]!;
      ids.length = w;
      const acc = Buffer.alloc(16);
      for (let i = 0; i < w; i++) xorInto(acc, ids[i]!);
      root.counts[b] = w;
      root.hashes[b] = acc.toString('hex');
      work += w;
      if (work >= YIELD_EVERY) {
        work = 0;
        await yieldNow();
      }
    }
    return new IdSnapshot(buckets, root, at);
  }

  /** Every id, sorted (for tests and small relays). */
  get ids(): string[] {
    return this.buckets.flat();
  }

  summary(prefix: string): Summary {
    if (prefix === '') return this.root;
    const [ids, lo, hi] = this.range(prefix);
    return summarise(ids, lo, hi, prefix.length);
  }

  list(prefix: string): string[] {
    if (prefix === '') return this.ids;
    const [ids, lo, hi] = this.range(prefix);
    return ids.slice(lo, hi);
  }

  /** The bucket holding ids that start with `prefix` (hex, at least one byte) and the index range [lo, hi) in it. */
  private range(prefix: string): [string[], number, number] {
    const ids = this.buckets[parseInt(prefix.slice(0, 2), 16)]!;
    const lo = lowerBound(ids, prefix);
    const hi = prefix.length === 2 ? ids.length : lowerBound(ids, nextPrefix(prefix));
    return [ids, lo, hi];
  }
}

/** Per child (the byte after `at` hex digits): how many of ids[lo, hi) and the XOR of their first 16 bytes. */
function summarise(ids: string[], lo: number, hi: number, at: number): Summary {
  const counts = new Array<number>(SUMMARY_FANOUT).fill(0);
  const acc: Buffer[] = Array.from({ length: SUMMARY_FANOUT }, () => Buffer.alloc(16));
  for (let i = lo; i < hi; i++) {
    const id = ids[i]!;
    const child = parseInt(id.slice(at, at + 2), 16);
    counts[child]! += 1;
    xorInto(acc[child]!, id);
  }
  return { counts, hashes: acc.map((b) => b.toString('hex')) };
}

/** XORs the first 16 bytes of a hex id into `acc`. */
function xorInto(acc: Buffer, id: string): void {
  const b = Buffer.from(id.slice(0, 32), 'hex');
  for (let k = 0; k < 16; k++) acc[k]! ^= b[k]!;
}

function lowerBound(a: string[], key: string): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The smallest hex string greater than every id with this prefix ("0a" → "0b", "ff" → "g"). */
function nextPrefix(p: string): string {
  const n = parseInt(p, 16) + 1;
  if (n >= 16 ** p.length) return 'g';
  return n.toString(16).padStart(p.length, '0');
}

/** Builds (and briefly caches) snapshots from the store, in pages and buckets that yield to the event loop. */
export class SnapshotSource {
  private cached: IdSnapshot | undefined;
  private building: { startedAt: number; done: Promise<IdSnapshot> } | undefined;

  constructor(
    private readonly store: MessageStore,
    private readonly now: () => number,
  ) {}

  /** A snapshot begun no earlier than `notBefore` (performance.now()) and at most SNAPSHOT_TTL_MS old. */
  async get(notBefore = -Infinity): Promise<IdSnapshot> {
    const c = this.cached;
    if (c && c.at >= notBefore && performance.now() - c.at < SNAPSHOT_TTL_MS) return c;
    const b = this.building;
    if (b && b.startedAt >= notBefore) return b.done;
    if (b) await b.done.catch(() => undefined);
    // Whoever awaited the same build may have started the next one already.
    const n = this.building;
    if (n && n.startedAt >= notBefore) return n.done;
    const startedAt = performance.now();
    const done = this.build(startedAt).finally(() => {
      if (this.building?.done === done) this.building = undefined;
    });
    this.building = { startedAt, done };
    return done;
  }

  private async build(startedAt: number): Promise<IdSnapshot> {
    const buckets: string[][] = Array.from({ length: SUMMARY_FANOUT }, () => []);
    const add = (id: string): void => void buckets[parseInt(id.slice(0, 2), 16)]!.push(id);
    // Accepted but not committed: already passed on to the peers up at the
    // time, so a link up since must hear of them here. Taken at the start as
    // well as the end: one committed while the pages are read may get a seq
    // below the page already read.
    for (const id of this.store.uncommittedIds()) add(id);
    const now = this.now();
    let after = 0;
    for (;;) {
      const page = this.store.idsByReceipt(now - this.store.retentionMs, now + 1, PAGE, after);
      for (const e of page) add(e.id);
      if (page.length < PAGE) break;
      after = page[page.length - 1]!.seq;
      await yieldToLoop();
    }
    for (const id of this.store.uncommittedIds()) add(id);
    // Stamped with when it began: ids accepted while it was paging may be missing from it.
    this.cached = await IdSnapshot.build(buckets, startedAt, yieldToLoop);
    return this.cached;
  }
}

const yieldToLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Which children of `prefix` to descend into (sum_req) or list (ids_req), comparing ours with theirs. */
export function diffChildren(prefix: string, ours: Summary, theirs: Summary): { descend: string[]; list: string[] } {
  const descend: string[] = [];
  const list: string[] = [];
  const depth = prefix.length / 2 + 1;
  for (let i = 0; i < SUMMARY_FANOUT; i++) {
    if (theirs.counts[i] === 0) continue; // nothing there for us to pull
    if (theirs.counts[i] === ours.counts[i] && theirs.hashes[i] === ours.hashes[i]) continue;
    const child = prefix + i.toString(16).padStart(2, '0');
    if (theirs.counts[i]! <= LIST_BELOW || depth >= MAX_PREFIX_BYTES) list.push(child);
    else descend.push(child);
  }
  return { descend, list };
}
