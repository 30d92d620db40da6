import type { MessageRecord } from '../db/records.ts';
import { dayLabel } from '../domain/messages.ts';
import type { AppState } from './app.svelte.ts';

export interface DayGroup {
  label: string;
  messages: MessageRecord[];
}

export const MAX_MESSAGE_CHARS = 10_000;

/** One open conversation: its messages (from IndexedDB), sending, read state. */
export class Conversation {
  messages = $state<MessageRecord[]>([]);
  loaded = $state(false);
  sending = $state(false);
  error = $state('');

  groups = $derived.by(() => {
    const out: DayGroup[] = [];
    for (const m of this.messages) {
      const label = dayLabel(m.time);
      const last = out.at(-1);
      if (last && last.label === label) last.messages.push(m);
      else out.push({ label, messages: [m] });
    }
    return out;
  });

  constructor(
    private readonly app: AppState,
    readonly contactId: string,
  ) {}

  get contact() {
    return this.app.contact(this.contactId);
  }

  async load(): Promise<void> {
    this.messages = await this.app.store.messages(this.contactId);
    this.loaded = true;
    await this.#acknowledge();
  }

  async send(text: string): Promise<boolean> {
    const body = text.replace(/\s+$/, '');
    if (!body.trim()) return false;
    if (body.length > MAX_MESSAGE_CHARS) {
      this.error = `Messages are limited to ${MAX_MESSAGE_CHARS.toLocaleString()} characters.`;
      return false;
    }
    const c = this.contact;
    if (!c) return false;
    this.sending = true;
    this.error = '';
    try {
      await this.app.messenger.send(c, body);
      await this.load();
      return true;
    } catch (e) {
      this.error = e instanceof Error ? e.message : String(e);
      return false;
    } finally {
      this.sending = false;
    }
  }

  /** Opening the chat reads it: clear the badge and tell the sender (read receipt). */
  async #acknowledge(): Promise<void> {
    const c = this.contact;
    if (!c || c.unread === 0 || document.visibilityState !== 'visible') return;
    const incoming = this.messages.filter((m) => m.dir === 'in').slice(-c.unread);
    await this.app.store.markRead(c.id);
    this.app.contacts = this.app.contacts.map((x) => (x.id === c.id ? { ...x, unread: 0 } : x));
    if (!c.unknown) void this.app.messenger.sendReceipt(c, incoming.map((m) => m.uuid)).catch(() => {});
    void this.app.syncRead(c);
  }
}
