// The subscriber side of the push-latency bench, in a process of its own, so
// the time a push arrives is not held up by the load generator's own work
// (posting 2k requests/s and reading their 202s keeps its event loop busy for
// 2-4 ms at p99). Moving it here did not change the relay's p99 (9-16 ms
// either way), so that tail is the relay's and the machine's, not the
// generator's. Send and receive times come from the same monotonic clock
// (process.hrtime), which both processes share. Plain JS: forked without the
// tsx loader. Protocol over IPC:
//   parent → { subscribe: { url, frames: string[], by?: 'id' } }   one socket per frame (a signed retrieval packet);
//                                                       by 'id': report each message by its id, not its tag
//   child  → { ready: true }                            once every socket got 'synced'
//   parent → { count: true }                            (optional, any number of times)
//   child  → { count: number }                          messages received so far
//   parent → { report: true }
//   child  → { received: [index or id, ms][], eldP99 }   then exits
import { monitorEventLoopDelay } from 'node:perf_hooks';
import WebSocket from 'ws';

/** The message index relay.bench.ts's packetFactory wrote into a packet's envelope. */
const tagOf = (/** @type {string} */ message) => parseInt(Buffer.from(message.slice(4, 12), 'base64').toString('hex'), 16);
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

/** @type {[number | string, number][]} */
const received = [];
/** @type {WebSocket[]} */
const sockets = [];
const eld = monitorEventLoopDelay({ resolution: 1 });

/** @typedef {{ subscribe?: { url: string, frames: string[], by?: 'id' }, count?: true, report?: true }} Command */
/** @param {unknown} m @param {() => void} [done] */
const send = (m, done) => {
  if (!process.send) throw new Error('push-receiver.js runs as a forked child (IPC)');
  process.send(m, undefined, undefined, done);
};

process.on('message', async (/** @type {Command} */ m) => {
  if (m.subscribe) {
    const { url, frames, by } = m.subscribe;
    for (const frame of frames) {
      const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/subscribe`);
      await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      await new Promise((resolve) => {
        ws.on('message', (d) => {
          const at = nowMs();
          const f = /** @type {{ type: string, messages?: { id: string, message: string }[] }} */ (JSON.parse(d.toString()));
          if (f.type === 'synced') resolve(undefined);
          for (const msg of f.messages ?? []) received.push([by === 'id' ? msg.id : tagOf(msg.message), at]);
        });
        ws.send(frame);
      });
      sockets.push(ws);
    }
    eld.enable();
    send({ ready: true });
  } else if (m.count) {
    send({ count: received.length });
  } else if (m.report) {
    eld.disable();
    for (const ws of sockets) ws.close();
    send({ received, eldP99: eld.percentile(99) / 1e6 }, () => process.exit(0));
  }
});
