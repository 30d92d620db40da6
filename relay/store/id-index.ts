/**
 * Which packet ids the store holds, as a multiset of 32-bit fingerprints in
 * an open-addressing table (linear probing) backed by a typed array, so it
 * costs the GC nothing: 4-8 bytes per held message (8 MB at a million).
 *
 * Why it exists: every packet a relay has not seen is looked up before it is
 * stored, and in the mesh every announced id too. Answered by SQLite, that
 * lookup misses the reader connection's page cache after every commit (in
 * WAL mode each connection has its own cache, and a commit by the writer
 * connection discards the reader's), which measured 50-130 µs per lookup on
 * a busy mesh relay: a third of its CPU per message. A fingerprint that is
 * absent here proves the id is not held; a present one (a held id, or a
 * collision, about one in 4,000 at a million messages) is confirmed in SQLite.
 *
 * There are no false negatives as long as every committed row is added and
 * only deleted rows are removed, which MessageStore does (commit replies and
 * expiry replies).
 */
const EMPTY = 0;
const DELETED = 1;
const MIN_CAPACITY = 1024;
/** Slots in use (live and deleted) above which the table is rebuilt. */
const MAX_LOAD = 0.7;

const nextPow2 = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(MIN_CAPACITY, n)));

/** The fingerprint of a key: its low 32 bits, with the two marker values moved. */
const fingerprint = (key: number): number => {
  const f = key >>> 0;
  return f <= DELETED ? f + 2 : f;
};

export class IdIndex {
  private slots: Uint32Array;
  private mask: number;
  /** Live fingerprints (with multiplicity). */
  private live = 0;
  /** Live plus deleted slots: what probing has to step over. */
  private used = 0;

  constructor(expected = 0) {
    this.slots = new Uint32Array(nextPow2(expected * 2));
    this.mask = this.slots.length - 1;
  }

  get size(): number {
    return this.live;
  }

  /** Slots allocated (for tests and the memory note in the docs). */
  get capacity(): number {
    return this.slots.length;
  }

  /** Records one held id by its key (any integer; its low 32 bits are used). */
  add(key: number): void {
    if (this.used + 1 > MAX_LOAD * this.slots.length) this.rebuild(this.live + 1);
    const f = fingerprint(key);
    let i = f & this.mask;
    for (;;) {
      const s = this.slots[i]!;
      if (s === EMPTY || s === DELETED) {
        if (s === EMPTY) this.used++;
        this.slots[i] = f;
        this.live++;
        return;
      }
      i = (i + 1) & this.mask;
    }
  }

  /** Removes one occurrence of the key; false when it was not there. */
  delete(key: number): boolean {
    const i = this.find(fingerprint(key));
    if (i < 0) return false;
    this.slots[i] = DELETED;
    this.live--;
    // After a mass expiry, give the memory back (amortised: a rebuild per capacity/8 deletes at most).
    if (this.live * 8 < this.slots.length && this.slots.length > MIN_CAPACITY) this.rebuild(this.live);
    return true;
  }

  /** False: certainly not held. True: held, or a fingerprint collision. */
  mayHave(key: number): boolean {
    return this.find(fingerprint(key)) >= 0;
  }

  private find(f: number): number {
    let i = f & this.mask;
    for (;;) {
      const s = this.slots[i]!;
      if (s === f) return i;
      if (s === EMPTY) return -1;
      i = (i + 1) & this.mask;
    }
  }

  /** Re-inserts the live fingerprints into a table sized for `live` (drops deleted slots, grows or shrinks). */
  private rebuild(live: number): void {
    const old = this.slots;
    this.slots = new Uint32Array(nextPow2(live * 2));
    this.mask = this.slots.length - 1;
    this.used = 0;
    for (let j = 0; j < old.length; j++) {
      const f = old[j]!;
      if (f <= DELETED) continue;
      let i = f & this.mask;
      while (this.slots[i] !== EMPTY) i = (i + 1) & this.mask;
      this.slots[i] = f;
      this.used++;
    }
  }
}
