import { base64DecodedLength, checkBase64, fromBase64, fromBase64Url, fromUtf8, toHex, utf8 } from './bytes.ts';
import { checkEnvelopeHeader } from './envelope.ts';
import { attempt, ProtocolError, type Result } from './errors.ts';
import { asObject, hex64, isHex64, onlyFields, optStr, relayUrl, str, timestamp, uuidV4 } from './fields.ts';
import { parsePublicKey } from './keys.ts';
import {
  b64Len,
  MAX_CONTENT_CHARS,
  MAX_KNOWN_SERVERS,
  MAX_MESSAGE_B64,
  MAX_NONCE_CHARS,
  MESSAGE_ENVELOPE_BYTES,
  MIN_NONCE_BYTES,
  SIGNATURE_BYTES,
  SIGNATURE_ENVELOPE_BYTES,
} from './limits.ts';

// ---------------------------------------------------------------- client message packet

/** The spec's POST body. `message` and `signature` are base64 sealed envelopes. */
export interface ClientMessagePacket {
  recipient: string;
  message: string;
  signature: string;
}

const MESSAGE_B64_LENGTHS = MESSAGE_ENVELOPE_BYTES.map(b64Len);
const SIGNATURE_B64_LENGTH = b64Len(SIGNATURE_ENVELOPE_BYTES);

/**
 * Checks a wire public key exactly as parsePublicKey does (same answers,
 * same errors). Pure JS by default; a relay passes a native one, since it
 * checks the recipient of every packet it receives.
 */
export type KeyChecker = (value: unknown, field: string) => void;
const checkKeyPure: KeyChecker = (value, field) => void parsePublicKey(value, field);

/**
 * A public-key field. parsePublicKey applies its own length cap, so a 4096-bit
 * key is reported as `key_size` rather than as an over-long string.
 */
function keyField(o: Record<string, unknown>, key: string, field: string, checkKey = checkKeyPure): string {
  if (o[key] === undefined) throw new ProtocolError('missing_field', `${field}: required`, field);
  checkKey(o[key], field);
  return o[key] as string;
}

/**
 * Checks canonical padded base64 and returns the first decoded byte; throws
 * ProtocolError `bad_base64` like fromBase64. Pure JS by default; a relay
 * passes a native one (same answers, a few times faster).
 */
export type Base64Checker = (s: string, field: string) => number;

function envelopeField(o: Record<string, unknown>, key: string, lengths: readonly number[], byteLengths: readonly number[], check: Base64Checker): string {
  const v = str(o, key, MAX_MESSAGE_B64, key);
  if (!lengths.includes(v.length))
    throw new ProtocolError('bad_bucket', `${key}: ${v.length} base64 characters is not a sealed envelope of a bucket size`, key);
  // Shape without decoding: relays never open envelopes, and this runs for every packet.
  const first = check(v, key);
  checkEnvelopeHeader(first, base64DecodedLength(v), byteLengths, key);
  return v;
}

/** Validates a client message packet as a relay receives it (shape only; relays hold no keys to open it). */
export function parseClientPacket(input: unknown, check: Base64Checker = checkBase64, checkKey: KeyChecker = checkKeyPure): ClientMessagePacket {
  const o = asObject(input, 'packet');
  onlyFields(o, ['recipient', 'message', 'signature'], 'packet');
  const recipient = keyField(o, 'recipient', 'recipient', checkKey);
  const message = envelopeField(o, 'message', MESSAGE_B64_LENGTHS, MESSAGE_ENVELOPE_BYTES, check);
  const signature = envelopeField(o, 'signature', [SIGNATURE_B64_LENGTH], [SIGNATURE_ENVELOPE_BYTES], check);
  return { recipient, message, signature };
}
export const validateClientPacket = (input: unknown): Result<ClientMessagePacket> => attempt(() => parseClientPacket(input));

/** The exact string whose SHA-256 (lowercase hex) is a packet's id. */
export const packetIdPreimage = (p: ClientMessagePacket): string => `${p.recipient}\n${p.message}\n${p.signature}`;

export async function packetId(p: ClientMessagePacket, sha256: (d: Uint8Array) => Promise<Uint8Array>): Promise<string> {
  return toHex(await sha256(utf8(packetIdPreimage(p))));
}

// ---------------------------------------------------------------- message plaintext

export const MESSAGE_KINDS = ['text', 'receipt', 'sync', 'call', 'cover', 'profile', 'canary'] as const;
export type MessageKind = (typeof MESSAGE_KINDS)[number];

/** What is inside the `message` envelope. Extra fields are allowed and carried through in `extra`. */
export interface MessagePlaintext {
  sender: string;
  content: string;
  uuid: string;
  timestamp: string;
  /** Absent means `text`. */
  kind?: MessageKind;
  extra?: Record<string, unknown>;
}

const KNOWN_PLAINTEXT_FIELDS = ['sender', 'content', 'uuid', 'timestamp', 'kind'];

export function parseMessagePlaintext(input: unknown): MessagePlaintext {
  const o = asObject(input, 'message');
  const sender = keyField(o, 'sender', 'message.sender');
  const content = str(o, 'content', MAX_CONTENT_CHARS, 'message.content');
  const uuid = uuidV4(o, 'uuid', 'message.uuid');
  const ts = timestamp(o, 'timestamp', 'message.timestamp', true).text;
  const kind = optStr(o, 'kind', 16, 'message.kind');
  if (kind !== undefined && !(MESSAGE_KINDS as readonly string[]).includes(kind))
    throw new ProtocolError('bad_plaintext', `message.kind: unknown kind "${kind}"`, 'message.kind');
  const out: MessagePlaintext = { sender, content, uuid, timestamp: ts };
  if (kind !== undefined) out.kind = kind as MessageKind;
  const extra: Record<string, unknown> = {};
  let any = false;
  for (const k of Object.keys(o))
    if (!KNOWN_PLAINTEXT_FIELDS.includes(k)) {
      extra[k] = o[k];
      any = true;
    }
  if (any) out.extra = extra;
  return out;
}

/** JSON for sealing: known fields first in a fixed order, then extras. */
export function messagePlaintextJson(m: MessagePlaintext): string {
  const o: Record<string, unknown> = { sender: m.sender, content: m.content, uuid: m.uuid, timestamp: m.timestamp };
  if (m.kind !== undefined) o.kind = m.kind;
  if (m.extra) for (const [k, v] of Object.entries(m.extra)) if (!KNOWN_PLAINTEXT_FIELDS.includes(k)) o[k] = v;
  return JSON.stringify(o);
}

// ---------------------------------------------------------------- signature plaintext

export function parseSignaturePlaintext(input: unknown): Uint8Array {
  const o = asObject(input, 'signature');
  onlyFields(o, ['signature'], 'signature');
  const s = str(o, 'signature', b64Len(SIGNATURE_BYTES), 'signature.signature');
  const bytes = fromBase64(s, 'signature.signature');
  if (bytes.length !== SIGNATURE_BYTES) throw new ProtocolError('bad_signature', 'signature: must be 256 bytes', 'signature.signature');
  return bytes;
}

// ---------------------------------------------------------------- retrieval packet

/** The spec's GET packet, made replay-proof with the relay id, a timestamp and a nonce. */
export interface RetrievalPacket {
  public_key: string;
  relay: string;
  timestamp: string;
  nonce: string;
  signature: string;
  /** Only on WebSocket subscriptions: resume after this cursor. */
  after?: string;
}

export const RETRIEVAL_PHRASE = 'I AM WHO I SAY I AM';
export const MAX_CURSOR_CHARS = 64;
export const MAX_RETRIEVAL_HEADER = 2048;

export function parseRetrievalPacket(input: unknown): RetrievalPacket & { timestampMs: number } {
  const o = asObject(input, 'retrieval');
  onlyFields(o, ['public_key', 'relay', 'timestamp', 'nonce', 'signature', 'after'], 'retrieval');
  const public_key = keyField(o, 'public_key', 'public_key');
  const relay = hex64(o, 'relay');
  const ts = timestamp(o, 'timestamp');
  const nonce = str(o, 'nonce', MAX_NONCE_CHARS);
  if (fromBase64Url(nonce, 'nonce').length < MIN_NONCE_BYTES)
    throw new ProtocolError('bad_nonce', `nonce: must carry at least ${MIN_NONCE_BYTES} random bytes`, 'nonce');
  const signature = str(o, 'signature', b64Len(SIGNATURE_BYTES));
  if (fromBase64(signature, 'signature').length !== SIGNATURE_BYTES)
    throw new ProtocolError('bad_signature', 'signature: must be 256 bytes', 'signature');
  const after = optStr(o, 'after', MAX_CURSOR_CHARS);
  const out: RetrievalPacket & { timestampMs: number } = { public_key, relay, timestamp: ts.text, nonce, signature, timestampMs: ts.ms };
  if (after !== undefined) out.after = after;
  return out;
}

/** Bytes the retrieval signature covers. */
export const retrievalSigningInput = (relay: string, ts: string, nonce: string): Uint8Array =>
  utf8(`${RETRIEVAL_PHRASE}\n${relay}\n${ts}\n${nonce}`);

/** Decodes the `X-Retrieval` header: base64url (no padding) of the packet's UTF-8 JSON. */
export function parseRetrievalHeader(header: string | undefined): RetrievalPacket & { timestampMs: number } {
  if (header === undefined || header === '') throw new ProtocolError('missing_field', 'X-Retrieval header required', 'X-Retrieval');
  if (header.length > MAX_RETRIEVAL_HEADER) throw new ProtocolError('too_large', 'X-Retrieval header too long', 'X-Retrieval');
  const text = fromUtf8(fromBase64Url(header, 'X-Retrieval'), 'X-Retrieval');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ProtocolError('bad_json', 'X-Retrieval: not JSON', 'X-Retrieval');
  }
  return parseRetrievalPacket(json);
}

// ---------------------------------------------------------------- relay descriptors and server lists

export interface RelayDescriptor {
  id: string;
  url: string;
  public_key: string;
  timestamp: string;
  signature: string;
}

export const descriptorSigningInput = (d: Omit<RelayDescriptor, 'signature'>): Uint8Array =>
  utf8(`RELAY\n${d.id}\n${d.url}\n${d.public_key}\n${d.timestamp}`);

export function parseDescriptor(input: unknown, field = 'descriptor'): RelayDescriptor & { timestampMs: number } {
  const o = asObject(input, field);
  onlyFields(o, ['id', 'url', 'public_key', 'timestamp', 'signature'], field);
  const id = hex64(o, 'id', `${field}.id`);
  if (o.url === undefined) throw new ProtocolError('missing_field', `${field}.url: required`, `${field}.url`);
  const url = relayUrl(o.url, `${field}.url`);
  const public_key = keyField(o, 'public_key', `${field}.public_key`);
  const ts = timestamp(o, 'timestamp', `${field}.timestamp`);
  const signature = str(o, 'signature', b64Len(SIGNATURE_BYTES), `${field}.signature`);
  if (base64DecodedLength(signature) !== SIGNATURE_BYTES || fromBase64(signature, `${field}.signature`).length !== SIGNATURE_BYTES)
    throw new ProtocolError('bad_signature', `${field}.signature: must be 256 bytes`, `${field}.signature`);
  return { id, url, public_key, timestamp: ts.text, signature, timestampMs: ts.ms };
}

export interface ServerListRequest {
  type: 'server_list_request';
  requester_id: string;
  timestamp: string;
}

export interface ServerListResponse {
  type: 'server_list_response';
  known_servers: string[];
  timestamp: string;
  servers: RelayDescriptor[];
}

export function parseServerListRequest(input: unknown): ServerListRequest {
  const o = asObject(input, 'request');
  onlyFields(o, ['type', 'requester_id', 'timestamp'], 'request');
  if (o.type !== 'server_list_request') throw new ProtocolError('bad_type', 'type: must be "server_list_request"', 'type');
  const requester_id = str(o, 'requester_id', 128);
  if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(requester_id))
    throw new ProtocolError('bad_id', 'requester_id: 1-128 characters of [A-Za-z0-9_.:-]', 'requester_id');
  return { type: 'server_list_request', requester_id, timestamp: timestamp(o, 'timestamp').text };
}

/**
 * Parses a server list response. Descriptors that fail shape checks are dropped
 * (reported in `rejected`), not fatal: one bad entry must not hide the rest.
 */
export function parseServerListResponse(input: unknown): { response: ServerListResponse; rejected: ProtocolError[] } {
  const o = asObject(input, 'response');
  onlyFields(o, ['type', 'known_servers', 'timestamp', 'servers'], 'response');
  if (o.type !== 'server_list_response') throw new ProtocolError('bad_type', 'type: must be "server_list_response"', 'type');
  const ts = timestamp(o, 'timestamp').text;
  const ks = o.known_servers;
  if (ks === undefined) throw new ProtocolError('missing_field', 'known_servers: required', 'known_servers');
  if (!Array.isArray(ks)) throw new ProtocolError('bad_type', 'known_servers: must be an array', 'known_servers');
  if (ks.length > MAX_KNOWN_SERVERS) throw new ProtocolError('too_large', `known_servers: more than ${MAX_KNOWN_SERVERS}`, 'known_servers');
  ks.forEach((id, i) => {
    if (!isHex64(id)) throw new ProtocolError('bad_hex', `known_servers[${i}]: must be a relay id`, `known_servers[${i}]`);
  });
  const raw = o.servers ?? [];
  if (!Array.isArray(raw)) throw new ProtocolError('bad_type', 'servers: must be an array', 'servers');
  if (raw.length > MAX_KNOWN_SERVERS) throw new ProtocolError('too_large', `servers: more than ${MAX_KNOWN_SERVERS}`, 'servers');
  const servers: RelayDescriptor[] = [];
  const rejected: ProtocolError[] = [];
  raw.forEach((d, i) => {
    const r = attempt(() => parseDescriptor(d, `servers[${i}]`));
    if (r.ok) {
      const { timestampMs: _t, ...desc } = r.value;
      servers.push(desc);
    } else rejected.push(r.error);
  });
  return { response: { type: 'server_list_response', known_servers: ks as string[], timestamp: ts, servers }, rejected };
}

// ---------------------------------------------------------------- signed_message (peer control frames)

export interface SignedMessage {
  type: 'signed_message';
  message: { content: string; timestamp: string };
  signature: string;
  public_key: string;
}

export const MAX_SIGNED_CONTENT = 16384;

export const signedMessageInput = (content: string, ts: string): Uint8Array => utf8(`signed_message\n${ts}\n${content}`);

export function parseSignedMessage(input: unknown): SignedMessage & { timestampMs: number } {
  const o = asObject(input, 'signed_message');
  onlyFields(o, ['type', 'message', 'signature', 'public_key'], 'signed_message');
  if (o.type !== 'signed_message') throw new ProtocolError('bad_type', 'type: must be "signed_message"', 'type');
  if (o.message === undefined) throw new ProtocolError('missing_field', 'message: required', 'message');
  const m = asObject(o.message, 'message');
  onlyFields(m, ['content', 'timestamp'], 'message');
  const content = str(m, 'content', MAX_SIGNED_CONTENT, 'message.content');
  const ts = timestamp(m, 'timestamp', 'message.timestamp');
  const public_key = keyField(o, 'public_key', 'public_key');
  const signature = str(o, 'signature', b64Len(SIGNATURE_BYTES));
  if (fromBase64(signature, 'signature').length !== SIGNATURE_BYTES)
    throw new ProtocolError('bad_signature', 'signature: must be 256 bytes', 'signature');
  return { type: 'signed_message', message: { content, timestamp: ts.text }, signature, public_key, timestampMs: ts.ms };
}
