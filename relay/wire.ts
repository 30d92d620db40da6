import type { StoredMessage } from './store/store.ts';

/**
 * JSON of a message as clients receive it. Built by hand: every field is
 * hex, base64 or an ISO timestamp, none needs escaping, and pages of 500
 * messages are the hot read path.
 */
export const messageJson = (m: StoredMessage): string =>
  `{"id":"${m.id}","recipient":"${m.recipient}","message":"${m.message}","signature":"${m.signature}","received_at":"${isoTime(m.received_at)}"}`;

// Messages received in the same millisecond share a receipt time, so a page repeats it run after run.
let lastMs = NaN;
let lastIso = '';
function isoTime(ms: number): string {
  if (ms !== lastMs) {
    lastIso = new Date(ms).toISOString();
    lastMs = ms;
  }
  return lastIso;
}

/** Cursor: the decimal seq of the last message returned. Opaque to clients; only ever compared by this relay. */
export const encodeCursor = (seq: number): string => String(seq);

const CURSOR_RE = /^(0|[1-9]\d{0,15})$/;
export function decodeCursor(text: string | undefined): number | undefined {
  if (text === undefined || text === '') return 0;
  if (!CURSOR_RE.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** A subscription frame carrying messages (backlog pages and live pushes). */
export const messagesFrame = (messages: readonly StoredMessage[], cursor: number): string =>
  `{"type":"messages","messages":[${messages.map(messageJson).join(',')}],"cursor":"${encodeCursor(cursor)}"}`;

/** A page's JSON as parts (one per message) for Exchange.sendParts; joined, they are the page. */
export function pageJsonParts(messages: StoredMessage[], cursor: number, more: boolean): string[] {
  const parts = new Array<string>(messages.length + 2);
  parts[0] = '{"messages":[';
  for (let i = 0; i < messages.length; i++) parts[i + 1] = i ? `,${messageJson(messages[i]!)}` : messageJson(messages[i]!);
  parts[messages.length + 1] = `],"cursor":"${encodeCursor(cursor)}","more":${more}}`;
  return parts;
}
