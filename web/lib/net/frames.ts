import { parseErrorBody, parseRelayMessage, type RelayMessage } from './wire.ts';

/**
 * Frames the relay sends on /v1/subscribe, parsed in this one place so a
 * change of the relay's framing touches nothing else. Accepted shapes:
 *   {"type":"message","message":{stored message},"cursor"?}
 *   {"type":"messages","messages":[…],"cursor"?}  (a backlog batch)
 *   {stored message fields at top level, "cursor"?}
 *   {"type":"ready"|"subscribed"|"backlog_end"|"caught_up", "cursor"?}
 *   {"type":"error"?, "error":{"code","message"}}
 */
export type Frame =
  | { kind: 'messages'; messages: RelayMessage[]; cursor?: string }
  | { kind: 'ready'; cursor?: string }
  | { kind: 'error'; code: string; message: string }
  | { kind: 'ignored' };

const MAX_FRAME = 4 * 1024 * 1024;

export function parseFrame(data: unknown): Frame {
  if (typeof data !== 'string' || data.length > MAX_FRAME) return { kind: 'ignored' };
  let v: unknown;
  try {
    v = JSON.parse(data);
  } catch {
    return { kind: 'ignored' };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { kind: 'ignored' };
  const o = v as Record<string, unknown>;
  const cursor = typeof o.cursor === 'string' && o.cursor.length <= 64 ? o.cursor : undefined;
  const err = parseErrorBody(o);
  if (err) return { kind: 'error', ...err };
  const withCursor = <T extends object>(f: T): T & { cursor?: string } => (cursor === undefined ? f : { ...f, cursor });
  if (o.type === 'message' && o.message && typeof o.message === 'object') {
    const m = parseRelayMessage(o.message);
    if (!m) return { kind: 'ignored' };
    return withCursor({ kind: 'messages' as const, messages: [m] });
  }
  if ((o.type === 'messages' || o.type === 'backlog' || o.type === undefined) && Array.isArray(o.messages)) {
    const ms = o.messages
      .slice(0, 1000)
      .map(parseRelayMessage)
      .filter((m): m is RelayMessage => m !== undefined);
    return withCursor({ kind: 'messages' as const, messages: ms });
  }
  if (typeof o.type === 'string' && ['ready', 'synced', 'subscribed', 'backlog_end', 'caught_up', 'live'].includes(o.type))
    return withCursor({ kind: 'ready' as const });
  const bare = parseRelayMessage(o);
  if (bare) return withCursor({ kind: 'messages' as const, messages: [bare] });
  return { kind: 'ignored' };
}

/** ws(s) URL of a relay's subscription endpoint. */
export function subscribeUrl(base: string): string {
  const u = new URL(base.replace(/\/+$/, '') + '/v1/subscribe');
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.toString();
}
