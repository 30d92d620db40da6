import { openDB, type IDBPDatabase } from 'idb';
import { type AppDB, DB_NAME, DB_VERSION } from './schema.ts';

export type Db = IDBPDatabase<AppDB>;

let dbPromise: Promise<Db> | undefined;

/** The single place the app database is opened; migrations run by oldVersion. */
export function openAppDb(name = DB_NAME): Promise<Db> {
  if (name !== DB_NAME) return open(name);
  dbPromise ??= open(name);
  return dbPromise;
}

function open(name: string): Promise<Db> {
  return openDB<AppDB>(name, DB_VERSION, {
    upgrade(db, oldVersion) {
      if (oldVersion < 1) {
        db.createObjectStore('contacts', { keyPath: 'id' }).createIndex('by-last', 'lastMessageAt');
        db.createObjectStore('messages', { keyPath: ['contact', 'uuid'] }).createIndex('by-contact-time', ['contact', 'time']);
        db.createObjectStore('outbox', { keyPath: 'id' }).createIndex('by-next', 'nextAttemptAt');
        db.createObjectStore('servers', { keyPath: 'url' });
        db.createObjectStore('settings');
        db.createObjectStore('counters', { keyPath: 'name' });
        db.createObjectStore('seen', { keyPath: 'id' }).createIndex('by-at', 'at');
      }
    },
    blocked() {
      console.warn('meshchat: database upgrade waits for another tab to close');
    },
  });
}
