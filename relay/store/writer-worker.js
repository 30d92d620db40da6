// The store's writer thread (see writer-core.js): used when group commits
// fsync, so the fsync never blocks the event loop, and batches grow by
// themselves while a commit is in flight (classic group commit). WAL
// checkpoints run on a third thread (checkpoint-worker.js): a checkpoint
// copies megabytes and would hold up every commit behind it.
import { parentPort, workerData } from 'node:worker_threads';
import { openWriter } from './writer-core.js';

/** @type {{ path: string, sync: 'full' | 'normal', walRestartFrames?: number }} */
const opts = workerData;
const handle = openWriter(opts.path, opts.sync, opts.walRestartFrames);
const port = /** @type {import('node:worker_threads').MessagePort} */ (parentPort);
port.on('message', (/** @type {any} */ m) => {
  port.postMessage({ rid: m.rid, ...handle(m) });
  if (m.t === 'close') port.close();
});
