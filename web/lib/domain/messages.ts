import { DELIVERY_ORDER, type Delivery, type MessageRecord } from '../db/records.ts';
import { cleanName } from './invite.ts';
import { UUID_RE as UUID } from '$protocol/fields.ts';

/**
 * Dedupe rule for a conversation: a (contact, uuid) pair is one message. A
 * second copy never changes who wrote it or what it says; delivery state only
 * moves forward (queued → sent → delivered → read), except that a failed send
 * may be retried.
 */
export function mergeMessage(
  existing: MessageRecord | undefined,
  incoming: MessageRecord,
): { record: MessageRecord; inserted: boolean; changed: boolean } {
  if (!existing) return { record: incoming, inserted: true, changed: true };
  if (existing.dir !== incoming.dir) return { record: existing, inserted: false, changed: false };
  const state = laterState(existing.state, incoming.state);
  if (state === existing.state) return { record: existing, inserted: false, changed: false };
  return { record: { ...existing, state }, inserted: false, changed: true };
}

export function laterState(a: Delivery, b: Delivery): Delivery {
  if (a === 'failed') return b;
  return DELIVERY_ORDER[b] > DELIVERY_ORDER[a] ? b : a;
}

/** Control kinds carried in the sealed plaintext (PROTOCOL.md lists them). */
export interface SyncExtra {
  /** The conversation partner's public key: the self-copy belongs to that chat. */
  to: string;
}

export function readSyncExtra(extra: Record<string, unknown> | undefined): SyncExtra | undefined {
  const to = extra?.to;
  return typeof to === 'string' && to.length === 392 ? { to } : undefined;
}

/** A read receipt's content: the uuids it acknowledges (bounded). */
export function readReceipt(extra: Record<string, unknown> | undefined): string[] {
  const ids = extra?.read;
  if (!Array.isArray(ids)) return [];
  return ids.slice(0, 100).filter((x): x is string => typeof x === 'string' && UUID.test(x));
}

/**
 * The display name a text message's sender gives for themselves (the extra
 * field `name`), cleaned like an invite's name; undefined when absent or
 * empty after cleaning. It is their claim, not a fact: it only labels someone
 * who wrote first and whom the user has not kept or named yet.
 */
export function claimedName(extra: Record<string, unknown> | undefined): string | undefined {
  const n = extra?.name;
  if (typeof n !== 'string' || n.length > 1000) return undefined;
  return cleanName(n) || undefined;
}

/** Groups messages by calendar day for the conversation view. */
export function dayLabel(ms: number, now = Date.now()): string {
  const d = new Date(ms);
  const today = new Date(now);
  const startOf = (x: Date) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime();
  const diff = Math.round((startOf(today) - startOf(d)) / 86_400_000);
  if (diff === 0) return 'Today';
  if (diff === 1) return 'Yesterday';
  return d.toLocaleDateString(undefined, { year: d.getFullYear() === today.getFullYear() ? undefined : 'numeric', month: 'short', day: 'numeric' });
}

/**
 * UUID v4 from getRandomValues: crypto.randomUUID only exists in secure
 * contexts, and the app must also run (on the node-forge engine) from a
 * plain-http LAN address.
 */
export function uuidV4(random: (n: number) => Uint8Array = (n) => crypto.getRandomValues(new Uint8Array(n))): string {
  const b = random(16);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
