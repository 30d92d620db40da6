import type { ClientMessagePacket } from '$protocol/packets.ts';

/** A stored message as relays return it (GET /v1/messages and the subscription). */
export interface RelayMessage {
  id: string;
  packet: ClientMessagePacket;
  receivedAt?: string;
  cursor?: string;
}

type O = Record<string, unknown>;
const isObj = (v: unknown): v is O => typeof v === 'object' && v !== null && !Array.isArray(v);
const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Shape check of one stored message from a relay. The packet itself is only
 * trusted after the worker opens and verifies it; this just keeps garbage
 * (wrong types, huge strings) out of the pipeline.
 */
export function parseRelayMessage(v: unknown): RelayMessage | undefined {
  if (!isObj(v)) return undefined;
  const { id, recipient, message, signature } = v;
  if (typeof id !== 'string' || !HEX64.test(id)) return undefined;
  if (typeof recipient !== 'string' || recipient.length > 400) return undefined;
  if (typeof message !== 'string' || message.length > 90_000) return undefined;
  if (typeof signature !== 'string' || signature.length > 2000) return undefined;
  const out: RelayMessage = { id, packet: { recipient, message, signature } };
  if (typeof v.received_at === 'string' && v.received_at.length <= 40) out.receivedAt = v.received_at;
  if (typeof v.cursor === 'string' && v.cursor.length <= 64) out.cursor = v.cursor;
  return out;
}

export interface MessagePage {
  messages: RelayMessage[];
  cursor?: string;
  more: boolean;
  rejected: number;
}

export function parseMessagePage(v: unknown): MessagePage | undefined {
  if (!isObj(v) || !Array.isArray(v.messages)) return undefined;
  const messages: RelayMessage[] = [];
  let rejected = 0;
  for (const m of v.messages.slice(0, 1000)) {
    const p = parseRelayMessage(m);
    if (p) messages.push(p);
    else rejected++;
  }
  const out: MessagePage = { messages, more: v.more === true, rejected };
  if (typeof v.cursor === 'string' && v.cursor.length <= 64) out.cursor = v.cursor;
  return out;
}

export interface RelayStatus {
  id: string;
  publicKey: string;
  url?: string;
  version?: string;
  load: number;
  uptime?: number;
  peers?: number;
  /** UDP port of the relay's STUN server, for calls. */
  stunPort?: number;
  /** The relay hands out TURN credentials (GET /v1/turn). */
  turn?: boolean;
}

export function parseStatus(v: unknown): RelayStatus | undefined {
  if (!isObj(v) || typeof v.id !== 'string' || !HEX64.test(v.id)) return undefined;
  if (typeof v.public_key !== 'string' || v.public_key.length !== 392) return undefined;
  if (typeof v.load !== 'number' || !Number.isFinite(v.load)) return undefined;
  const out: RelayStatus = { id: v.id, publicKey: v.public_key, load: Math.min(1, Math.max(0, v.load)) };
  if (typeof v.url === 'string' && v.url.length <= 512) out.url = v.url;
  if (typeof v.version === 'string' && v.version.length <= 64) out.version = v.version;
  if (typeof v.uptime_s === 'number') out.uptime = v.uptime_s;
  if (typeof v.peers === 'number') out.peers = v.peers;
  else if (Array.isArray(v.peers)) out.peers = v.peers.length;
  const stunPort = isObj(v.stun) ? v.stun.port : undefined;
  if (typeof stunPort === 'number' && Number.isInteger(stunPort) && stunPort > 0 && stunPort < 65536) out.stunPort = stunPort;
  if (v.turn === true) out.turn = true;
  return out;
}

export function parseErrorBody(v: unknown): { code: string; message: string } | undefined {
  if (!isObj(v) || !isObj(v.error)) return undefined;
  const { code, message } = v.error;
  if (typeof code !== 'string' || code.length > 64) return undefined;
  return { code, message: typeof message === 'string' ? message.slice(0, 300) : code };
}
