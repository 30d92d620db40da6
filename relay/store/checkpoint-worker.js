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

/** @type {{ path: string, everyMs: number, writes: Int32Array }} */
const opts = workerData;
const db = new Database(opts.path);
db.pragma('busy_timeout = 5000');
db.pragma('cache_size = -2000');
db.pragma('mmap_size = 0');

// The write count last seen with the WAL fully checkpointed: nothing to do until it moves.
let clean = -1;
const timer = setInterval(() => {
  const writes = Atomics.load(opts.writes, 0);
  if (writes === clean) return;
  try {
    const [r] = /** @type {{ busy: number, log: number, checkpointed: number }[]} */ (db.pragma('wal_checkpoint(PASSIVE)'));
    // A reader can hold frames back; then try again next tick even if idle.
    if (r && r.log === r.checkpointed) clean = writes;
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
