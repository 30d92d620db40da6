import Database from 'better-sqlite3';
import { hash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import * as P from '../../protocol/index.ts';
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import { IdIndex } from './id-index.ts';
import { openWriter, type WriterRequest } from './writer-core.js';

/** A message as the store hands it out: the client packet plus where and when it was received here. */
export interface StoredMessage {
  /** Row sequence: the cursor. Strictly increasing in commit order, never reused. */
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
  /** SQLite file; its folder is created. */
  path: string;
  retentionMs: number;
  clock: Clock;
  log: Logger;
  sync?: 'full' | 'normal';
  /** WAL frames past which the writer checkpoints after its commits, so the log starts over (writer-core.js); tests set it low. */
  walRestartFrames?: number;
  /** How often the checkpointer runs (default 200 ms). */
  checkpointEveryMs?: number;
}

/** Seqs skipped at each start: more than the ingest queue (and so the seqs issued but uncommitted) can ever hold. */
export const SEQ_RESTART_GAP = 1_000_000;

/** A messages row as read back. */
interface Row {
  seq: number;
  received_at: number;
  id: Buffer;
  body: Buffer | null;
}

export type CommitCallback = (err: Error | null, seq: number, receivedAt: number) => void;

interface Pending {
  id: string;
  idBuf: Buffer;
  /** key48 of the id: the idk column and the id index's key. */
  idk: number;
  /**
   * The row body (DER key ‖ signature ‖ message), encoded when queued. Off the
   * V8 heap: the packet's strings are not kept alive until the commit, which
   * made every young-generation GC copy them (the push path's GC pauses).
   */
  body: Buffer;
  /** Recipient key hash (the rk index column), for uncommittedFor. */
  rk: number;
  cb: CommitCallback;
  /** Given when queued (not when committed), so a message can be pushed before its commit. */
  seq: number;
  receivedAt: number;
  /** Callers that sent the same packet again before it was committed. */
  waiters?: CommitCallback[];
}

// Row layout: one BLOB of DER recipient || signature envelope || message envelope,
// binary rather than base64 (a quarter smaller on disk and in the page cache).
const SPKI = P.SPKI_BYTES;
const SIG = P.SIGNATURE_ENVELOPE_BYTES;

/** 48 bits of a hash as a plain JS number: compact integer index keys, full values compared after. */
const key48 = (b: Buffer): number => b.readUIntBE(0, 6);

/**
 * Packets nobody waits on (from peers: no 202 hangs on their commit) wait up
 * to this long, or until this many are queued, so several share one
 * transaction. Delivery does not wait (push and forwarding run on
 * acceptance), and what a crash loses from the window the mesh's catch-up
 * brings back. Under sync normal commits run on the event loop, and one per
 * message held up forwarding at every hop: in the 10-relay bench at 500
 * msg/s, sharing them cut the p99 over five hops from ~400 to 100–270 ms.
 */
const LAZY_COMMIT_MS = 10;
const LAZY_COMMIT_MAX = 256;
export const recipientKey = (recipient: string): number => key48(hash('sha256', recipient, 'buffer'));

const SCHEMA = `
CREATE TABLE IF NOT EXISTS messages (
  seq INTEGER PRIMARY KEY,
  idk INTEGER NOT NULL,
  rk INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  id BLOB NOT NULL,
  body BLOB
);
CREATE INDEX IF NOT EXISTS messages_idk ON messages(idk);
CREATE INDEX IF NOT EXISTS messages_rk ON messages(rk, seq);
CREATE TABLE IF NOT EXISTS meta (
  k INTEGER PRIMARY KEY CHECK (k = 0),
  high_water INTEGER NOT NULL,
  live INTEGER NOT NULL,
  bytes INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (k, high_water, live, bytes) VALUES (0, 0, 0, 0);
`;

/**
 * The durable message store: better-sqlite3 in WAL mode is the truth, memory
 * a bounded cache. Writes go to one write connection (writer-core.js: on its
 * own thread when commits fsync, in this one otherwise) as group commits:
 * whatever arrived in this event-loop turn, or while the previous commit was
 * in flight, is one transaction, and each caller is told only after its row
 * is committed. Reads run here, on this thread's connection.
 *
 * Memory is bounded: SQLite's page caches (16 MB here, 8 MB in the writer,
 * no mmap), the ingestor's seen-id LRU, and the id index (id-index.ts), the
 * one part that grows with the store: 4-8 bytes per held message, off the
 * V8 heap, 8 MB at a million. There is
 * deliberately no JS cache of decoded messages: one (32 MB of strings) made
 * every young-generation GC copy them, costing 5-10 ms pauses on the push
 * path and ~20 MB of RSS, while a page read straight from SQLite (one
 * statement per page) was as fast as one served from it.
 *
 * Receipt times are kept non-decreasing in seq order, so expiry deletes a
 * prefix of the table and time ranges map to seq ranges without an index.
 */
export class MessageStore {
  readonly path: string;
  readonly retentionMs: number;
  private readonly db: Database.Database;
  private readonly clock: Clock;
  private readonly log: Logger;
  /** Queued for the next commit. */
  private pending: Pending[] = [];
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
  private readonly writer: WriterChannel;
  private readonly checkpointer: Worker;
  private readonly checkpointerDone: Promise<void>;
  private rid = 0;
  /** Requests awaiting the writer's reply, oldest first (it answers in order); a FIFO, not a Map, for the reason given at queuedIds. */
  private replies: ({ rid: number; done: (r: WriterReply) => void } | undefined)[] = [];
  private repliesHead = 0;
  private broken: Error | undefined;
  private idleWaiters: (() => void)[] = [];
  private nextSeq: number;
  private lastReceivedAt: number;
  private live: number;
  private bytes: number;
  private closed = false;
  private expiryTimer: NodeJS.Timeout | undefined;
  private expiring = false;
  private readonly stmt: ReturnType<MessageStore['prepare']>;
  /** Every committed row's id key: has() asks SQLite only when this says maybe. */
  private readonly ids: IdIndex;
  /** Rows committed, for metrics. */
  commits = 0;

  constructor(opts: StoreOptions) {
    this.path = opts.path;
    this.retentionMs = opts.retentionMs;
    this.clock = opts.clock;
    this.log = opts.log;
    mkdirSync(dirname(opts.path), { recursive: true });
    this.db = new Database(opts.path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${opts.sync === 'normal' ? 'NORMAL' : 'FULL'}`);
    this.db.pragma('busy_timeout = 5000');
    // Bounded page cache (16 MB) and no mmap: RSS must not grow with the store.
    this.db.pragma('cache_size = -16000');
    this.db.pragma('mmap_size = 0');
    this.db.pragma('journal_size_limit = 67108864');
    this.db.exec(SCHEMA);
    // This connection only reads from here on; checkpoint-worker.js checkpoints.
    this.db.pragma('wal_autocheckpoint = 0');
    this.stmt = this.prepare();
    const meta = this.stmt.meta.get() as { high_water: number; live: number; bytes: number };
    const last = this.stmt.lastRow.get() as { seq: number; received_at: number } | undefined;
    // Seqs are handed out when a packet is queued, and live subscribers may get
    // one before its commit. After a crash those were never written: skipping
    // far past anything that could have been in flight (the ingest queue is
    // capped well below this) means no cursor a client holds is ever reused.
    // The skip is recorded before anything is handed out, so a run that dies
    // before its first commit still moves the next run's start on.
    this.nextSeq = Math.max(meta.high_water, last?.seq ?? 0) + 1 + SEQ_RESTART_GAP;
    this.db.prepare('UPDATE meta SET high_water = ? WHERE k = 0').run(this.nextSeq - 1);
    this.lastReceivedAt = last?.received_at ?? 0;
    this.live = meta.live;
    this.bytes = meta.bytes;
    this.ids = new IdIndex(meta.live);
    // On a connection of its own, closed after: the scan would otherwise leave
    // this connection's page cache full (16 MB) from the start.
    const scan = new Database(opts.path, { readonly: true });
    for (const idk of scan.prepare('SELECT idk FROM messages').pluck().iterate() as IterableIterator<number>) this.ids.add(idk);
    scan.close();
    const sync = opts.sync ?? 'full';
    // Bumped after every write, so the checkpointer sleeps through idle periods.
    const writes = new Int32Array(new SharedArrayBuffer(4));
    const onReply = (r: WriterReply): void => {
      Atomics.add(writes, 0, 1);
      this.live = r.live;
      this.bytes = r.bytes;
      this.takeReply(r.rid)?.(r);
    };
    this.writer = sync === 'full' ? threadWriter(opts.path, opts.walRestartFrames, onReply, (err) => this.fail(err), () => this.closed) : inlineWriter(opts.path, opts.walRestartFrames, onReply);
    this.checkpointer = new Worker(new URL('./checkpoint-worker.js', import.meta.url), { workerData: { path: opts.path, everyMs: opts.checkpointEveryMs ?? 200, writes } });
    // Checkpoints are housekeeping: if the thread dies, the WAL grows until the writer's close truncates it.
    this.checkpointer.on('error', (err) => this.log.error({ err }, 'WAL checkpointer failed'));
    this.checkpointerDone = new Promise((resolve) => this.checkpointer.once('exit', () => resolve()));
  }

  private prepare() {
    const db = this.db;
    return {
      meta: db.prepare('SELECT high_water, live, bytes FROM meta WHERE k = 0'),
      lastRow: db.prepare('SELECT seq, received_at FROM messages ORDER BY seq DESC LIMIT 1'),
      has: db.prepare('SELECT seq FROM messages WHERE idk = ? AND id = ?').pluck(),
      byId: db.prepare('SELECT seq, received_at, id, body FROM messages WHERE idk = ? AND id = ?'),
      // The id as text from SQLite: a string costs less than the Buffer a blob becomes (~1.7 µs a row).
      pageRows: db.prepare('SELECT seq, received_at, lower(hex(id)), body FROM messages WHERE rk = ? AND seq > ? ORDER BY seq LIMIT ?').raw(),
      firstAtOrAfter: db.prepare('SELECT seq, received_at FROM messages WHERE seq >= ? ORDER BY seq LIMIT 1'),
      firstRow: db.prepare('SELECT seq FROM messages ORDER BY seq LIMIT 1').pluck(),
      idsFrom: db.prepare('SELECT seq, id, received_at, body IS NULL AS deleted FROM messages WHERE seq >= ? ORDER BY seq LIMIT ?'),
      idsForDelete: db.prepare('SELECT seq, rk, length(body) AS n, substr(body, 1, ?) AS rcpt FROM messages WHERE idk = ? AND id = ?'),
    };
  }

  private fail(err: Error): void {
    if (this.broken) return;
    this.broken = err;
    this.log.error({ err }, 'store writer failed; refusing writes');
    const waiting = this.replies.slice(this.repliesHead);
    this.replies = [];
    this.repliesHead = 0;
    for (const w of waiting) w?.done({ rid: -1, ok: false, error: err.message, live: this.live, bytes: this.bytes });
  }

  private request(m: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<WriterReply> {
    if (this.broken) return Promise.resolve({ rid: -1, ok: false, error: this.broken.message, live: this.live, bytes: this.bytes });
    const rid = ++this.rid;
    return new Promise((resolve) => {
      this.replies.push({ rid, done: resolve });
      this.writer.post({ ...m, rid }, transfer);
    });
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
    // Receipt times never decrease in seq order (expiry deletes a prefix by seq).
    const receivedAt = Math.max(this.clock.now(), this.lastReceivedAt);
    this.lastReceivedAt = receivedAt;
    const body = Buffer.allocUnsafeSlow(SPKI + SIG + P.base64DecodedLength(packet.message));
    encodeBody(packet, body, 0);
    const idBuf = Buffer.from(id, 'hex');
    const p: Pending = { id, idBuf, idk: key48(idBuf), body, rk: recipientKey(packet.recipient), cb, seq: this.nextSeq++, receivedAt };
    this.pending.push(p);
    this.queuedIds.set(id, p);
    if (!lazy) this.urgent = true;
    this.schedule();
    return { seq: p.seq, receivedAt };
  }

  /** Queued or in-flight (not yet committed) packets for `recipient` after `afterSeq`, in seq order. */
  uncommittedFor(recipient: string, afterSeq: number): StoredMessage[] {
    const out: StoredMessage[] = [];
    if (this.queueDepth === 0) return out;
    const rk = recipientKey(recipient);
    const der = Buffer.from(recipient, 'base64');
    for (const list of [this.inFlight ?? [], this.pending])
      for (const p of list)
        if (p.seq > afterSeq && p.rk === rk && der.equals(p.body.subarray(0, SPKI))) out.push(pendingMessage(p));
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

  /** Ids accepted but not yet committed (queued or in the commit in flight). */
  uncommittedIds(): string[] {
    return this.queueDepth === 0 ? [] : [...(this.inFlightIds?.keys() ?? []), ...this.queuedIds.keys()];
  }

  isPending(id: string): boolean {
    return this.pendingById(id) !== undefined;
  }

  private pendingById(id: string): Pending | undefined {
    return this.queuedIds.get(id) ?? this.inFlightIds?.get(id);
  }

  /** The resolver of request `rid`, taken off the FIFO. */
  private takeReply(rid: number): ((r: WriterReply) => void) | undefined {
    let i = this.repliesHead;
    // Replies come in request order; the scan is only a guard.
    while (i < this.replies.length && this.replies[i]?.rid !== rid) i++;
    const entry = this.replies[i];
    if (!entry) return undefined;
    this.replies[i] = undefined;
    while (this.repliesHead < this.replies.length && this.replies[this.repliesHead] === undefined) this.repliesHead++;
    // Drained: start over. Never drained (requests always overlapping): drop the used front now and then.
    if (this.repliesHead === this.replies.length || this.repliesHead >= 1024) {
      this.replies = this.replies.slice(this.repliesHead);
      this.repliesHead = 0;
    }
    return entry.done;
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
   * Sends everything queued to the writer as one transaction; while it is
   * being committed, new packets queue up for the next one. Callbacks run
   * once the writer reports the commit.
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
    const n = batch.length;
    // One dedicated ArrayBuffer per batch, transferred (not copied) to the writer:
    // [seq f64 × n][received_at f64 × n][idk f64 × n][rk f64 × n][body length u32 × n]
    // [id 32 B × n][bodies]. One transfer costs the postMessage a fraction of several.
    let total = 68 * n;
    const bodyLens = new Array<number>(n);
    for (let i = 0; i < n; i++) total += bodyLens[i] = batch[i]!.body.length;
    const buf = new ArrayBuffer(total);
    const seqs = new Float64Array(buf, 0, n);
    const times = new Float64Array(buf, 8 * n, n);
    const idk = new Float64Array(buf, 16 * n, n);
    const rk = new Float64Array(buf, 24 * n, n);
    const lengths = new Uint32Array(buf, 32 * n, n);
    const bytes = Buffer.from(buf);
    let off = 68 * n;
    for (let i = 0; i < n; i++) {
      const p = batch[i]!;
      seqs[i] = p.seq;
      times[i] = p.receivedAt;
      lengths[i] = bodyLens[i]!;
      p.idBuf.copy(bytes, 36 * n + 32 * i);
      idk[i] = p.idk;
      rk[i] = p.rk;
      p.body.copy(bytes, off);
      off += bodyLens[i]!;
    }
    void this.request({ t: 'insert', n, buf }, [buf]).then((r) => {
      const err = r.ok ? null : new Error(r.error ?? 'commit failed');
      if (err) this.log.error({ err, batch: n }, 'group commit failed');
      else this.commits += n;
      // Into the index before the batch stops being pending: has() must never miss a held id.
      if (!err) for (const p of batch) this.ids.add(p.idk);
      this.inFlight = undefined;
      this.inFlightIds = undefined;
      for (const p of batch) {
        p.cb(err, err ? 0 : p.seq, p.receivedAt);
        if (p.waiters) for (const w of p.waiters) w(err, err ? 0 : p.seq, p.receivedAt);
      }
      if (this.urgent || this.idleWaiters.length > 0 || this.pending.length === 0) this.dispatch();
      else this.schedule();
    });
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
   * The recipient removes messages it received. Rows become tombstones (no
   * payload) until they expire, so catch-up does not resurrect them.
   */
  async deleteFor(recipient: string, ids: string[]): Promise<number> {
    // Push runs on acceptance, so a recipient may delete what is still queued for the commit.
    if (ids.some((id) => this.isPending(id))) await this.flush();
    const der = Buffer.from(recipient, 'base64');
    const rk = recipientKey(recipient);
    const rows: { seq: number; n: number }[] = [];
    for (const id of ids) {
      const idBuf = Buffer.from(id, 'hex');
      const row = this.stmt.idsForDelete.get(SPKI, key48(idBuf), idBuf) as
        | { seq: number; rk: number; n: number | null; rcpt: Buffer | null }
        | undefined;
      if (!row || row.n === null || row.rk !== rk || !row.rcpt || !der.equals(row.rcpt)) continue;
      rows.push({ seq: row.seq, n: row.n });
    }
    if (rows.length === 0) return 0;
    const r = await this.request({ t: 'tombstone', rows });
    if (!r.ok) throw new Error(r.error ?? 'delete failed');
    return r.count ?? 0;
  }

  // ---------------------------------------------------------------- reads

  /** Committed (or queued for this turn's commit) and not expired. */
  has(id: string): boolean {
    if (this.isPending(id)) return true;
    const idBuf = Buffer.from(id, 'hex');
    const idk = key48(idBuf);
    return this.ids.mayHave(idk) && this.stmt.has.get(idk, idBuf) !== undefined;
  }

  private cutoff(): number {
    return this.clock.now() - this.retentionMs;
  }

  private rowToMessage(row: Row): StoredMessage | undefined {
    if (!row.body) return undefined;
    return { seq: row.seq, id: row.id.toString('hex'), ...decodeBody(row.body), received_at: row.received_at };
  }

  /**
   * Up to `limit` live messages for `recipient` with seq > afterSeq, oldest
   * first; `more` says whether another page follows. Accepted messages not
   * yet committed come last (their seqs follow every committed one): they
   * were pushed on acceptance, and a client that fetches on a push, or a
   * subscriber's backlog, must find them.
   */
  page(recipient: string, afterSeq: number, limit: number): { messages: StoredMessage[]; more: boolean } {
    const committed = this.committedPage(recipient, afterSeq, limit);
    if (committed.more || this.queueDepth === 0) return committed;
    const out = committed.messages;
    const last = out.length ? out[out.length - 1]!.seq : afterSeq;
    const queued = this.uncommittedFor(recipient, last);
    const room = limit - out.length;
    for (let i = 0; i < queued.length && i < room; i++) out.push(queued[i]!);
    return { messages: out, more: queued.length > room };
  }

  private committedPage(recipient: string, afterSeq: number, limit: number): { messages: StoredMessage[]; more: boolean } {
    const rk = recipientKey(recipient);
    const der = Buffer.from(recipient, 'base64');
    const cutoff = this.cutoff();
    const out: StoredMessage[] = [];
    let after = afterSeq;
    for (;;) {
      // One statement per page (not one per row), rows as arrays; one row past
      // the page tells whether more follow; rows failing the checks are skipped and refilled.
      const want = limit + 1 - out.length;
      const rows = this.stmt.pageRows.all(rk, after, want) as [seq: number, receivedAt: number, id: string, body: Buffer | null][];
      for (const [seq, receivedAt, id, body] of rows) {
        after = seq;
        // Tombstone, expired, or another key whose 48-bit hash collides.
        if (!body || receivedAt <= cutoff || der.compare(body, 0, SPKI) !== 0) continue;
        if (out.length === limit) return { messages: out, more: true };
        // The recipient is the key asked for: no need to encode it again from the row.
        out.push({
          seq,
          id,
          recipient,
          signature: body.toString('base64', SPKI, SPKI + SIG),
          message: body.toString('base64', SPKI + SIG),
          received_at: receivedAt,
        });
      }
      if (rows.length < want) return { messages: out, more: false };
    }
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
      const idBuf = Buffer.from(id, 'hex');
      const row = this.stmt.byId.get(key48(idBuf), idBuf) as Row | undefined;
      if (!row) continue;
      const m = this.rowToMessage(row);
      if (m && m.received_at > cutoff) out.push(m);
    }
    return out;
  }

  /** Smallest seq whose receipt time is >= ms (Infinity when none): a binary search over the seq order. */
  private seqAtTime(ms: number): number {
    let lo = (this.stmt.firstRow.get() as number | undefined) ?? this.nextSeq;
    let hi = this.nextSeq; // exclusive: no row at or beyond
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const r = this.stmt.firstAtOrAfter.get(mid) as { seq: number; received_at: number } | undefined;
      if (!r) hi = mid;
      else if (r.received_at >= ms) hi = mid;
      else lo = r.seq + 1;
    }
    return lo;
  }

  /**
   * Ids first received in [fromMs, toMs), oldest first, at most `limit`,
   * continuing after `afterSeq` when paging. Includes tombstones (held but
   * deleted) so reconciliation counts them as present. For the mesh's catch-up.
   */
  idsByReceipt(fromMs: number, toMs: number, limit = 10_000, afterSeq = 0): IdEntry[] {
    const start = Math.max(this.seqAtTime(Math.max(fromMs, this.cutoff() + 1)), afterSeq + 1);
    const rows = this.stmt.idsFrom.all(start, limit) as { seq: number; id: Buffer; received_at: number; deleted: number }[];
    const out: IdEntry[] = [];
    for (const r of rows) {
      if (r.received_at >= toMs) break;
      out.push({ seq: r.seq, id: r.id.toString('hex'), received_at: r.received_at, deleted: r.deleted === 1 });
    }
    return out;
  }

  /** Live (not deleted) messages held. */
  count(): number {
    return this.live;
  }

  /** Payload bytes of live messages (binary, as stored). */
  storedBytes(): number {
    return this.bytes;
  }

  /** Highest seq handed out so far (committed or about to be). */
  highWater(): number {
    return this.nextSeq - 1;
  }

  // ---------------------------------------------------------------- expiry

  /**
   * Deletes up to `batch` of the oldest rows whose retention has passed.
   * Resolves with how many went; callers loop while a full batch was deleted.
   */
  async expireBatch(batch = 500): Promise<number> {
    const r = await this.request({ t: 'expire', cutoff: this.cutoff(), limit: batch });
    if (!r.ok) throw new Error(r.error ?? 'expiry failed');
    for (const k of r.keys ?? []) this.ids.delete(k);
    return r.count ?? 0;
  }

  /** Expires in bounded batches; requests keep flowing between them. Resolves with the rows removed. */
  async expire(): Promise<number> {
    if (this.expiring || this.closed) return 0;
    this.expiring = true;
    let total = 0;
    try {
      for (;;) {
        const n = await this.expireBatch(500);
        total += n;
        if (n < 500 || this.closed) break;
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

  /** Commits what is queued, checkpoints the WAL and closes the database. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    if (this.expiryTimer) clearInterval(this.expiryTimer);
    this.checkpointer.postMessage({ t: 'close' });
    await this.checkpointerDone;
    if (!this.broken) {
      const r = await this.request({ t: 'close' });
      if (!r.ok) this.log.warn({ error: r.error }, 'store writer did not close cleanly');
    }
    await this.writer.terminate();
    this.db.close();
  }
}

/** Where group commits run: the writer thread (sync full) or this thread (sync normal); see writer-core.js. */
interface WriterChannel {
  post(m: Record<string, unknown>, transfer: ArrayBuffer[]): void;
  terminate(): Promise<unknown>;
}

function threadWriter(path: string, walRestartFrames: number | undefined, onReply: (r: WriterReply) => void, onError: (err: Error) => void, closing: () => boolean): WriterChannel {
  const w = new Worker(new URL('./writer-worker.js', import.meta.url), { workerData: { path, sync: 'full', walRestartFrames } });
  w.on('message', onReply);
  w.on('error', onError);
  w.on('exit', (code) => {
    if (!closing()) onError(new Error(`store writer exited with ${code}`));
  });
  return { post: (m, transfer) => w.postMessage(m, transfer), terminate: () => w.terminate() };
}

/**
 * Commits in this thread. Replies are delivered on the next microtask, so a
 * caller sees the same order of events as with the thread: request, then reply.
 */
function inlineWriter(path: string, walRestartFrames: number | undefined, onReply: (r: WriterReply) => void): WriterChannel {
  const handle = openWriter(path, 'normal', walRestartFrames);
  return {
    post: (m) => {
      const r = { rid: m.rid as number, ...handle(m as unknown as WriterRequest) };
      queueMicrotask(() => onReply(r));
    },
    terminate: () => Promise.resolve(),
  };
}

interface WriterReply {
  rid: number;
  ok: boolean;
  error?: string;
  count?: number;
  /** Expiry: the idk of every row deleted. */
  keys?: number[];
  live: number;
  bytes: number;
}

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

export const storePath = (dataDir: string): string => join(dataDir, 'messages.db');
