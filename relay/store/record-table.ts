/**
 * The log store's in-memory index: one row per message record in the log,
 * in log order (which is seq order and receipt-time order), in typed arrays
 * off the V8 heap, so a million messages cost the GC nothing and about 70
 * bytes each (70 MB at a million).
 *
 * Rows are numbered by a global, ever-increasing row number; expiry removes
 * a prefix (the oldest), so rows live in fixed-size chunks and whole chunks
 * are dropped from the front. Two hash tables (open addressing, linear
 * probing, typed arrays) point into the rows:
 *  - ids: packet id -> row, for dedupe and lookups by id;
 *  - recipients: 32-bit recipient hash -> first and last row, with each row
 *    linking to the next row of the same hash, so a recipient's page is a
 *    walk along its chain. Different keys sharing a hash share a chain; the
 *    store compares the full key it reads from the log.
 */
import { randomBytes } from 'node:crypto';

const CHUNK_BITS = 16;
const CHUNK = 1 << CHUNK_BITS;
const EMPTY = 0;
const TOMB = 1;
/** Row numbers kept in table slots modulo this (0 and 1 mark empty and deleted slots). */
const SLOT_MOD = 2 ** 32 - 2;
const MIN_SLOTS = 1024;
const MAX_LOAD = 0.7;

class Chunk {
  readonly seq = new Float64Array(CHUNK);
  readonly at = new Float64Array(CHUNK);
  /** Offset of the record's body in its segment file. */
  readonly off = new Uint32Array(CHUNK);
  readonly len = new Uint32Array(CHUNK);
  readonly segment = new Uint32Array(CHUNK);
  /** Rows to the next row of the same recipient hash; 0: none (yet). */
  readonly next = new Uint32Array(CHUNK);
  readonly rk = new Uint32Array(CHUNK);
  readonly deleted = new Uint8Array(CHUNK);
  /** The mesh's hop budget for the message (setHops); 0 for rows read back from the log. */
  readonly hops = new Uint8Array(CHUNK);
  readonly ids = Buffer.allocUnsafeSlow(32 * CHUNK);
}

/** An open-addressing table (linear probing) of row slots; `used` counts deleted slots too. */
interface SlotTable {
  slots: Uint32Array;
  mask: number;
  shift: number;
  used: number;
}

const slotTable = (n: number): SlotTable => ({ slots: new Uint32Array(n), mask: n - 1, shift: 32 - Math.log2(n), used: 0 });

/** Rows moved to a new id table per insert while one is being filled. */
const MOVES_PER_INSERT = 8;

const nextPow2 = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(MIN_SLOTS, n)));

export interface RowInput {
  seq: number;
  at: number;
  segment: number;
  off: number;
  len: number;
  rk: number;
  /** 32 bytes. */
  id: Uint8Array;
  deleted?: boolean;
  hops?: number;
}

export class RecordTable {
  private chunks: Chunk[] = [];
  /** Row number of chunks[0]'s first row. */
  private chunkBase = 0;
  /** Oldest live row; rows below it are expired. */
  first = 0;
  /** One past the newest row. */
  end = 0;
  /** Live rows that are not deleted, and their body bytes. */
  live = 0;
  bytes = 0;

  /** The id table (rows [first, end), each once). */
  private ids: SlotTable;
  /**
   * While the ids move to a new table a few rows per insert (idGrow): the
   * table they come from, which still answers for rows not yet moved, and
   * the rows left to move.
   */
  private moving: SlotTable | undefined;
  private moveRow = 0;
  private moveEnd = 0;
  private idCount = 0;
  private rkKeys: Uint32Array;
  private rkHead: Uint32Array;
  private rkTail: Uint32Array;
  private rkMask: number;
  private rkShift: number;
  private rkUsed = 0;
  private rkCount = 0;
  /**
   * Per-process hash seed: ids are hashes an attacker can grind, but not
   * against a multiplier they do not know, so they cannot pile ids into one
   * probe run.
   */
  private readonly mult = randomBytes(4).readUInt32LE(0) | 1;

  constructor(expected = 0) {
    this.ids = slotTable(nextPow2(expected * 2));
    const r = nextPow2(64);
    this.rkKeys = new Uint32Array(r);
    this.rkHead = new Uint32Array(r);
    this.rkTail = new Uint32Array(r);
    this.rkMask = r - 1;
    this.rkShift = 32 - Math.log2(r);
  }

  /** Whether the ids are being moved to a new table (idGrow), for tests. */
  get idsMoving(): boolean {
    return this.moving !== undefined;
  }

  get size(): number {
    return this.end - this.first;
  }

  private chunk(row: number): Chunk {
    return this.chunks[Math.floor(row / CHUNK) - this.chunkBase / CHUNK]!;
  }

  seq(row: number): number {
    return this.chunk(row).seq[row % CHUNK]!;
  }
  at(row: number): number {
    return this.chunk(row).at[row % CHUNK]!;
  }
  off(row: number): number {
    return this.chunk(row).off[row % CHUNK]!;
  }
  len(row: number): number {
    return this.chunk(row).len[row % CHUNK]!;
  }
  segment(row: number): number {
    return this.chunk(row).segment[row % CHUNK]!;
  }
  hops(row: number): number {
    return this.chunk(row).hops[row % CHUNK]!;
  }
  setHops(row: number, hops: number): void {
    this.chunk(row).hops[row % CHUNK] = hops;
  }
  isDeleted(row: number): boolean {
    return this.chunk(row).deleted[row % CHUNK] === 1;
  }
  /** The row's id as lowercase hex. */
  idHex(row: number): string {
    const i = row % CHUNK;
    return this.chunk(row).ids.toString('hex', 32 * i, 32 * i + 32);
  }
  private idEquals(row: number, id: Uint8Array): boolean {
    const i = row % CHUNK;
    return this.chunk(row).ids.compare(id, 0, 32, 32 * i, 32 * i + 32) === 0;
  }

  /** Appends a row (its seq must exceed every row's); returns its row number. */
  push(r: RowInput): number {
    const row = this.end;
    if (row - this.chunkBase >= this.chunks.length * CHUNK) this.chunks.push(new Chunk());
    const c = this.chunk(row);
    const i = row % CHUNK;
    c.seq[i] = r.seq;
    c.at[i] = r.at;
    c.off[i] = r.off;
    c.len[i] = r.len;
    c.segment[i] = r.segment;
    c.next[i] = 0;
    c.rk[i] = r.rk;
    c.deleted[i] = r.deleted ? 1 : 0;
    c.hops[i] = r.hops ?? 0;
    c.ids.set(r.id, 32 * i);
    this.end++;
    this.idInsert(row, r.id);
    this.rkAppend(row, r.rk);
    if (!r.deleted) {
      this.live++;
      this.bytes += r.len;
    }
    return row;
  }

  markDeleted(row: number): boolean {
    const c = this.chunk(row);
    const i = row % CHUNK;
    if (c.deleted[i]) return false;
    c.deleted[i] = 1;
    this.live--;
    this.bytes -= c.len[i]!;
    return true;
  }

  /** Removes the oldest row. */
  shift(): void {
    const row = this.first;
    const c = this.chunk(row);
    const i = row % CHUNK;
    this.idRemove(row, c.ids.subarray(32 * i, 32 * i + 32));
    this.rkRemoveHead(row, c.rk[i]!, c.next[i]!);
    if (!c.deleted[i]) {
      this.live--;
      this.bytes -= c.len[i]!;
    }
    this.first++;
    this.idShrink();
    // A chunk wholly expired gives its memory back.
    if (this.first - this.chunkBase >= CHUNK) {
      this.chunks.shift();
      this.chunkBase += CHUNK;
    }
  }

  /** The first row with seq > `seq` (end when none): a binary search, seqs increasing with rows. */
  rowAfterSeq(seq: number): number {
    let lo = this.first;
    let hi = this.end;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if (this.seq(mid) > seq) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** The first row with receipt time >= `ms` (end when none). */
  rowAtTime(ms: number): number {
    let lo = this.first;
    let hi = this.end;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if (this.at(mid) >= ms) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** The row holding seq exactly, or -1. */
  rowOfSeq(seq: number): number {
    const row = this.rowAfterSeq(seq - 1);
    return row < this.end && this.seq(row) === seq ? row : -1;
  }

  // ------------------------------------------------------------ ids

  /**
   * The home slot of the id at `buf[off..off+32]` in table `t`: multiplicative
   * hashing, so the slot comes from the product's high bits, which depend on
   * every bit of the key. An offset, not a subarray: moving a table reads
   * every id, and a view per row was most of a rebuild's time.
   */
  private idHome(t: SlotTable, buf: Uint8Array, off: number): number {
    const x =
      (buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16) | (buf[off + 3]! << 24)) ^
      (buf[off + 4]! | (buf[off + 5]! << 8) | (buf[off + 6]! << 16) | (buf[off + 7]! << 24));
    return Math.imul(x, this.mult) >>> t.shift;
  }

  /** The slot value of a row, and the row of a slot value (rows below `first` are gone, so the window resolves it). */
  private slotOf(row: number): number {
    return (row % SLOT_MOD) + 2;
  }
  private rowOfSlot(v: number): number {
    const base = this.first % SLOT_MOD;
    const d = (v - 2 - base + SLOT_MOD) % SLOT_MOD;
    return this.first + d;
  }

  /** The live row holding `id` (32 bytes), or -1. */
  findId(id: Uint8Array): number {
    if (id.length !== 32) return -1;
    const row = this.idFind(this.ids, id);
    return row >= 0 || !this.moving ? row : this.idFind(this.moving, id);
  }

  private idFind(t: SlotTable, id: Uint8Array): number {
    const { slots, mask } = t;
    let i = this.idHome(t, id, 0);
    for (;;) {
      const v = slots[i]!;
      if (v === EMPTY) return -1;
      if (v !== TOMB) {
        const row = this.rowOfSlot(v);
        if (this.idEquals(row, id)) return row;
      }
      i = (i + 1) & mask;
    }
  }

  private idPlace(t: SlotTable, row: number, buf: Uint8Array, off: number): void {
    const { slots, mask } = t;
    let i = this.idHome(t, buf, off);
    while (slots[i]! > TOMB) i = (i + 1) & mask;
    if (slots[i] === EMPTY) t.used++;
    slots[i] = this.slotOf(row);
  }

  /** Clears `row`'s slot in `t`, if it has one. */
  private idUnplace(t: SlotTable, row: number, id: Uint8Array): void {
    const { slots, mask } = t;
    const want = this.slotOf(row);
    let i = this.idHome(t, id, 0);
    for (;;) {
      const v = slots[i]!;
      if (v === EMPTY) return;
      if (v === want) {
        slots[i] = TOMB;
        return;
      }
      i = (i + 1) & mask;
    }
  }

  private idInsert(row: number, id: Uint8Array): void {
    // Deleted slots count: they lengthen probes until a move sweeps them.
    if (this.ids.used + 1 > MAX_LOAD * this.ids.slots.length) this.idGrow(nextPow2((this.idCount + 1) * 2), row);
    this.idPlace(this.ids, row, id, 0);
    this.idCount++;
    if (this.moving) this.idMove(MOVES_PER_INSERT);
  }

  /** Takes the oldest row (`first`, about to go) out of the id table. */
  private idRemove(row: number, id: Uint8Array): void {
    this.idUnplace(this.ids, row, id);
    if (this.moving) this.idUnplace(this.moving, row, id);
    this.idCount--;
  }

  /**
   * After a mass expiry, gives the memory back (all at once: the rows left are
   * few for the table's size). A move under way is finished first (idGrow):
   * with no inserts to carry it on it would otherwise hold the shrink off, and
   * the old table's memory, indefinitely.
   */
  private idShrink(): void {
    if (this.idCount * 8 >= this.ids.slots.length || this.ids.slots.length <= MIN_SLOTS) return;
    this.idGrow(nextPow2(this.idCount * 2), this.end);
    this.idMove(Infinity);
  }

  /**
   * Starts moving rows [first, before) into a new table of `size` slots. They
   * move MOVES_PER_INSERT at a time: all at once, a million rows stopped the
   * relay for ~0.65 s (and the ten relays of the mesh bench, holding the
   * same messages, all stopped at the same message). The new table holds at
   * least twice the rows, so the move ends long before it fills.
   */
  private idGrow(size: number, before: number): void {
    if (this.moving) this.idMove(Infinity);
    this.moving = this.ids;
    this.ids = slotTable(size);
    this.moveRow = this.first;
    this.moveEnd = before;
  }

  private idMove(n: number): void {
    let row = Math.max(this.moveRow, this.first);
    for (; n > 0 && row < this.moveEnd; n--, row++) this.idPlace(this.ids, row, this.chunk(row).ids, 32 * (row % CHUNK));
    this.moveRow = row;
    if (row >= this.moveEnd) this.moving = undefined;
  }

  // ------------------------------------------------------------ recipients

  private rkSlot(rk: number): number {
    const mask = this.rkMask;
    let i = Math.imul(rk, this.mult) >>> this.rkShift;
    for (;;) {
      if (this.rkHead[i] === EMPTY || (this.rkHead[i] !== TOMB && this.rkKeys[i] === rk)) return i;
      i = (i + 1) & mask;
    }
  }

  /** First row of the chain for recipient hash `rk`, or -1. */
  rkFirst(rk: number): number {
    const s = this.rkSlot(rk);
    const v = this.rkHead[s]!;
    return v === EMPTY ? -1 : this.rowOfSlot(v);
  }

  /** The next row on `row`'s chain, or -1. */
  rkNext(row: number): number {
    const d = this.chunk(row).next[row % CHUNK]!;
    return d === 0 ? -1 : row + d;
  }

  private rkAppend(row: number, rk: number): void {
    if (this.rkUsed + 1 > MAX_LOAD * this.rkHead.length) this.rkRebuild(this.rkCount + 1);
    // Finds the chain's slot, or an empty one; deleted slots are not reused here (the rebuild sweeps them).
    const s = this.rkSlot(rk);
    if (this.rkHead[s] === EMPTY) {
      this.rkKeys[s] = rk;
      this.rkHead[s] = this.rkTail[s] = this.slotOf(row);
      this.rkUsed++;
      this.rkCount++;
      return;
    }
    const tail = this.rowOfSlot(this.rkTail[s]!);
    this.chunk(tail).next[tail % CHUNK] = row - tail;
    this.rkTail[s] = this.slotOf(row);
  }

  private rkRemoveHead(row: number, rk: number, next: number): void {
    const s = this.rkSlot(rk);
    if (this.rkHead[s] === EMPTY) return;
    if (next === 0) {
      this.rkHead[s] = TOMB;
      this.rkTail[s] = 0;
      this.rkCount--;
      if (this.rkCount * 8 < this.rkHead.length && this.rkHead.length > MIN_SLOTS) this.rkRebuild(this.rkCount);
    } else this.rkHead[s] = this.slotOf(row + next);
  }

  private rkRebuild(count: number): void {
    const keys = this.rkKeys;
    const heads = this.rkHead;
    const tails = this.rkTail;
    const n = nextPow2(count * 2);
    this.rkKeys = new Uint32Array(n);
    this.rkHead = new Uint32Array(n);
    this.rkTail = new Uint32Array(n);
    this.rkMask = n - 1;
    this.rkShift = 32 - Math.log2(n);
    this.rkUsed = 0;
    for (let j = 0; j < heads.length; j++) {
      if (heads[j]! <= TOMB) continue;
      const s = this.rkSlot(keys[j]!);
      this.rkKeys[s] = keys[j]!;
      this.rkHead[s] = heads[j]!;
      this.rkTail[s] = tails[j]!;
      this.rkUsed++;
    }
  }
}
