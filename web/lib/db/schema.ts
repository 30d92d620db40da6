import type { DBSchema } from 'idb';
import type { ContactRecord, CounterRecord, MessageRecord, OutboxRecord, SeenRecord, ServerRecord } from './records.ts';

/** The one schema of the app database. Bump DB_VERSION and add a step in db.ts to change it. */
export interface AppDB extends DBSchema {
  contacts: { key: string; value: ContactRecord; indexes: { 'by-last': number } };
  messages: { key: [string, string]; value: MessageRecord; indexes: { 'by-contact-time': [string, number] } };
  outbox: { key: string; value: OutboxRecord; indexes: { 'by-next': number } };
  servers: { key: string; value: ServerRecord };
  settings: { key: string; value: unknown };
  counters: { key: string; value: CounterRecord };
  seen: { key: string; value: SeenRecord; indexes: { 'by-at': number } };
}

export const DB_NAME = 'meshchat';
export const DB_VERSION = 1;
