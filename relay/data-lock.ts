import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';

export const LOCK_FILE = 'relay.lock';

/** Another live process holds the data folder. */
export class DataFolderInUse extends Error {
  override readonly name = 'DataFolderInUse';
  readonly code = 'data_folder_in_use';
}

export interface DataLock {
  release(): void;
}

/**
 * Claims the data folder for this process. Two relays on one folder would
 * both hand out sequence numbers from the same high-water mark and answer
 * for each other's messages, so the second one must refuse to start.
 *
 * The lock is SQLite's own file lock (POSIX fcntl) on `relay.lock`, held
 * for the life of the connection by `locking_mode = EXCLUSIVE`: the kernel
 * drops it when the process dies, even by SIGKILL, so a crash never leaves
 * a stale lock behind the way a pid file would.
 */
export function lockDataFolder(dataDir: string): DataLock {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, LOCK_FILE);
  const db = new Database(file, { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    // The first write takes the exclusive lock; EXCLUSIVE mode keeps it after the commit.
    db.exec('CREATE TABLE IF NOT EXISTS holder (k INTEGER PRIMARY KEY, pid INTEGER NOT NULL, since INTEGER NOT NULL)');
    db.prepare('INSERT OR REPLACE INTO holder (k, pid, since) VALUES (0, ?, ?)').run(process.pid, Date.now());
  } catch (e) {
    db.close();
    if ((e as { code?: string }).code === 'SQLITE_BUSY') throw new DataFolderInUse(`data folder ${dataDir} is in use by another relay (${file} is locked); stop that relay or pass a different --data`);
    throw e;
  }
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      db.close();
    },
  };
}
