// The push-latency benchmark's floors: bare uWS doing only the transport part
// of a relay's job (read the POST, parse it, push it to the subscribers of its
// recipient, answer 202), with no validation, dedupe or auth. With `--store
// <db path>` the 202 also waits for a durable commit, as the relay's does: a
// worker thread inserts each batch into SQLite (the relay's schema and
// indexes, WAL, synchronous=FULL: one fsync per commit) while the next batch
// gathers, and the push still goes out on arrival. No checkpoints (the WAL
// grows for the length of a run): the cheapest durable commit there is. The
// difference between the two rows is what durability costs this machine; the
// difference between `--store` and the relay is the relay's own code.
//
// Usage (from the bench): node push-floor.js <port> [--store <db path>]
import { createHash } from 'node:crypto';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import uWS from 'uWebSockets.js';

const SCHEMA = `CREATE TABLE IF NOT EXISTS messages (seq INTEGER PRIMARY KEY, idk INTEGER NOT NULL, rk INTEGER NOT NULL, received_at INTEGER NOT NULL, id BLOB NOT NULL, body BLOB);
  CREATE INDEX IF NOT EXISTS messages_idk ON messages(idk); CREATE INDEX IF NOT EXISTS messages_rk ON messages(rk, seq);`;

/** @typedef {{ id: Uint8Array, rk: number, at: number, body: Uint8Array }} Row */

if (!isMainThread) {
  // The commit thread: one transaction (one fsync) per batch it is handed.
  const db = new Database(/** @type {string} */ (workerData));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('wal_autocheckpoint = 0');
  db.exec(SCHEMA);
  const insert = db.prepare('INSERT INTO messages (idk, rk, received_at, id, body) VALUES (?, ?, ?, ?, ?)');
  const batch = db.transaction((/** @type {Row[]} */ rows) => {
    for (const r of rows) insert.run(Buffer.from(r.id).readUIntBE(0, 6), r.rk, r.at, r.id, r.body);
  });
  const port = /** @type {import('node:worker_threads').MessagePort} */ (parentPort);
  port.on('message', (/** @type {Row[]} */ rows) => {
    batch(rows);
    port.postMessage(rows.length);
  });
} else {
  const args = process.argv.slice(2);
  const storeAt = args.indexOf('--store');
  const dbPath = storeAt >= 0 ? args.splice(storeAt, 2)[1] : undefined;
  const port = Number(args[0]);

  /** @type {((row: Row, done: () => void) => void) | undefined} */
  let commit;
  if (dbPath) {
    const worker = new Worker(new URL(import.meta.url), { workerData: dbPath });
    /** @type {Row[]} */
    let gathering = [];
    /** @type {(() => void)[]} */
    let gatheringDone = [];
    /** @type {(() => void)[] | undefined} answered when the commit in flight lands */
    let inFlight;
    const flush = () => {
      if (inFlight || gathering.length === 0) return;
      worker.postMessage(gathering);
      inFlight = gatheringDone;
      gathering = [];
      gatheringDone = [];
    };
    worker.on('message', () => {
      const done = /** @type {(() => void)[]} */ (inFlight);
      inFlight = undefined;
      for (const d of done) d();
      flush();
    });
    commit = (row, done) => {
      if (gathering.length === 0) setImmediate(flush);
      gathering.push(row);
      gatheringDone.push(done);
    };
  }

  /** @type {Map<string, Set<import('uWebSockets.js').WebSocket<{ k?: string }>>>} */
  const subs = new Map();
  uWS
    .App()
    .ws('/v1/subscribe', {
      message: (ws, data) => {
        const k = JSON.parse(Buffer.from(data).toString()).public_key;
        ws.getUserData().k = k;
        if (!subs.has(k)) subs.set(k, new Set());
        subs.get(k)?.add(ws);
        ws.send('{"type":"synced","cursor":"0"}');
      },
      close: (ws) => subs.get(/** @type {string} */ (ws.getUserData().k))?.delete(ws),
    })
    .post('/v1/messages', (res) => {
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      /** @type {Buffer[]} */
      const chunks = [];
      res.onData((chunk, last) => {
        chunks.push(Buffer.from(chunk.slice(0)));
        if (!last || aborted) return;
        const body = Buffer.concat(chunks);
        const p = JSON.parse(body.toString());
        const frame = '{"type":"messages","messages":[' + JSON.stringify(p) + '],"cursor":"1"}';
        for (const ws of subs.get(p.recipient) ?? []) ws.cork(() => ws.send(frame));
        const answer = () => {
          if (!aborted) res.cork(() => res.writeStatus('202 Accepted').writeHeader('Content-Type', 'application/json').end('{"id":"0"}'));
        };
        if (!commit) return answer();
        // The row as the relay keeps it: the envelopes' bytes, keyed by a hash of the recipient.
        const row = Buffer.concat([Buffer.from(p.recipient, 'base64'), Buffer.from(p.signature, 'base64'), Buffer.from(p.message, 'base64')]);
        const rk = createHash('sha256').update(p.recipient).digest().readUIntBE(0, 6);
        commit({ id: createHash('sha256').update(body).digest(), rk, at: Date.now(), body: row }, answer);
      });
    })
    .get('/healthz', (res) => {
      res.end('ok');
    })
    .listen('127.0.0.1', port, (s) => {
      if (!s) process.exit(1);
    });
}
