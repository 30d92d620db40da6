import { concat, fromBase64, toBase64 } from './bytes.ts';
import type { CryptoEngine, PrivateKeyHandle, PublicKeyHandle } from './crypto/engine.ts';
import { checkEnvelopeShape, openBytes, padJson, sealBytes, unpadJson } from './envelope.ts';
import { ProtocolError } from './errors.ts';
import { asObject, hex64, onlyFields, optStr, str } from './fields.ts';
import { AES_KEY_BYTES, b64Len, ENVELOPE_OVERHEAD, IV_BYTES, TAG_BYTES } from './limits.ts';
import { MAX_RETRIEVAL_HEADER } from './packets.ts';

/**
 * Dual-proxy forwarding (see PROTOCOL.md "Forwarding through a proxy relay").
 * The client seals a request to the destination relay's key and hands it to a
 * proxy relay; the proxy sees only {to, envelope}; the destination opens it,
 * runs it as if it came directly, and seals the answer with the one-time
 * `reply_key` the client put inside, so only the client can read it.
 */

/** Request plaintext buckets: few and coarse, so sizes say little about what is inside. */
export const FORWARD_REQUEST_BUCKETS = [2048, 8192, 32768, 131072] as const;
/** Response plaintext buckets. The last bounds a page fetched through a proxy. */
export const FORWARD_RESPONSE_BUCKETS = [2048, 8192, 32768, 131072, 524288, 2097152] as const;
export const FORWARD_RESPONSE_VERSION = 0x02;
export const MAX_FORWARD_BODY = b64Len(FORWARD_REQUEST_BUCKETS[3] + ENVELOPE_OVERHEAD) + 256;

export type ForwardMethod = 'GET' | 'POST' | 'DELETE';

/** The only requests a destination will run on a proxied client's behalf. */
const ALLOWED: Record<ForwardMethod, RegExp> = {
  GET: /^\/v1\/(messages(\?[A-Za-z0-9=&_.-]{0,100})?|status|servers)$/,
  POST: /^\/v1\/messages$/,
  DELETE: /^\/v1\/messages$/,
};

export interface ForwardRequest {
  method: ForwardMethod;
  path: string;
  /** X-Retrieval header value, for GET/DELETE /v1/messages. */
  retrieval?: string;
  /** JSON body, for POST/DELETE. */
  body?: unknown;
}

/** What travels from client to proxy and proxy to destination. */
export interface ForwardPacket {
  to: string;
  envelope: string;
}

const REQUEST_ENVELOPE_BYTES = FORWARD_REQUEST_BUCKETS.map((b) => b + ENVELOPE_OVERHEAD);
const REQUEST_ENVELOPE_B64 = REQUEST_ENVELOPE_BYTES.map(b64Len);

export function parseForwardPacket(input: unknown): ForwardPacket {
  const o = asObject(input, 'forward');
  onlyFields(o, ['to', 'envelope'], 'forward');
  const to = hex64(o, 'to');
  const envelope = str(o, 'envelope', MAX_FORWARD_BODY);
  if (!REQUEST_ENVELOPE_B64.includes(envelope.length))
    throw new ProtocolError('bad_bucket', 'envelope: not a forward request bucket size', 'envelope');
  checkEnvelopeShape(fromBase64(envelope, 'envelope'), REQUEST_ENVELOPE_BYTES, 'envelope');
  return { to, envelope };
}

function pad(json: string, buckets: readonly number[]): Uint8Array {
  const n = new TextEncoder().encode(json).length;
  const size = buckets.find((b) => b >= n);
  if (size === undefined) throw new ProtocolError('plaintext_too_large', `forwarded JSON of ${n} bytes is too large`);
  return padJson(json, size);
}

/** Client side: seals `req` to the destination relay. Keep `replyKey` to open the answer. */
export async function sealForwardRequest(
  engine: CryptoEngine,
  destination: { id: string; key: PublicKeyHandle },
  req: ForwardRequest,
): Promise<{ packet: ForwardPacket; replyKey: Uint8Array }> {
  checkForwardRequest(req);
  const replyKey = engine.randomBytes(AES_KEY_BYTES);
  const inner: Record<string, unknown> = { method: req.method, path: req.path, reply_key: toBase64(replyKey) };
  if (req.retrieval !== undefined) inner.retrieval = req.retrieval;
  if (req.body !== undefined) inner.body = req.body;
  const env = await sealBytes(engine, destination.key, pad(JSON.stringify(inner), FORWARD_REQUEST_BUCKETS));
  return { packet: { to: destination.id, envelope: toBase64(env) }, replyKey };
}

function checkForwardRequest(req: ForwardRequest): void {
  const re = ALLOWED[req.method];
  if (!re || !re.test(req.path)) throw new ProtocolError('unsupported', `cannot forward ${String(req.method).slice(0, 8)} ${String(req.path).slice(0, 60)}`, 'path');
}

/** Destination side: opens a forward packet addressed to this relay. */
export async function openForwardRequest(
  engine: CryptoEngine,
  me: { id: string; privateKey: PrivateKeyHandle },
  packet: ForwardPacket,
): Promise<ForwardRequest & { replyKey: Uint8Array }> {
  if (packet.to !== me.id) throw new ProtocolError('wrong_relay', 'forward packet is for another relay', 'to');
  const plain = await openBytes(engine, me.privateKey, fromBase64(packet.envelope, 'envelope'), 'envelope');
  if (!(FORWARD_REQUEST_BUCKETS as readonly number[]).includes(plain.length))
    throw new ProtocolError('bad_padding', 'forwarded request is not a bucket size', 'envelope');
  const o = asObject(unpadJson(plain, 'envelope', plain.length), 'request');
  onlyFields(o, ['method', 'path', 'retrieval', 'body', 'reply_key'], 'request');
  const method = str(o, 'method', 8, 'request.method') as ForwardMethod;
  const path = str(o, 'path', 128, 'request.path');
  const retrieval = optStr(o, 'retrieval', MAX_RETRIEVAL_HEADER, 'request.retrieval');
  const replyKey = fromBase64(str(o, 'reply_key', 44, 'request.reply_key'), 'request.reply_key');
  if (replyKey.length !== AES_KEY_BYTES) throw new ProtocolError('bad_type', 'request.reply_key: 32 bytes', 'request.reply_key');
  const req: ForwardRequest = { method, path };
  if (retrieval !== undefined) req.retrieval = retrieval;
  if (o.body !== undefined) req.body = o.body;
  checkForwardRequest(req);
  return { ...req, replyKey };
}

/** Destination side: 0x02 || iv (12) || AES-256-GCM(reply_key, iv, padded {"status","body"}) || tag, base64. */
export async function sealForwardResponse(engine: CryptoEngine, replyKey: Uint8Array, status: number, body: unknown): Promise<{ envelope: string }> {
  const iv = engine.randomBytes(IV_BYTES);
  const ct = await engine.aesGcmEncrypt(replyKey, iv, pad(JSON.stringify({ status, body }), FORWARD_RESPONSE_BUCKETS));
  return { envelope: toBase64(concat(new Uint8Array([FORWARD_RESPONSE_VERSION]), iv, ct)) };
}

/** Client side: opens the destination's answer. */
export async function openForwardResponse(engine: CryptoEngine, replyKey: Uint8Array, input: unknown): Promise<{ status: number; body: unknown }> {
  const o = asObject(input, 'response');
  onlyFields(o, ['envelope'], 'response');
  const bytes = fromBase64(str(o, 'envelope', b64Len(FORWARD_RESPONSE_BUCKETS[5] + 29), 'response.envelope'), 'response.envelope');
  if (bytes.length < 1 + IV_BYTES + TAG_BYTES || bytes[0] !== FORWARD_RESPONSE_VERSION)
    throw new ProtocolError('bad_envelope', 'response.envelope: not a forward response', 'response.envelope');
  let plain: Uint8Array;
  try {
    plain = await engine.aesGcmDecrypt(replyKey, bytes.subarray(1, 1 + IV_BYTES), bytes.subarray(1 + IV_BYTES));
  } catch {
    throw new ProtocolError('decrypt_failed', 'response.envelope: tag does not verify', 'response.envelope');
  }
  if (!(FORWARD_RESPONSE_BUCKETS as readonly number[]).includes(plain.length))
    throw new ProtocolError('bad_padding', 'forward response is not a bucket size', 'response.envelope');
  const r = asObject(unpadJson(plain, 'response', plain.length), 'response');
  if (typeof r.status !== 'number' || !Number.isInteger(r.status) || r.status < 100 || r.status > 599)
    throw new ProtocolError('bad_type', 'response.status: an HTTP status', 'response.status');
  return { status: r.status, body: r.body };
}
