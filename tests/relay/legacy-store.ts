// Writes a message store as relays before the log kept it (SQLite, relay/store/store.ts until session 18), for the import tests.
import Database from 'better-sqlite3';
import type * as P from '../../protocol/index.ts';
import { packetIdOf } from '../../relay/ingest.ts';

/** Rows 1..n for `ps` (seq i + 1, received at `at` + i), row index `deleted` a tombstone (no body). */
export function writeLegacyStore(path: string, ps: P.ClientMessagePacket[], at: number, highWater: number, deleted: number): void {
  const db = new Database(path);
  db.exec(`CREATE TABLE messages (seq INTEGER PRIMARY KEY, idk INTEGER NOT NULL, rk INTEGER NOT NULL, received_at INTEGER NOT NULL, id BLOB NOT NULL, body BLOB);
    CREATE TABLE meta (k INTEGER PRIMARY KEY CHECK (k = 0), high_water INTEGER NOT NULL, live INTEGER NOT NULL, bytes INTEGER NOT NULL);`);
  db.prepare('INSERT INTO meta VALUES (0, ?, ?, 0)').run(highWater, ps.length - 1);
  const insert = db.prepare('INSERT INTO messages VALUES (?, 0, 0, ?, ?, ?)');
  ps.forEach((p, i) => {
    const body = Buffer.concat([Buffer.from(p.recipient, 'base64'), Buffer.from(p.signature, 'base64'), Buffer.from(p.message, 'base64')]);
    insert.run(i + 1, at + i, Buffer.from(packetIdOf(p), 'hex'), i === deleted ? null : body);
  });
  db.close();
}
