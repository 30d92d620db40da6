// The mesh benchmark's floor: what this machine costs for the same traffic
// through processes that do only the unavoidable part of a relay's hop. One
// process per relay, same loopback topology and client protocol as the real
// relays: POST /v1/messages at the first, WebSocket /v1/subscribe at the last,
// uWS for everything accepted and `ws` for links dialed, exactly like
// relay/mesh, and the relays' binary msg frames. Each hop: SHA-256 of the
// frame body for the id, dedupe in a Set, forward the same bytes down the
// eager tree (what plumtree converges to: one payload per relay), push to
// subscribers. With `--store`, every packet is also committed to SQLite (WAL,
// synchronous=NORMAL, one transaction per event-loop turn, the relay's schema
// and indexes, no checkpoints): the floor of a relay that keeps what it
// forwards. No validation, no metrics, no plumtree bookkeeping.
//
// With `--log`, every packet is appended to a file instead (one write per
// turn, no index): the floor of a log-structured store.
//
// Usage (from the bench): node mesh-floor.js <index> <port> <child port>... [--store <db path> | --log <file>]
// Prints "ready" once its links are open.
import { createHash } from 'node:crypto';
import { openSync, writeSync } from 'node:fs';
import Database from 'better-sqlite3';
import uWS from 'uWebSockets.js';
import WebSocket from 'ws';

const args = process.argv.slice(2);
const storeAt = args.indexOf('--store');
const dbPath = storeAt >= 0 ? args.splice(storeAt, 2)[1] : undefined;
const logAt = args.indexOf('--log');
const logPath = logAt >= 0 ? args.splice(logAt, 2)[1] : undefined;
const [port, ...children] = args.slice(1).map(Number);

/** @typedef {{ recipient: string, message: string, signature: string }} Packet */
/** @type {Set<string>} */
const seen = new Set();
/** @type {WebSocket[]} */
const links = [];
/** @type {Set<import('uWebSockets.js').WebSocket<unknown>>} */
const subscribers = new Set();

/** @type {((id: Buffer, p: Packet) => void) | undefined} */
let commit;
if (dbPath) {
  const db = new Database(dbPath);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  // No checkpoints at all (the WAL just grows for the length of a run): the
  // cheapest a commit can be. The relay checkpoints on a thread of its own.
  db.pragma('wal_autocheckpoint = 0');
  db.exec(`CREATE TABLE IF NOT EXISTS messages (seq INTEGER PRIMARY KEY, idk INTEGER NOT NULL, rk INTEGER NOT NULL, received_at INTEGER NOT NULL, id BLOB NOT NULL, body BLOB);
    CREATE INDEX IF NOT EXISTS messages_idk ON messages(idk); CREATE INDEX IF NOT EXISTS messages_rk ON messages(rk, seq);`);
  const insert = db.prepare('INSERT INTO messages (idk, rk, received_at, id, body) VALUES (?, ?, ?, ?, ?)');
  const batch = db.transaction((/** @type {{ id: Buffer, rk: number, at: number, body: Buffer }[]} */ rows) => {
    for (const r of rows) insert.run(r.id.readUIntBE(0, 6), r.rk, r.at, r.id, r.body);
  });
  /** @type {{ id: Buffer, rk: number, at: number, body: Buffer }[]} */
  let queued = [];
  commit = (id, p) => {
    const body = Buffer.concat([Buffer.from(p.recipient, 'base64'), Buffer.from(p.signature, 'base64'), Buffer.from(p.message, 'base64')]);
    if (queued.length === 0) setImmediate(() => {
      batch(queued);
      queued = [];
    });
    queued.push({ id, rk: createHash('sha256').update(p.recipient).digest().readUIntBE(0, 6), at: Date.now(), body });
  };
}

if (logPath) {
  // The other storage floor: an append-only log, one write(2) per event-loop
  // turn (no fsync, as WAL under synchronous=NORMAL), no index at all. What a
  // log-structured store could cost on the hop.
  const fd = openSync(logPath, 'a');
  /** @type {Buffer[]} */
  let queued = [];
  commit = (id, p) => {
    if (queued.length === 0) setImmediate(() => {
      writeSync(fd, Buffer.concat(queued));
      queued = [];
    });
    queued.push(id, Buffer.from(p.recipient, 'base64'), Buffer.from(p.signature, 'base64'), Buffer.from(p.message, 'base64'));
  };
}

/**
 * The packet's fields from a binary msg frame (PROTOCOL.md §9.1).
 * @param {Buffer} frame
 * @returns {Packet}
 */
function fields(frame) {
  const a = frame.indexOf(10, 2);
  const b = frame.indexOf(10, a + 1);
  return { recipient: frame.toString('latin1', 2, a), message: frame.toString('latin1', a + 1, b), signature: frame.toString('latin1', b + 1) };
}

/**
 * One hop: returns the id, or undefined for a packet already seen.
 * @param {Buffer} frame a binary msg frame, as the relays send them
 * @param {unknown} from the link it came on
 */
function hop(frame, from) {
  const id = createHash('sha256').update(frame.subarray(2)).digest();
  const hex = id.toString('hex');
  if (seen.has(hex)) return undefined;
  seen.add(hex);
  const p = commit || subscribers.size ? fields(frame) : undefined;
  if (p) commit?.(id, p);
  for (const l of links) if (l !== from) l.send(frame);
  if (p && subscribers.size) {
    const push = JSON.stringify({ type: 'messages', messages: [{ id: hex, ...p, received_at: Date.now() }] });
    for (const s of subscribers) s.send(push, false);
  }
  return hex;
}

/** @param {Packet} p */
function frameOf(p) {
  return Buffer.concat([Buffer.from([1, 15]), Buffer.from(`${p.recipient}\n${p.message}\n${p.signature}`, 'latin1')]);
}

uWS
  .App()
  .post('/v1/messages', (res) => {
    let aborted = false;
    res.onAborted(() => (aborted = true));
    /** @type {Buffer[]} */
    const parts = [];
    res.onData((chunk, last) => {
      parts.push(Buffer.from(chunk));
      if (!last || aborted) return;
      const id = hop(frameOf(JSON.parse(Buffer.concat(parts).toString('utf8'))), undefined);
      res.cork(() => res.writeStatus(id ? '202 Accepted' : '200 OK').writeHeader('Content-Type', 'application/json').end(JSON.stringify({ id })));
    });
  })
  .ws('/v1/peer', { maxPayloadLength: 256 * 1024, idleTimeout: 120, message: (ws, data) => void hop(Buffer.from(new Uint8Array(data)), ws) })
  .ws('/v1/subscribe', {
    idleTimeout: 120,
    message: (ws) => {
      // The retrieval packet is not checked: the floor only times delivery.
      if (!subscribers.has(ws)) ws.send(JSON.stringify({ type: 'synced' }), false);
      subscribers.add(ws);
    },
    close: (ws) => subscribers.delete(ws),
  })
  .listen('127.0.0.1', port ?? 0, async (ok) => {
    if (!ok) throw new Error(`floor relay: port ${port} is taken`);
    for (const c of children) {
      const ws = new WebSocket(`ws://127.0.0.1:${c}/v1/peer`, { perMessageDeflate: false });
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      links.push(ws);
    }
    console.log('ready');
  });
