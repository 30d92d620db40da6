/**
 * Record shapes stored in the app database, and their validators. IndexedDB
 * is untrusted input too (another tab, an old version, a hand edit): every
 * record read goes through one of these before the app uses it.
 */
import { UUID_RE as UUID } from '$protocol/fields.ts';
export type Delivery = 'queued' | 'sent' | 'delivered' | 'read' | 'failed';
export const DELIVERY_ORDER: Record<Delivery, number> = { failed: -1, queued: 0, sent: 1, delivered: 2, read: 3 };

export interface ContactRecord {
  /** Fingerprint of the contact's key: their address and our key for them. */
  id: string;
  name: string;
  publicKey: string;
  picture?: Blob;
  relays: string[];
  createdAt: number;
  updatedAt: number;
  /** Set when someone not in the contact list wrote to us first. */
  unknown?: boolean;
  unread: number;
  lastMessageAt?: number;
  lastPreview?: string;
}

export interface MessageRecord {
  contact: string;
  uuid: string;
  dir: 'in' | 'out';
  text: string;
  /** Sender's timestamp (ms). */
  time: number;
  /** When this device stored it (ms). */
  storedAt: number;
  state: Delivery;
  /** A call entry (web/lib/calls): `uuid` is the call id, `text` its summary. */
  call?: CallEntry;
}

export interface CallEntry {
  outcome: 'completed' | 'missed' | 'declined' | 'busy' | 'cancelled' | 'no-answer' | 'failed' | 'answered-elsewhere' | 'declined-elsewhere';
  /** Seconds connected (completed calls). */
  seconds?: number;
}

export interface OutboxRecord {
  /** Packet id (hex SHA-256); one row per packet, so the self-copy is retried on its own. */
  id: string;
  contact: string;
  uuid: string;
  role: 'message' | 'self';
  packet: { recipient: string; message: string; signature: string };
  createdAt: number;
  attempts: number;
  nextAttemptAt: number;
  lastError?: string;
}

export type ServerSource = 'origin' | 'bundled' | 'learned' | 'invite' | 'user';

export interface ServerRecord {
  url: string;
  /** Relay id (fingerprint of its key), learned from /v1/status or a descriptor. */
  id?: string;
  /** Pinned on first use; a different key later is a warning, not a silent update. */
  publicKey?: string;
  keyChanged?: boolean;
  source: ServerSource;
  load?: number;
  lastSeen?: number;
  failures: number;
  lastFailureAt?: number;
  version?: string;
  /** Drop detection: self-copies sent through this relay (as TX) that never came back, in a row. */
  misses?: number;
  /** Avoided as TX until then: it accepted packets that never reached our RX relay. */
  suspectUntil?: number;
}

export interface CounterRecord {
  name: string;
  value: number;
}

export interface SeenRecord {
  id: string;
  at: number;
}

// ------------------------------------------------------------------ validators

type O = Record<string, unknown>;
const isObj = (v: unknown): v is O => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown, max = 10_000): v is string => typeof v === 'string' && v.length <= max;
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const optNum = (v: unknown): boolean => v === undefined || isNum(v);
const HEX64 = /^[0-9a-f]{64}$/;
const DELIVERIES = Object.keys(DELIVERY_ORDER);

export function validContact(v: unknown): ContactRecord | undefined {
  if (!isObj(v)) return undefined;
  if (!isStr(v.id) || !HEX64.test(v.id) || !isStr(v.name, 64) || !isStr(v.publicKey, 400)) return undefined;
  if (!Array.isArray(v.relays) || v.relays.length > 8 || !v.relays.every((r) => isStr(r, 512))) return undefined;
  if (!isNum(v.createdAt) || !isNum(v.updatedAt) || !isNum(v.unread) || v.unread < 0) return undefined;
  if (v.picture !== undefined && !(typeof Blob !== 'undefined' && v.picture instanceof Blob)) return undefined;
  if (v.unknown !== undefined && typeof v.unknown !== 'boolean') return undefined;
  if (!optNum(v.lastMessageAt) || (v.lastPreview !== undefined && !isStr(v.lastPreview, 200))) return undefined;
  return v as unknown as ContactRecord;
}

export function validMessage(v: unknown): MessageRecord | undefined {
  if (!isObj(v)) return undefined;
  if (!isStr(v.contact) || !HEX64.test(v.contact) || !isStr(v.uuid) || !UUID.test(v.uuid)) return undefined;
  if (v.dir !== 'in' && v.dir !== 'out') return undefined;
  if (!isStr(v.text, 60_000) || !isNum(v.time) || !isNum(v.storedAt)) return undefined;
  if (!isStr(v.state) || !DELIVERIES.includes(v.state)) return undefined;
  if (v.call !== undefined && !validCallEntry(v.call)) return undefined;
  return v as unknown as MessageRecord;
}

export function validOutbox(v: unknown): OutboxRecord | undefined {
  if (!isObj(v)) return undefined;
  if (!isStr(v.id) || !HEX64.test(v.id) || !isStr(v.contact) || !HEX64.test(v.contact) || !isStr(v.uuid) || !UUID.test(v.uuid)) return undefined;
  if (v.role !== 'message' && v.role !== 'self') return undefined;
  const p = v.packet;
  if (!isObj(p) || !isStr(p.recipient, 400) || !isStr(p.message, 100_000) || !isStr(p.signature, 2000)) return undefined;
  if (!isNum(v.createdAt) || !isNum(v.attempts) || !isNum(v.nextAttemptAt)) return undefined;
  if (v.lastError !== undefined && !isStr(v.lastError, 500)) return undefined;
  return v as unknown as OutboxRecord;
}

const CALL_OUTCOMES: CallEntry['outcome'][] = ['completed', 'missed', 'declined', 'busy', 'cancelled', 'no-answer', 'failed', 'answered-elsewhere', 'declined-elsewhere'];
function validCallEntry(v: unknown): boolean {
  if (!isObj(v) || !CALL_OUTCOMES.includes(v.outcome as CallEntry['outcome'])) return false;
  return v.seconds === undefined || (isNum(v.seconds) && v.seconds >= 0);
}

const SOURCES: ServerSource[] = ['origin', 'bundled', 'learned', 'invite', 'user'];
export function validServer(v: unknown): ServerRecord | undefined {
  if (!isObj(v)) return undefined;
  if (!isStr(v.url, 512) || !/^https?:\/\//.test(v.url)) return undefined;
  if (v.id !== undefined && !(isStr(v.id) && HEX64.test(v.id))) return undefined;
  if (v.publicKey !== undefined && !isStr(v.publicKey, 400)) return undefined;
  if (!SOURCES.includes(v.source as ServerSource) || !isNum(v.failures)) return undefined;
  if (!optNum(v.load) || !optNum(v.lastSeen) || !optNum(v.lastFailureAt)) return undefined;
  if (v.keyChanged !== undefined && typeof v.keyChanged !== 'boolean') return undefined;
  if (v.version !== undefined && !isStr(v.version, 64)) return undefined;
  if (!optNum(v.misses) || !optNum(v.suspectUntil)) return undefined;
  return v as unknown as ServerRecord;
}

export function validCounter(v: unknown): CounterRecord | undefined {
  if (!isObj(v) || !isStr(v.name, 64) || !isNum(v.value)) return undefined;
  return v as unknown as CounterRecord;
}

/** Settings are a small typed map; each key has its own validator. */
export interface Settings {
  profile: { name: string; publicKey: string; fingerprint: string };
  /** Per RX relay id: the last cursor we have processed. */
  cursors: Record<string, string>;
  choice: { tx?: string; rx?: string; at: number };
  /** Calls: relay-only ICE through TURN, so the other side never learns our IP address. */
  calls: { hideAddress: boolean };
  /** Cover traffic level (domain/cover.ts COVER_LEVELS id). */
  cover: string;
  /** Plaintext buckets of our recent real POSTs, oldest first: the sizes fakes take (domain/cover.ts BucketMix). */
  coverBuckets: number[];
  /** Dual proxy wanted (used when enough relays are known). */
  proxy: boolean;
  /** System notifications while the app is in the background (domain/notify.ts). */
  notify: { enabled: boolean; preview: boolean };
}

export const settingValidators: { [K in keyof Settings]: (v: unknown) => Settings[K] | undefined } = {
  profile(v) {
    if (!isObj(v) || !isStr(v.name, 64) || !isStr(v.publicKey, 400) || !isStr(v.fingerprint) || !HEX64.test(v.fingerprint)) return undefined;
    return { name: v.name, publicKey: v.publicKey, fingerprint: v.fingerprint };
  },
  cursors(v) {
    if (!isObj(v)) return undefined;
    const out: Record<string, string> = {};
    for (const [k, c] of Object.entries(v)) if (HEX64.test(k) && isStr(c, 64)) out[k] = c;
    return out;
  },
  choice(v) {
    if (!isObj(v) || !isNum(v.at)) return undefined;
    const out: Settings['choice'] = { at: v.at };
    if (isStr(v.tx, 512)) out.tx = v.tx;
    if (isStr(v.rx, 512)) out.rx = v.rx;
    return out;
  },
  cover(v) {
    return isStr(v, 16) && /^[a-z]+$/.test(v) ? v : undefined;
  },
  coverBuckets(v) {
    // Sizes themselves are checked where they are used (BucketMix.add ignores non-buckets).
    return Array.isArray(v) && v.length <= 64 && v.every((b) => Number.isInteger(b)) ? (v as number[]) : undefined;
  },
  proxy(v) {
    return typeof v === 'boolean' ? v : undefined;
  },
  calls(v) {
    if (!isObj(v) || typeof v.hideAddress !== 'boolean') return undefined;
    return { hideAddress: v.hideAddress };
  },
  notify(v) {
    if (!isObj(v) || typeof v.enabled !== 'boolean' || typeof v.preview !== 'boolean') return undefined;
    return { enabled: v.enabled, preview: v.preview };
  },
};
