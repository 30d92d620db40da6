import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import type { KeyStore, StoredIdentity } from './key-store.ts';

/** The worker's own database, separate from the app's: only the worker opens it. */
interface KeysDB extends DBSchema {
  keys: { key: string; value: StoredIdentity };
}

const NAME = 'meshchat-keys';
const KEY = 'identity';

export class IdbKeyStore implements KeyStore {
  #db: Promise<IDBPDatabase<KeysDB>> | undefined;
  #open(): Promise<IDBPDatabase<KeysDB>> {
    this.#db ??= openDB<KeysDB>(NAME, 1, {
      upgrade(db, oldVersion) {
        if (oldVersion < 1) db.createObjectStore('keys');
      },
    });
    return this.#db;
  }
  async load(): Promise<unknown> {
    return (await this.#open()).get('keys', KEY);
  }
  async save(rec: StoredIdentity): Promise<void> {
    await (await this.#open()).put('keys', rec, KEY);
  }
  async clear(): Promise<void> {
    await (await this.#open()).delete('keys', KEY);
  }
}
