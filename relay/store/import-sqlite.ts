/**
 * Reads the message store of versions before the log (one SQLite file,
 * relay/store until session 18) so an upgraded relay keeps what it held.
 * better-sqlite3 is loaded only when such a file exists.
 */
import { createRequire } from 'node:module';
import { rmSync } from 'node:fs';
import * as P from '../../protocol/index.ts';
import { FLAG_DELETED, HEADER, recipientHash, TYPE_MESSAGE, writeHeader } from './segment-log.ts';

/** Records are handed over in buffers of about this size. */
const CHUNK_BYTES = 4 * 1024 * 1024;

interface LegacyRow {
  seq: number;
  received_at: number;
  id: Buffer;
  body: Buffer | null;
}

/**
 * Calls `append(records)` with the old rows as log records, in seq
 * order; rows deleted by their recipient (no body) become records held
 * deleted. Returns the old high-water seq and a function that deletes the
 * old files (call it once the records are safely written).
 */
export function importSqlite(path: string, append: (records: Buffer) => void): { rows: number; highWater: number; remove: () => void } {
  const Database = createRequire(import.meta.url)('better-sqlite3') as typeof import('better-sqlite3');
  const db = new Database(path, { readonly: true, fileMustExist: true });
  let rows = 0;
  let highWater = 0;
  try {
    highWater = (db.prepare('SELECT high_water FROM meta WHERE k = 0').pluck().get() as number | undefined) ?? 0;
    let parts: { row: LegacyRow; len: number }[] = [];
    let size = 0;
    const flush = (): void => {
      if (parts.length === 0) return;
      const buf = Buffer.allocUnsafe(size);
      let off = 0;
      for (const { row, len } of parts) {
        if (row.body) row.body.copy(buf, off + HEADER);
        const rk = row.body && row.body.length >= P.SPKI_BYTES ? recipientHash(row.body.subarray(0, P.SPKI_BYTES)) : 0;
        writeHeader(buf, off, { type: TYPE_MESSAGE, flags: row.body ? 0 : FLAG_DELETED, len, seq: row.seq, at: row.received_at, id: row.id, rk });
        off += HEADER + len;
      }
      append(buf);
      parts = [];
      size = 0;
    };
    for (const row of db.prepare('SELECT seq, received_at, id, body FROM messages ORDER BY seq').iterate() as IterableIterator<LegacyRow>) {
      if (row.id.length !== 32) continue;
      const len = row.body?.length ?? 0;
      parts.push({ row, len });
      size += HEADER + len;
      rows++;
      if (size >= CHUNK_BYTES) flush();
    }
    flush();
  } finally {
    db.close();
  }
  return { rows, highWater, remove: () => { for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true }); } };
}
