// A process that does nothing but wake every 5 ms and note when it could not:
// on this VM the whole machine stops now and then (docs/performance.md,
// session 18), and every message sent then waits it out. The mesh bench
// reports what this process saw beside the latencies. Plain JS, IPC only.
import { performance } from 'node:perf_hooks';

/** Gaps longer than this are stalls (ms): several times the timer period, well above this process's own work. */
const STALL_MS = 10;
/** @type {[number, number][]} [epoch ms when the stall began, its length in ms] */
let stalls = [];
let last = performance.now();
setInterval(() => {
  const now = performance.now();
  if (now - last > STALL_MS) stalls.push([performance.timeOrigin + last, now - last]);
  last = now;
}, 5);

process.on('message', (/** @type {{ start?: true, report?: true }} */ m) => {
  if (m.start) stalls = [];
  if (m.report) process.send?.({ stalls });
});
process.send?.({ ready: true });
