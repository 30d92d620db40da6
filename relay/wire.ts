import type { StoredMessage } from './store/store.ts';

/**
 * JSON of a message as clients receive it. Built by hand: every field is
 * hex, base64 or an ISO timestamp, none needs escaping, and pages of 500
 * messages are the hot read path.
 */
export const messageJson = (m: StoredMessage): string =>
  `{"id":"${m.id}","recipient":"${m.recipient}","message":"${m.message}","signature":"${m.signature}","received_at":"${new Date(m.received_at).toISOString()}"}`;

/** Cursor: the decimal seq of the last message returned. Opaque to clients; only ever compared by this relay. */
export const encodeCursor = (seq: number): string => String(seq);

const CURSOR_RE = /^(0|[1-9]\d{0,15})$/;
export function decodeCursor(text: string | undefined): number | undefined {
  if (text === undefined || text === '') return 0;
  if (!CURSOR_RE.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

export const pageJson = (messages: StoredMessage[], cursor: number, more: boolean): string =>
  `{"messages":[${messages.map(messageJson).join(',')}],"cursor":"${encodeCursor(cursor)}","more":${more}}`;
