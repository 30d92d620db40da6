// WAL checkpoints on their own connection and thread. In WAL mode a PASSIVE
// checkpoint runs alongside the writer's commits instead of in front of them,
// so copying WAL pages into the database never delays a group commit (it did,
// by 10-20 ms every 200 ms, when the writer thread checkpointed itself).
// Plain JS: worker threads do not inherit the tsx loader.
import Database from 'better-sqlite3';
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';

// Lowest CPU priority for this thread alone (on Linux a thread id is a valid
// setpriority target): copying pages can wait, while the threads answering
// and pushing cannot, and on a small machine they share the same cores.
try {
  setPriority(Number(readlinkSync('/proc/thread-self').split('/').pop()), 19);
} catch {
  // not Linux, or not allowed: same priority as the rest
}

/** @type {{ path: string, everyMs: number }} */
const opts = workerData;
const db = new Database(opts.path);
db.pragma('busy_timeout = 5000');
db.pragma('cache_size = -2000');
db.pragma('mmap_size = 0');

const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // busy: next tick
  }
}, opts.everyMs);

const port = /** @type {import('node:worker_threads').MessagePort} */ (parentPort);
port.on('message', (/** @type {{ t: string }} */ m) => {
  if (m.t !== 'close') return;
  clearInterval(timer);
  db.close();
  port.postMessage({ t: 'closed' });
  port.close();
});
