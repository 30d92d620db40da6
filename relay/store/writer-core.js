// The store's write side: group commits, tombstones, expiry deletes, all on
// one connection. It runs on its own thread (writer-worker.js) when commits
// fsync (synchronous=FULL), so the fsync never blocks the event loop; with
// synchronous=NORMAL a commit is a few page writes, cheaper than the two
// cross-thread wake-ups a worker costs per batch, so MessageStore runs it in
// the main thread instead. Plain JS: worker threads do not inherit the tsx loader.
import Database from 'better-sqlite3';

/**
 * @typedef {{ ok: boolean, error?: string, count?: number, keys?: number[], live: number, bytes: number }} WriterResult
 * @typedef {{ t: 'insert', n: number, buf: ArrayBuffer } | { t: 'tombstone', rows: { seq: number, n: number }[] } | { t: 'expire', cutoff: number, limit: number } | { t: 'close' }} WriterRequest
 */

/**
 * Opens the write connection.
 * @param {string} path
 * @param {'full' | 'normal'} sync
 * @param {number} [walRestartFrames] WAL size past which this connection checkpoints after its commits (see below)
 * @returns {(m: WriterRequest) => WriterResult} handles one request; never throws.
 */
export function openWriter(path, sync, walRestartFrames = 16384) {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${sync === 'normal' ? 'NORMAL' : 'FULL'}`);
  db.pragma('busy_timeout = 5000');
  db.pragma('cache_size = -8000');
  db.pragma('mmap_size = 0');
  db.pragma('journal_size_limit = 67108864');
  // checkpoint-worker.js checkpoints, on its own connection and thread, so
  // copying pages does not hold up commits. But its PASSIVE checkpoints never
  // rewind the WAL: only a writer does, when its next transaction finds the
  // log fully checkpointed, and under continuous writes a commit always lands
  // in between, so the WAL grew without bound (~40 MB/s at 2,000
  // messages/s). Past 64 MB this connection checkpoints (PASSIVE, never
  // waiting) after its own commit: nothing commits in between, so its next
  // transaction starts the log over and journal_size_limit trims the file.
  // Usually the checkpointer has copied nearly everything already.
  db.pragma(`wal_autocheckpoint = ${walRestartFrames}`);

  const meta = /** @type {{ high_water: number, live: number, bytes: number }} */ (db.prepare('SELECT high_water, live, bytes FROM meta WHERE k = 0').get());
  let live = meta.live;
  let bytes = meta.bytes;
  let highWater = meta.high_water;
  const setMeta = db.prepare('UPDATE meta SET high_water = ?, live = ?, bytes = ? WHERE k = 0');
  const insert = db.prepare('INSERT INTO messages (seq, idk, rk, received_at, id, body) VALUES (?, ?, ?, ?, ?, ?)');
  const tombstone = db.prepare('UPDATE messages SET body = NULL WHERE seq = ? AND body IS NOT NULL');
  const oldest = db.prepare('SELECT seq, received_at, idk, length(body) AS n FROM messages ORDER BY seq LIMIT ?');
  const deleteUpTo = db.prepare('DELETE FROM messages WHERE seq <= ?');

  /**
   * One group commit. `buf` is laid out by MessageStore.dispatch: [seq f64 × n]
   * [received_at f64 × n][idk f64 × n][rk f64 × n][body length u32 × n][id 32 B × n][bodies].
   * @param {{ n: number, buf: ArrayBuffer }} b
   */
  const insertBatch = db.transaction((b) => {
    const { n, buf } = b;
    const seqs = new Float64Array(buf, 0, n);
    const times = new Float64Array(buf, 8 * n, n);
    const idk = new Float64Array(buf, 16 * n, n);
    const rk = new Float64Array(buf, 24 * n, n);
    const lengths = new Uint32Array(buf, 32 * n, n);
    let off = 68 * n;
    let added = 0;
    for (let i = 0; i < n; i++) {
      const len = /** @type {number} */ (lengths[i]);
      const id = Buffer.from(buf, 36 * n + 32 * i, 32);
      const body = Buffer.from(buf, off, len);
      insert.run(seqs[i], idk[i], rk[i], times[i], id, body);
      off += len;
      added += len;
    }
    highWater = Math.max(highWater, /** @type {number} */ (seqs[n - 1]));
    setMeta.run(highWater, live + n, bytes + added);
    live += n;
    bytes += added;
  });

  /** @param {{ seq: number, n: number }[]} rows */
  const tombstoneRows = db.transaction((rows) => {
    let count = 0;
    let freed = 0;
    for (const r of rows) {
      if (tombstone.run(r.seq).changes === 1) {
        count++;
        freed += r.n;
      }
    }
    if (count) {
      setMeta.run(highWater, live - count, bytes - freed);
      live -= count;
      bytes -= freed;
    }
    return count;
  });

  /**
   * Deletes up to `limit` of the oldest rows received at or before `cutoff`.
   * Returns the id keys (idk) of the rows deleted, for the store's id index.
   */
  function expire(/** @type {number} */ cutoff, /** @type {number} */ limit) {
    const rows = /** @type {{ seq: number, received_at: number, idk: number, n: number | null }[]} */ (oldest.all(limit));
    let last = -1;
    let gone = 0;
    let freed = 0;
    /** @type {number[]} */
    const keys = [];
    for (const r of rows) {
      if (r.received_at > cutoff) break;
      last = r.seq;
      keys.push(r.idk);
      if (r.n !== null) {
        gone++;
        freed += r.n;
      }
    }
    if (last >= 0)
      db.transaction(() => {
        deleteUpTo.run(last);
        setMeta.run(highWater, live - gone, bytes - freed);
      })();
    live -= gone;
    bytes -= freed;
    return keys;
  }

  return (m) => {
    /** @type {Omit<WriterResult, 'live' | 'bytes'>} */
    let reply;
    try {
      switch (m.t) {
        case 'insert':
          insertBatch(m);
          reply = { ok: true };
          break;
        case 'tombstone':
          reply = { ok: true, count: tombstoneRows(m.rows) };
          break;
        case 'expire': {
          const keys = expire(m.cutoff, m.limit);
          reply = { ok: true, count: keys.length, keys };
          break;
        }
        case 'close':
          db.pragma('wal_checkpoint(TRUNCATE)');
          db.close();
          reply = { ok: true };
          break;
        default:
          reply = { ok: false, error: `unknown request ${/** @type {any} */ (m).t}` };
      }
    } catch (err) {
      reply = { ok: false, error: err instanceof Error ? err.message : String(err) };
    }
    return { live, bytes, ...reply };
  };
}
