import { openAppDb, type Db } from './db.ts';
import {
  type ContactRecord,
  type MessageRecord,
  type OutboxRecord,
  type ServerRecord,
  type Settings,
  settingValidators,
  validContact,
  validCounter,
  validMessage,
  validOutbox,
  validServer,
} from './records.ts';
import { mergeMessage } from '../domain/messages.ts';

const keep = <T>(xs: unknown[], valid: (v: unknown) => T | undefined): T[] => {
  const out: T[] = [];
  for (const x of xs) {
    const v = valid(x);
    if (v) out.push(v);
  }
  return out;
};

/**
 * Every IndexedDB operation the app performs. Components and state classes
 * call these; nothing else imports idb.
 */
export class AppStore {
  readonly #db: Promise<Db>;
  constructor(db: Promise<Db> = openAppDb()) {
    this.#db = db;
  }

  // ---------------------------------------------------------- settings
  async getSetting<K extends keyof Settings>(key: K): Promise<Settings[K] | undefined> {
    return settingValidators[key](await (await this.#db).get('settings', key));
  }
  async setSetting<K extends keyof Settings>(key: K, value: Settings[K]): Promise<void> {
    await (await this.#db).put('settings', value, key);
  }

  // ---------------------------------------------------------- counters
  async bump(name: string, by = 1): Promise<number> {
    const db = await this.#db;
    const tx = db.transaction('counters', 'readwrite');
    const cur = validCounter(await tx.store.get(name))?.value ?? 0;
    await tx.store.put({ name, value: cur + by });
    await tx.done;
    return cur + by;
  }
  async counters(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const c of keep(await (await this.#db).getAll('counters'), validCounter)) out[c.name] = c.value;
    return out;
  }

  // ---------------------------------------------------------- contacts
  async contacts(): Promise<ContactRecord[]> {
    return keep(await (await this.#db).getAll('contacts'), validContact);
  }
  async contact(id: string): Promise<ContactRecord | undefined> {
    return validContact(await (await this.#db).get('contacts', id));
  }
  async putContact(c: ContactRecord): Promise<void> {
    if (!validContact(c)) throw new Error('invalid contact record');
    await (await this.#db).put('contacts', c);
  }
  async updateContact(id: string, patch: (c: ContactRecord) => ContactRecord | undefined): Promise<ContactRecord | undefined> {
    const db = await this.#db;
    const tx = db.transaction('contacts', 'readwrite');
    const cur = validContact(await tx.store.get(id));
    if (!cur) {
      await tx.done;
      return undefined;
    }
    const next = patch(cur);
    if (next) await tx.store.put(next);
    await tx.done;
    return next;
  }
  /** Removes a contact with its conversation and anything still queued for it. */
  async deleteContact(id: string): Promise<void> {
    const db = await this.#db;
    const tx = db.transaction(['contacts', 'messages', 'outbox'], 'readwrite');
    await tx.objectStore('contacts').delete(id);
    const range = IDBKeyRange.bound([id, -Infinity], [id, Infinity]);
    let cur = await tx.objectStore('messages').index('by-contact-time').openCursor(range);
    while (cur) {
      await cur.delete();
      cur = await cur.continue();
    }
    let oc = await tx.objectStore('outbox').openCursor();
    while (oc) {
      if (oc.value.contact === id) await oc.delete();
      oc = await oc.continue();
    }
    await tx.done;
  }

  // ---------------------------------------------------------- messages
  async messages(contact: string, limit = 500): Promise<MessageRecord[]> {
    const db = await this.#db;
    const range = IDBKeyRange.bound([contact, -Infinity], [contact, Infinity]);
    const out: unknown[] = [];
    let cur = await db.transaction('messages').store.index('by-contact-time').openCursor(range, 'prev');
    while (cur && out.length < limit) {
      out.push(cur.value);
      cur = await cur.continue();
    }
    return keep(out.reverse(), validMessage);
  }

  /**
   * Stores a message, deduplicated by (contact, uuid); an existing record only
   * moves forward in delivery state. Returns what changed so callers update
   * counts and previews once.
   */
  async upsertMessage(m: MessageRecord): Promise<{ inserted: boolean; record: MessageRecord }> {
    const db = await this.#db;
    const tx = db.transaction(['messages', 'contacts'], 'readwrite');
    const ms = tx.objectStore('messages');
    const existing = validMessage(await ms.get([m.contact, m.uuid]));
    const merged = mergeMessage(existing, m);
    if (merged.changed) await ms.put(merged.record);
    if (merged.inserted) {
      const cs = tx.objectStore('contacts');
      const c = validContact(await cs.get(m.contact));
      if (c) {
        if (c.lastMessageAt === undefined || m.time >= c.lastMessageAt) {
          c.lastMessageAt = m.time;
          c.lastPreview = m.text.slice(0, 120);
        }
        if (m.dir === 'in') c.unread += 1;
        await cs.put(c);
      }
    }
    await tx.done;
    return { inserted: merged.inserted, record: merged.record };
  }

  async setDelivery(contact: string, uuid: string, state: MessageRecord['state']): Promise<boolean> {
    const db = await this.#db;
    const tx = db.transaction('messages', 'readwrite');
    const cur = validMessage(await tx.store.get([contact, uuid]));
    if (!cur) {
      await tx.done;
      return false;
    }
    const merged = mergeMessage(cur, { ...cur, state });
    if (merged.changed) await tx.store.put(merged.record);
    await tx.done;
    return merged.changed;
  }

  async markRead(contact: string): Promise<void> {
    await this.updateContact(contact, (c) => (c.unread === 0 ? undefined : { ...c, unread: 0 }));
  }

  // ---------------------------------------------------------- outbox
  async outbox(): Promise<OutboxRecord[]> {
    return keep(await (await this.#db).getAllFromIndex('outbox', 'by-next'), validOutbox);
  }
  async putOutbox(rows: OutboxRecord[]): Promise<void> {
    const db = await this.#db;
    const tx = db.transaction('outbox', 'readwrite');
    for (const r of rows) await tx.store.put(r);
    await tx.done;
  }
  async deleteOutbox(id: string): Promise<void> {
    await (await this.#db).delete('outbox', id);
  }

  // ---------------------------------------------------------- servers
  async servers(): Promise<ServerRecord[]> {
    return keep(await (await this.#db).getAll('servers'), validServer);
  }
  async putServer(s: ServerRecord): Promise<void> {
    if (!validServer(s)) throw new Error('invalid server record');
    await (await this.#db).put('servers', s);
  }
  async updateServer(url: string, patch: (s: ServerRecord | undefined) => ServerRecord | undefined): Promise<void> {
    const db = await this.#db;
    const tx = db.transaction('servers', 'readwrite');
    const next = patch(validServer(await tx.store.get(url)));
    if (next && validServer(next)) await tx.store.put(next);
    await tx.done;
  }
  async deleteServer(url: string): Promise<void> {
    await (await this.#db).delete('servers', url);
  }

  // ---------------------------------------------------------- seen packet ids
  /** True when the packet id was new (and is now recorded). */
  async markSeen(id: string, now: number): Promise<boolean> {
    const db = await this.#db;
    const tx = db.transaction('seen', 'readwrite');
    const had = await tx.store.getKey(id);
    if (had === undefined) await tx.store.put({ id, at: now });
    await tx.done;
    return had === undefined;
  }
  async hasSeen(id: string): Promise<boolean> {
    return (await (await this.#db).getKey('seen', id)) !== undefined;
  }
  /** Relays keep messages 7 days; ids older than that can never come back. */
  async pruneSeen(olderThan: number): Promise<void> {
    const db = await this.#db;
    const tx = db.transaction('seen', 'readwrite');
    let cur = await tx.store.index('by-at').openCursor(IDBKeyRange.upperBound(olderThan));
    while (cur) {
      await cur.delete();
      cur = await cur.continue();
    }
    await tx.done;
  }

  /** Wipes everything (log out). */
  async clearAll(): Promise<void> {
    const db = await this.#db;
    const names = ['contacts', 'messages', 'outbox', 'servers', 'settings', 'counters', 'seen'] as const;
    const tx = db.transaction(names, 'readwrite');
    await Promise.all(names.map((n) => tx.objectStore(n).clear()));
    await tx.done;
  }
}
