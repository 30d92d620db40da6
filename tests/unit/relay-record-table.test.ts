// The log store's in-memory index against a plain model (Maps and arrays), through chunk boundaries and table rebuilds.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RecordTable } from '../../relay/store/record-table.ts';

interface Model {
  seq: number;
  at: number;
  id: Buffer;
  rk: number;
  deleted: boolean;
}

/** The rows of recipient hash `rk` as the table's chain gives them. */
function chain(t: RecordTable, rk: number): number[] {
  const out: number[] = [];
  for (let row = t.rkFirst(rk); row >= 0; row = t.rkNext(row)) out.push(t.seq(row));
  return out;
}

describe('RecordTable (the log store index, off the V8 heap)', () => {
  it('finds every live row by id and by recipient chain, through 3 chunks, expiry of the oldest 2 and rebuilds of both tables', () => {
    const t = new RecordTable();
    const rows: Model[] = [];
    // 20 recipients, and more rows than two chunks (65,536 each) hold.
    const N = 140_000;
    for (let i = 0; i < N; i++) {
      const m: Model = { seq: 10 + 2 * i, at: 1000 + Math.floor(i / 7), id: randomBytes(32), rk: (i * 7919) % 20, deleted: i % 97 === 0 };
      rows.push(m);
      expect(t.push({ seq: m.seq, at: m.at, segment: Math.floor(i / 1000), off: i * 100, len: 50 + (i % 13), rk: m.rk, id: m.id, deleted: m.deleted })).toBe(i);
    }
    const live = (from: number) => rows.slice(from).filter((m) => !m.deleted);
    expect(t.live).toBe(live(0).length);
    expect(t.bytes).toBe(rows.reduce((a, m, i) => a + (m.deleted ? 0 : 50 + (i % 13)), 0));
    for (let i = 0; i < N; i += 997) {
      const row = t.findId(rows[i]!.id);
      expect(row).toBe(i);
      expect(t.idHex(row)).toBe(rows[i]!.id.toString('hex'));
      expect(t.isDeleted(row)).toBe(rows[i]!.deleted);
      expect([t.segment(row), t.off(row), t.len(row)]).toEqual([Math.floor(i / 1000), i * 100, 50 + (i % 13)]);
    }
    expect(t.findId(randomBytes(32))).toBe(-1);
    for (let rk = 0; rk < 20; rk += 3) expect(chain(t, rk)).toEqual(rows.filter((m) => m.rk === rk).map((m) => m.seq));
    expect(t.rowAfterSeq(9)).toBe(0);
    expect(t.rowAfterSeq(10)).toBe(1);
    expect(t.rowAfterSeq(11)).toBe(1);
    expect(t.rowOfSeq(12)).toBe(1);
    expect(t.rowOfSeq(13)).toBe(-1);
    expect(t.rowAtTime(1001)).toBe(7);

    // Deleting marks the row, and it stays findable (a tombstone).
    expect(t.markDeleted(5)).toBe(true);
    expect(t.markDeleted(5)).toBe(false);
    rows[5]!.deleted = true;

    // Expire the oldest 135,000 rows: two whole chunks go, and the id table shrinks.
    const cut = 135_000;
    while (t.first < cut) t.shift();
    expect(t.size).toBe(N - cut);
    expect(t.live).toBe(live(cut).length);
    for (let i = 0; i < cut; i += 499) expect(t.findId(rows[i]!.id)).toBe(-1);
    for (let i = cut; i < N; i++) expect(t.findId(rows[i]!.id)).toBe(i);
    for (let rk = 0; rk < 20; rk++) expect(chain(t, rk)).toEqual(rows.slice(cut).filter((m) => m.rk === rk).map((m) => m.seq));
    expect(t.rowAfterSeq(0)).toBe(cut);
    expect(t.rowAtTime(0)).toBe(cut);

    // New rows join the chains behind the survivors; a recipient whose rows all expired starts a new chain.
    const m: Model = { seq: 10 + 2 * N, at: 1e9, id: randomBytes(32), rk: 12345, deleted: false };
    t.push({ ...m, segment: 0, off: 0, len: 1 });
    expect(chain(t, 12345)).toEqual([m.seq]);
    const again = { ...m, seq: m.seq + 1, id: randomBytes(32) };
    t.push({ ...again, segment: 0, off: 0, len: 1 });
    expect(chain(t, 12345)).toEqual([m.seq, again.seq]);
    while (t.first < t.end) t.shift();
    expect([t.size, t.live, t.bytes]).toEqual([0, 0, 0]);
    expect(t.rkFirst(12345)).toBe(-1);
    expect(t.findId(again.id)).toBe(-1);
  });

  it('keeps ids that share their first bytes apart (probing), and removes exactly the expired one', () => {
    const t = new RecordTable();
    const base = randomBytes(32);
    const ids = Array.from({ length: 50 }, (_, i) => {
      const id = Buffer.from(base);
      id[31] = i; // same first 8 bytes: the same home slot
      return id;
    });
    ids.forEach((id, i) => t.push({ seq: i + 1, at: i, segment: 0, off: 0, len: 1, rk: 1, id }));
    ids.forEach((id, i) => expect(t.findId(id)).toBe(i));
    for (let i = 0; i < 25; i++) t.shift();
    ids.forEach((id, i) => expect(t.findId(id)).toBe(i < 25 ? -1 : i));
  });

  it('answers for every row while its ids move to a new table a few at a time, with rows growing, expiring and expiring mid-move', () => {
    const t = new RecordTable();
    const ids: Buffer[] = [];
    const check = (row: number): void => {
      expect(t.findId(ids[row]!)).toBe(row >= t.first ? row : -1);
    };
    let midMove = 0;
    let rng = 1;
    const rand = (n: number): number => ((rng = (Math.imul(rng, 48271) + 11) >>> 0) % n);
    // Growth with no expiry (each doubling moves every row), then a sliding
    // window of 3,000 (deleted slots pile up and force same-size moves, and the
    // oldest rows expire while they wait to move).
    for (let i = 0; i < 40_000; i++) {
      ids.push(randomBytes(32));
      t.push({ seq: i + 1, at: i, segment: 0, off: 0, len: 1, rk: i % 7, id: ids[i]! });
      if (i >= 12_000) while (t.size > 3_000) t.shift();
      if (t.idsMoving) midMove++;
      check(i);
      check(t.first);
      if (t.first > 0) check(t.first - 1);
      check(t.first + rand(t.size));
      if (i % 4_000 === 3_999) for (let r = Math.max(0, t.first - 50); r < t.end; r++) check(r);
    }
    // The states above were seen: lookups ran against both tables.
    expect(midMove).toBeGreaterThan(1_000);
    expect(t.findId(randomBytes(32))).toBe(-1);
    // A mass expiry shrinks the table at once, also in the middle of a move
    // (no inserts follow to finish it); the rest is still found.
    for (let i = ids.length, stop = i + 100_000; !t.idsMoving && i < stop; i++) {
      ids.push(randomBytes(32));
      t.push({ seq: i + 1, at: i, segment: 0, off: 0, len: 1, rk: i % 7, id: ids[i]! });
      while (t.size > 3_000) t.shift();
    }
    expect(t.idsMoving).toBe(true);
    while (t.size > 100) t.shift();
    expect(t.idsMoving).toBe(false);
    for (let r = t.first - 10; r < t.end; r++) check(r);
  });
});
