import { existsSync, fsyncSync, openSync, closeSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as P from '../../protocol/index.ts';
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import { importSqlite } from './import-sqlite.ts';
import { RecordTable } from './record-table.ts';
import { FLAG_DELETED, HEADER, recipientHash, SegmentLog, TYPE_MESSAGE, TYPE_TOMBSTONE, writeHeader } from './segment-log.ts';

/** A message as the store hands it out: the client packet plus where and when it was received here. */
export interface StoredMessage {
  /** Sequence number: the cursor. Strictly increasing in commit order, never reused. */
  seq: number;
  /** Packet id: lowercase hex SHA-256 of P.packetIdPreimage. */
  id: string;
  recipient: string;
  message: string;
  signature: string;
  /** Epoch ms of first receipt at this relay. */
  received_at: number;
}

export interface IdEntry {
  seq: number;
  id: string;
  received_at: number;
  /** Removed by its recipient: held as a tombstone until expiry so the mesh does not bring it back. */
  deleted: boolean;
}

export interface StoreOptions {
  /** Folder of the message log (segment files); created if missing. */
  path: string;
  retentionMs: number;
  clock: Clock;
  log: Logger;
  /** full: every group commit is fdatasync'd before its callers hear of it; normal: written to the OS only (survives a process crash, not a power cut). */
  sync?: 'full' | 'normal';
  /** Size past which the log starts a new segment file (default 64 MiB); tests set it low. */
  segmentBytes?: number;
  /** Time span past which the log starts a new segment file (default an hour): expired and deleted messages leave the disk at most this long after retention. */
  segmentSpanMs?: number;
  /** A message store of an older version (SQLite) to import once, when the log is empty; deleted after. */
  legacyPath?: string;
}

/** Seqs skipped at each start: more than the ingest queue (and so the seqs issued but uncommitted) can ever hold. */
export const SEQ_RESTART_GAP = 1_000_000;
const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
const DEFAULT_SEGMENT_SPAN_MS = 3_600_000;

export type CommitCallback = (err: Error | null, seq: number, receivedAt: number) => void;

interface Pending {
  id: string;
  idBuf: Buffer;
  /**
   * The record body (DER key ‖ signature ‖ message), encoded when queued. Off
   * the V8 heap: the packet's strings are not kept alive until the commit,
   * which made every young-generation GC copy them (the push path's GC pauses).
   */
  body: Buffer;
  /** Recipient hash (recipientHash), for uncommittedFor and the log. */
  rk: number;
  cb: CommitCallback;
  /** Given when queued (not when committed), so a message can be pushed before its commit. */
  seq: number;
  receivedAt: number;
  /** Callers that sent the same packet again before it was committed. */
  waiters?: CommitCallback[];
  /** setHops() before the write. */
  hops: number;
}

// Record body layout: DER recipient ‖ signature envelope ‖ message envelope,
// binary rather than base64 (a quarter smaller on disk and in the page cache).
const SPKI = P.SPKI_BYTES;
const SIG = P.SIGNATURE_ENVELOPE_BYTES;

/**
 * Packets nobody waits on (from peers: no 202 hangs on their commit) wait up
 * to this long, or until this many are queued, so several share one write
 * (and one fdatasync under sync full). Delivery does not wait (push and
 * forwarding run on acceptance), and what a crash loses from the window the
 * mesh's catch-up brings back.
 */
const LAZY_COMMIT_MS = 10;
const LAZY_COMMIT_MAX = 256;
/** has() decodes an id here instead of a new Buffer per packet. */
const idScratch = Buffer.allocUnsafeSlow(32);

/**
 * The durable message store: an append-only log of segment files
 * (segment-log.ts) is the truth, and an index in typed arrays
 * (record-table.ts) says where each message is. Nothing else is cached:
 * pages are read from the log (one pread per message, from the OS page
 * cache when warm).
 *
 * Why a log and not SQLite (which the store was until session 18): in the
 * ten-relay mesh bench, SQLite's insert and commit cost about 1 ms of CPU per
 * message across the relays, a third of their work, and its checkpoints and
 * page-cache misses showed in the p99; appending one buffer per group commit
 * costs a tenth of that (docs/performance.md).
 *
 * Writes are group commits: whatever arrived in this event-loop turn, or
 * while the previous commit was being synced, is one append, and each caller
 * is told only after its record is written (sync normal) or on disk (sync
 * full: fdatasync on libuv's thread pool, off the event loop).
 *
 * Receipt times are kept non-decreasing in seq order, so expiry removes a
 * prefix of the log (whole segment files) and time ranges map to row ranges
 * by binary search. Deletes append a tombstone record; the body stays in its
 * segment until that segment expires.
 */
export class MessageStore {
  readonly path: string;
  readonly retentionMs: number;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly fsync: boolean;
  private readonly segments: SegmentLog;
  private readonly segmentBytes: number;
  private readonly table = new RecordTable();
  /** Queued for the next commit. */
  private pending: Pending[] = [];
  /** Written to the log, awaiting its fdatasync (sync full). */
  private inFlight: Pending[] | undefined;
  /**
   * The same packets by id (dedupe must see them), one Map per batch that is
   * dropped whole with its batch. Not one long-lived Map with an add and a
   * delete per message: such a Map rehashes every few messages, and V8 links
   * each obsolete table to its successor (for live iterators) without
   * clearing it. Once a mark-compact promotes one table, every later one and
   * all they point at (Pendings, their callbacks, the requests behind them)
   * survive each scavenge until the next mark-compact: ~1 KB per message, the
   * push path's GC pauses (docs/performance.md, session 9).
   */
  private queuedIds = new Map<string, Pending>();
  private inFlightIds: Map<string, Pending> | undefined;
  private dispatchScheduled = false;
  /** When the last commit was dispatched (clock ms): lazy packets wait only soon after one. */
  private lastDispatchAt = -Infinity;
  private lazyTimer: NodeJS.Timeout | undefined;
  /** Whether something queued has a caller waiting on its commit. */
  private urgent = false;
  private broken: Error | undefined;
  private idleWaiters: (() => void)[] = [];
  private nextSeq: number;
  private lastReceivedAt = 0;
  private closed = false;
  private expiryTimer: NodeJS.Timeout | undefined;
  private expiring = false;

  constructor(opts: StoreOptions) {
    this.path = opts.path;
    this.retentionMs = opts.retentionMs;
    this.clock = opts.clock;
    this.log = opts.log;
    this.fsync = (opts.sync ?? 'full') === 'full';
    this.segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this.segments = new SegmentLog(opts.path, { segmentBytes: this.segmentBytes, segmentSpanMs: opts.segmentSpanMs ?? DEFAULT_SEGMENT_SPAN_MS, fsync: this.fsync, log: opts.log });
    let highWater = readHighWater(this.highWaterPath);
    if (opts.legacyPath && existsSync(opts.legacyPath) && this.segments.isEmpty()) {
      highWater = Math.max(highWater, this.importLegacy(opts.legacyPath));
    }
    let lastSeq = 0;
    let skipped = 0;
    const t0 = performance.now();
    this.segments.scan({
      record: (h, segment, bodyOff) => {
        if (h.type === TYPE_TOMBSTONE) {
          const row = this.table.findId(h.id);
          if (row < 0 || this.table.seq(row) !== h.seq) return -1;
          this.table.markDeleted(row);
          return row;
        }
        if (h.seq <= lastSeq) {
          skipped++;
          return -1;
        }
        lastSeq = h.seq;
        this.lastReceivedAt = Math.max(h.at, this.lastReceivedAt);
        return this.table.push({ seq: h.seq, at: this.lastReceivedAt, segment, off: bodyOff, len: h.len, rk: h.rk, id: h.id, deleted: (h.flags & FLAG_DELETED) !== 0 });
      },
    });
    if (skipped) this.log.error({ skipped }, 'message log: records out of seq order ignored');
    const files = this.segments.files();
    this.log.info({ messages: this.table.live, files: files.count, bytes: files.bytes, ms: Math.round(performance.now() - t0) }, 'message log read');
    // Seqs are handed out when a packet is queued, and live subscribers may get
    // one before its commit. After a crash those were never written: skipping
    // far past anything that could have been in flight (the ingest queue is
    // capped well below this) means no cursor a client holds is ever reused.
    // The skip is recorded before anything is handed out, so a run that dies
    // before its first commit still moves the next run's start on.
    this.nextSeq = Math.max(highWater, lastSeq) + 1 + SEQ_RESTART_GAP;
    writeHighWater(this.highWaterPath, this.nextSeq - 1, this.fsync);
    this.segments.openForAppend();
  }

  private get highWaterPath(): string {
    return join(this.path, 'high-water');
  }

  /** Copies an older version's SQLite store into the log, then deletes it. Returns its high-water seq. */
  private importLegacy(dbPath: string): number {
    const t0 = performance.now();
    // Its own writer, synced on close whatever the sync mode: the old file is deleted after.
    const out = new SegmentLog(this.path, { segmentBytes: this.segmentBytes, segmentSpanMs: Infinity, fsync: true, log: this.log });
    out.openForAppend();
    const r = importSqlite(dbPath, (buf) => out.append(buf));
    out.close();
    this.log.info({ messages: r.rows, ms: Math.round(performance.now() - t0) }, 'imported the message store of an older version');
    r.remove();
    return r.highWater;
  }

  // ---------------------------------------------------------------- writes

  /**
   * Queues a validated packet for the next group commit. `cb` runs after the
   * commit (or its failure). Callers dedupe first with has()/isPending().
   * `lazy`: no one waits on this commit, so it may wait for company (LAZY_COMMIT_MS).
   */
  add(id: string, packet: P.ClientMessagePacket, cb: CommitCallback, lazy = false): { seq: number; receivedAt: number } | undefined {
    if (this.closed || this.broken) {
      cb(this.broken ?? new Error('store closed'), 0, 0);
      return undefined;
    }
    // Receipt times never decrease in seq order (expiry removes a prefix).
    const receivedAt = Math.max(this.clock.now(), this.lastReceivedAt);
    this.lastReceivedAt = receivedAt;
    // From Buffer's pool (a slice of a shared 8 KB slab): off the V8 heap, and cheaper than a buffer of its own.
    const body = Buffer.allocUnsafe(SPKI + SIG + P.base64DecodedLength(packet.message));
    encodeBody(packet, body, 0);
    const p: Pending = { id, idBuf: Buffer.from(id, 'hex'), body, rk: recipientHash(body.subarray(0, SPKI)), cb, seq: this.nextSeq++, receivedAt, hops: 0 };
    this.pending.push(p);
    this.queuedIds.set(id, p);
    if (!lazy) this.urgent = true;
    this.schedule();
    return { seq: p.seq, receivedAt };
  }

  /** Queued (not yet written) packets for `recipient` after `afterSeq`, in seq order. Written ones are in the log, where pages find them. */
  uncommittedFor(recipient: string, afterSeq: number): StoredMessage[] {
    const out: StoredMessage[] = [];
    if (this.pending.length === 0) return out;
    const der = Buffer.from(recipient, 'base64');
    const rk = recipientHash(der);
    for (const p of this.pending) if (p.seq > afterSeq && p.rk === rk && der.equals(p.body.subarray(0, SPKI))) out.push(pendingMessage(p));
    return out;
  }

  /** Commits what is queued at the end of this turn when someone waits on it, else within LAZY_COMMIT_MS. */
  private schedule(): void {
    // A commit in flight: dispatch() runs again when it is done.
    if (this.dispatchScheduled || this.inFlight) return;
    // Lazy only while commits come close together: a packet after a quiet
    // spell commits at the end of this turn, so at low rates it does not
    // cost the event loop a second wake-up ten ms later.
    if (!this.urgent && this.pending.length < LAZY_COMMIT_MAX && this.clock.now() - this.lastDispatchAt < LAZY_COMMIT_MS) {
      this.lazyTimer ??= setTimeout(() => {
        this.lazyTimer = undefined;
        this.dispatch();
      }, LAZY_COMMIT_MS);
      return;
    }
    this.dispatchScheduled = true;
    setImmediate(() => {
      this.dispatchScheduled = false;
      this.dispatch();
    });
  }

  get queueDepth(): number {
    return this.queuedIds.size + (this.inFlightIds?.size ?? 0);
  }

  /** Ids accepted but not yet committed (queued, or written and awaiting their sync). */
  uncommittedIds(): string[] {
    return this.queueDepth === 0 ? [] : [...(this.inFlightIds?.keys() ?? []), ...this.queuedIds.keys()];
  }

  isPending(id: string): boolean {
    return this.pendingById(id) !== undefined;
  }

  private pendingById(id: string): Pending | undefined {
    return this.queuedIds.get(id) ?? this.inFlightIds?.get(id);
  }

  /** Runs `cb` when the queued packet `id` is committed (or fails); false when it is not queued. */
  afterCommit(id: string, cb: CommitCallback): boolean {
    const p = this.pendingById(id);
    if (!p) return false;
    (p.waiters ??= []).push(cb);
    this.urgent = true;
    this.schedule();
    return true;
  }

  /**
   * Appends everything queued to the log as one write; under sync full its
   * callers hear once the fdatasync is done, and packets arriving meanwhile
   * queue up for the next one.
   */
  private dispatch(): void {
    if (this.inFlight || this.pending.length === 0) {
      if (!this.inFlight && this.pending.length === 0) this.wakeIdle();
      return;
    }
    if (this.lazyTimer) {
      clearTimeout(this.lazyTimer);
      this.lazyTimer = undefined;
    }
    const batch = this.pending;
    this.pending = [];
    this.urgent = false;
    this.lastDispatchAt = this.clock.now();
    this.inFlight = batch;
    this.inFlightIds = this.queuedIds;
    this.queuedIds = new Map();
    let err: Error | null = null;
    try {
      this.write(batch);
    } catch (e) {
      err = e instanceof Error ? e : new Error(String(e));
      this.log.error({ err, batch: batch.length }, 'group commit failed');
    }
    const done = (e: Error | null): void => {
      this.inFlight = undefined;
      this.inFlightIds = undefined;
      for (const p of batch) {
        p.cb(e, e ? 0 : p.seq, p.receivedAt);
        if (p.waiters) for (const w of p.waiters) w(e, e ? 0 : p.seq, p.receivedAt);
      }
      if (this.urgent || this.idleWaiters.length > 0 || this.pending.length === 0) this.dispatch();
      else this.schedule();
    };
    if (err || !this.fsync) queueMicrotask(() => done(err));
    else
      this.segments.sync().then(
        () => done(null),
        // Written but not known to be on disk: the callers are told it failed, and the relay stops taking writes.
        (e: Error) => {
          this.fail(e);
          done(e);
        },
      );
  }

  /** One append for the batch (its headers and bodies in one writev), then its rows into the index. */
  private write(batch: Pending[]): void {
    const headers = Buffer.allocUnsafe(HEADER * batch.length);
    const parts: Buffer[] = [];
    batch.forEach((p, i) => {
      const h = headers.subarray(HEADER * i, HEADER * (i + 1));
      writeHeader(h, 0, { type: TYPE_MESSAGE, flags: 0, len: p.body.length, seq: p.seq, at: p.receivedAt, id: p.idBuf, rk: p.rk }, p.body);
      parts.push(h, p.body);
    });
    const at = this.appendRecords(parts, batch[0]!.receivedAt);
    const segment = at.segment;
    let off = at.off;
    for (const p of batch) {
      this.table.push({ seq: p.seq, at: p.receivedAt, segment, off: off + HEADER, len: p.body.length, rk: p.rk, id: p.idBuf, hops: p.hops });
      off += HEADER + p.body.length;
    }
    this.segments.noteRow(segment, this.table.end - 1);
  }

  private appendRecords(buf: Buffer | Buffer[], at?: number): { segment: number; off: number } {
    try {
      return this.segments.append(buf, at);
    } catch (err) {
      // A write that failed part-way and could not be cut back leaves the log's end unknown.
      if ((err as { code?: string }).code === 'ELOG_TORN') this.fail(err as Error);
      throw err;
    }
  }

  private fail(err: Error): void {
    if (this.broken) return;
    this.broken = err;
    this.log.error({ err }, 'message log failed; refusing writes');
  }

  /** Resolves once everything queued so far is committed (or failed). */
  flush(): Promise<void> {
    if (!this.inFlight && this.pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve);
      if (!this.inFlight) this.dispatch();
    });
  }

  private wakeIdle(): void {
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of w) f();
  }

  /**
   * The recipient removes messages it received. Each becomes a tombstone
   * (a record in the log saying so) until it expires, so catch-up does not
   * resurrect it.
   */
  async deleteFor(recipient: string, ids: string[]): Promise<number> {
    // Push runs on acceptance, so a recipient may delete what is still queued for the commit.
    if (ids.some((id) => this.isPending(id))) await this.flush();
    if (this.broken) throw this.broken;
    const der = Buffer.from(recipient, 'base64');
    const key = Buffer.allocUnsafe(SPKI);
    const rows: number[] = [];
    for (const id of new Set(ids)) {
      if (!P.isHex64(id)) continue;
      const row = this.rowOfId(id);
      if (row < 0 || this.table.isDeleted(row) || this.table.len(row) < SPKI) continue;
      this.segments.read(this.table.segment(row), this.table.off(row), SPKI, key);
      if (der.equals(key)) rows.push(row);
    }
    if (rows.length === 0) return 0;
    const buf = Buffer.allocUnsafe(HEADER * rows.length);
    const now = this.clock.now();
    rows.forEach((row, i) => writeHeader(buf, HEADER * i, { type: TYPE_TOMBSTONE, flags: 0, len: 0, seq: this.table.seq(row), at: now, id: Buffer.from(this.table.idHex(row), 'hex'), rk: 0 }));
    const at = this.appendRecords(buf);
    let count = 0;
    for (const row of rows) if (this.table.markDeleted(row)) count++;
    this.segments.noteRow(at.segment, Math.max(...rows));
    if (this.fsync) await this.segments.sync();
    return count;
  }

  // ---------------------------------------------------------------- reads

  /** Committed (or queued for commit), not expired; deleted ones count (tombstones). */
  has(id: string): boolean {
    return this.idState(id) !== 'absent';
  }

  /**
   * A small number kept with a message in memory only (not in the log): the
   * mesh's hop budget, which it forwards the message with when a peer asks
   * for it. Here rather than in a Map of the mesh's, which cost a lookup in a
   * 100k-entry table per message. Unknown ids are ignored; 0 after a restart.
   */
  setHops(id: string, hops: number): void {
    const p = this.pendingById(id);
    if (p) p.hops = hops;
    else {
      const row = this.rowOfId(id);
      if (row >= 0) this.table.setHops(row, hops);
    }
  }

  hopsOf(id: string): number {
    const p = this.pendingById(id);
    if (p) return p.hops;
    const row = this.rowOfId(id);
    return row >= 0 ? this.table.hops(row) : 0;
  }

  /**
   * Where `id` stands, in one lookup: unknown, queued (accepted, its commit
   * not done: queued, written or syncing), or committed.
   */
  idState(id: string): IdState {
    return this.isPending(id) ? 'queued' : this.rowOfId(id) >= 0 ? 'committed' : 'absent';
  }

  /** The index row of a written id, or -1; decoded into one reused buffer, since this runs for every packet. */
  private rowOfId(id: string): number {
    return id.length === 64 && idScratch.write(id, 'hex') === 32 ? this.table.findId(idScratch) : -1;
  }

  private cutoff(): number {
    return this.clock.now() - this.retentionMs;
  }

  /** A row's body from the log. */
  private body(row: number): Buffer {
    const b = Buffer.allocUnsafe(this.table.len(row));
    this.segments.read(this.table.segment(row), this.table.off(row), b.length, b);
    return b;
  }

  /**
   * Up to `limit` live messages for `recipient` with seq > afterSeq, oldest
   * first; `more` says whether another page follows. Accepted messages not
   * yet written come last (their seqs follow every written one): they were
   * pushed on acceptance, and a client that fetches on a push, or a
   * subscriber's backlog, must find them.
   */
  page(recipient: string, afterSeq: number, limit: number): { messages: StoredMessage[]; more: boolean } {
    const committed = this.committedPage(recipient, afterSeq, limit);
    if (committed.more || this.pending.length === 0) return committed;
    const out = committed.messages;
    const last = out.length ? out[out.length - 1]!.seq : afterSeq;
    const queued = this.uncommittedFor(recipient, last);
    const room = limit - out.length;
    for (let i = 0; i < queued.length && i < room; i++) out.push(queued[i]!);
    return { messages: out, more: queued.length > room };
  }

  private committedPage(recipient: string, afterSeq: number, limit: number): { messages: StoredMessage[]; more: boolean } {
    const der = Buffer.from(recipient, 'base64');
    const t = this.table;
    const cutoff = this.cutoff();
    const out: StoredMessage[] = [];
    // Along the recipient's chain (rows of its hash, oldest first) to the first row after the cursor.
    let row = t.rkFirst(recipientHash(der));
    while (row >= 0 && t.seq(row) <= afterSeq) row = t.rkNext(row);
    for (; row >= 0; row = t.rkNext(row)) {
      // Tombstone, expired, or another key sharing the hash.
      if (t.isDeleted(row) || t.at(row) <= cutoff || t.len(row) < SPKI + SIG) continue;
      const body = this.body(row);
      if (der.compare(body, 0, SPKI) !== 0) continue;
      if (out.length === limit) return { messages: out, more: true };
      // The recipient is the key asked for: no need to encode it again from the record.
      out.push({
        seq: t.seq(row),
        id: t.idHex(row),
        recipient,
        signature: body.toString('base64', SPKI, SPKI + SIG),
        message: body.toString('base64', SPKI + SIG),
        received_at: t.at(row),
      });
    }
    return { messages: out, more: false };
  }

  /**
   * Live messages by id, in the order given, including accepted ones not yet
   * committed (the mesh forwards and announces on acceptance, so a peer may
   * ask for one within the commit's few ms); unknown, deleted and expired ids
   * are skipped.
   */
  getByIds(ids: readonly string[]): StoredMessage[] {
    const cutoff = this.cutoff();
    const out: StoredMessage[] = [];
    for (const id of ids) {
      const p = this.pendingById(id);
      if (p) {
        out.push(pendingMessage(p));
        continue;
      }
      if (!P.isHex64(id)) continue;
      const row = this.rowOfId(id);
      if (row < 0 || this.table.isDeleted(row) || this.table.at(row) <= cutoff) continue;
      out.push({ seq: this.table.seq(row), id, ...decodeBody(this.body(row)), received_at: this.table.at(row) });
    }
    return out;
  }

  /**
   * Ids first received in [fromMs, toMs), oldest first, at most `limit`,
   * continuing after `afterSeq` when paging. Includes tombstones (held but
   * deleted) so reconciliation counts them as present. For the mesh's catch-up.
   */
  idsByReceipt(fromMs: number, toMs: number, limit = 10_000, afterSeq = 0): IdEntry[] {
    const t = this.table;
    const out: IdEntry[] = [];
    for (let row = Math.max(t.rowAtTime(Math.max(fromMs, this.cutoff() + 1)), t.rowAfterSeq(afterSeq)); row < t.end && out.length < limit; row++) {
      const at = t.at(row);
      if (at >= toMs) break;
      out.push({ seq: t.seq(row), id: t.idHex(row), received_at: at, deleted: t.isDeleted(row) });
    }
    return out;
  }

  /** Live (not deleted) messages held. */
  count(): number {
    return this.table.live;
  }

  /** Payload bytes of live messages (binary, as stored). */
  storedBytes(): number {
    return this.table.bytes;
  }

  /** Highest seq handed out so far (committed or about to be). */
  highWater(): number {
    return this.nextSeq - 1;
  }

  /** Segment files on disk and their size. */
  logFiles(): { count: number; bytes: number } {
    return this.segments.files();
  }

  // ---------------------------------------------------------------- expiry

  /**
   * Removes up to `batch` of the oldest messages whose retention has passed
   * (and deletes segment files left with none). Resolves with how many went;
   * callers loop while a full batch was removed.
   */
  async expireBatch(batch = 500): Promise<number> {
    const cutoff = this.cutoff();
    const t = this.table;
    let n = 0;
    while (n < batch && t.first < t.end && t.at(t.first) <= cutoff) {
      t.shift();
      n++;
    }
    if (n) this.segments.dropExpired(t.first);
    return n;
  }

  /** Expires in bounded batches, yielding between them. Resolves with the messages removed. */
  async expire(): Promise<number> {
    if (this.expiring || this.closed) return 0;
    this.expiring = true;
    let total = 0;
    try {
      for (;;) {
        const n = await this.expireBatch(500);
        total += n;
        if (n < 500 || this.closed) break;
        await new Promise((r) => setImmediate(r));
      }
    } catch (err) {
      this.log.error({ err }, 'expiry failed');
    } finally {
      this.expiring = false;
    }
    if (total) this.log.info({ expired: total }, 'expired messages');
    return total;
  }

  /** Runs expire() every `everyMs`. */
  startExpiry(everyMs = 5000): void {
    this.expiryTimer = setInterval(() => void this.expire(), everyMs);
    this.expiryTimer.unref();
  }

  // ---------------------------------------------------------------- lifecycle

  /** Commits what is queued and closes the log. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    if (this.expiryTimer) clearInterval(this.expiryTimer);
    this.segments.close();
  }
}

function readHighWater(path: string): number {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isSafeInteger(n) && n >= 0 ? n : 0;
  } catch {
    return 0;
  }
}

/** Replaces the high-water file whole (write, sync, rename): a crash leaves the old or the new one. */
function writeHighWater(path: string, value: number, fsync: boolean): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${value}\n`);
  if (fsync) {
    const fd = openSync(tmp, 'r+');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
  renameSync(tmp, path);
}

/** Where an id stands in the store (MessageStore.idState). */
export type IdState = 'absent' | 'queued' | 'committed';

export const storePath = (dataDir: string): string => join(dataDir, 'messages');
/** Where versions before the log kept messages (SQLite); imported once. */
export const legacyStorePath = (dataDir: string): string => join(dataDir, 'messages.db');

/** Writes a packet's row body at `off`. Lengths are fixed by validation: 294-byte DER key, 1309-byte signature envelope. */
function encodeBody(p: P.ClientMessagePacket, out: Buffer, off: number): void {
  out.write(p.recipient, off, SPKI, 'base64');
  out.write(p.signature, off + SPKI, SIG, 'base64');
  out.write(p.message, off + SPKI + SIG, P.base64DecodedLength(p.message), 'base64');
}

/** A queued (not yet committed) packet as the store hands messages out. */
const pendingMessage = (p: Pending): StoredMessage => ({ seq: p.seq, id: p.id, ...decodeBody(p.body), received_at: p.receivedAt });

function decodeBody(body: Buffer): { recipient: string; message: string; signature: string } {
  return {
    recipient: body.toString('base64', 0, SPKI),
    signature: body.toString('base64', SPKI, SPKI + SIG),
    message: body.toString('base64', SPKI + SIG),
  };
}


