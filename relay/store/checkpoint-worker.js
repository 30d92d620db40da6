// Checkpoints the message store's WAL off the main thread: the main
// connection runs with wal_autocheckpoint=0, so copying WAL pages into the
// database and fsyncing it never delays a request. PASSIVE never blocks the
// writer; readers are short, so the WAL restarts from its start after each
// complete checkpoint (journal_size_limit then trims the file).
import Database from 'better-sqlite3';
import { workerData } from 'node:worker_threads';

/** @type {{ path: string, intervalMs?: number, minPages?: number }} */
const opts = workerData;
const db = new Database(opts.path);
db.pragma('busy_timeout = 1000');
const every = opts.intervalMs ?? 250;
const minPages = opts.minPages ?? 256;

let pagesInWal = 0;
function tick() {
  try {
    // wal_checkpoint returns [{busy, log, checkpointed}]; log = frames in the WAL.
    const r = /** @type {{ busy: number, log: number, checkpointed: number }[]} */ (db.pragma('wal_checkpoint(PASSIVE)'));
    pagesInWal = r[0]?.log ?? 0;
  } catch {
    // SQLITE_BUSY and friends: try again next tick.
  }
  setTimeout(tick, pagesInWal > minPages * 8 ? 20 : every);
}
tick();
