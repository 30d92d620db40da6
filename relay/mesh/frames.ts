import * as P from '../../protocol/index.ts';

/**
 * Peer frames (PROTOCOL.md §9): control frames are one JSON object per
 * WebSocket text frame, discriminated by `type`, and go through parseFrame
 * before anything else looks at them. Payloads are binary `msg` frames
 * (encodeMsgFrame, msgFrameTtl, msgFramePacket): a two-byte header and then
 * the packet's id preimage itself, so a relay hashes the frame's bytes for
 * the id and checks it has not seen it before anything is parsed or decoded;
 * the client packet is then validated by the Ingestor exactly like a POST.
 */

/** 2: payloads travel as binary `msg` frames (1 sent them as JSON text). */
export const MESH_VERSION = 2;
/** Largest frame either side sends or accepts: one 64 KiB-bucket packet plus framing, or a full summary. */
export const MAX_FRAME_BYTES = 256 * 1024;
/** Ids in one ihave / iwant / graft / ids frame. */
export const MAX_IDS = 1024;
/** Hops a payload may travel; dedupe stops loops first, this stops a buggy or hostile relay's loops. */
export const MAX_TTL = 16;
/** Prefixes in one summary or id-list request. */
export const MAX_PREFIXES = 64;
/** Catch-up prefix depth in bytes (hex digits / 2). */
export const MAX_PREFIX_BYTES = 3;
export const SUMMARY_FANOUT = 256;

export type Frame =
  | { type: 'hello'; version: number; id: string; challenge: string }
  | { type: 'auth'; proof: unknown; descriptor: unknown }
  | { type: 'ihave'; ttl: number; ids: string[] }
  | { type: 'iwant'; ids: string[] }
  | { type: 'graft'; ids: string[] }
  | { type: 'prune' }
  | { type: 'sum_req'; prefixes: string[] }
  | { type: 'sum'; prefix: string; counts: number[]; hashes: string[] }
  | { type: 'ids_req'; prefixes: string[] }
  | { type: 'ids'; prefix: string; ids: string[]; done: boolean }
  | { type: 'server_list_request'; raw: unknown }
  | { type: 'server_list_response'; raw: unknown };

const bad = (code: P.ErrorCode, msg: string, field?: string): never => {
  throw new P.ProtocolError(code, msg, field);
};

function ids(o: Record<string, unknown>, key = 'ids'): string[] {
  const v = o[key];
  if (!Array.isArray(v)) bad('bad_type', `${key}: must be an array`, key);
  const a = v as unknown[];
  if (a.length > MAX_IDS) bad('too_large', `${key}: at most ${MAX_IDS}`, key);
  for (const id of a) if (!P.isHex64(id)) bad('bad_hex', `${key}: must hold packet ids`, key);
  return a as string[];
}

function ttl(o: Record<string, unknown>): number {
  const t = o.ttl;
  if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t > MAX_TTL) bad('bad_type', `ttl: an integer 0..${MAX_TTL}`, 'ttl');
  return t as number;
}

const PREFIX_RE = /^(?:[0-9a-f]{2}){0,3}$/;
function prefix(v: unknown, field: string): string {
  if (typeof v !== 'string' || !PREFIX_RE.test(v)) bad('bad_hex', `${field}: 0-${MAX_PREFIX_BYTES} bytes of lowercase hex`, field);
  return v as string;
}

function prefixes(o: Record<string, unknown>): string[] {
  const v = o.prefixes;
  if (!Array.isArray(v)) bad('bad_type', 'prefixes: must be an array', 'prefixes');
  const a = v as unknown[];
  if (a.length === 0 || a.length > MAX_PREFIXES) bad('too_large', `prefixes: 1-${MAX_PREFIXES}`, 'prefixes');
  return a.map((p, i) => prefix(p, `prefixes[${i}]`));
}

const HASH_RE = /^[0-9a-f]{32}$/;

/** Parses one peer frame (already JSON-decoded). Throws ProtocolError on anything off-spec. */
export function parseFrame(input: unknown): Frame {
  const o = P.asObject(input, 'frame');
  const type = o.type;
  switch (type) {
    case 'hello': {
      P.onlyFields(o, ['type', 'version', 'id', 'challenge'], 'hello');
      if (o.version !== MESH_VERSION) bad('unsupported', `hello.version: only ${MESH_VERSION}`, 'version');
      const id = P.hex64(o, 'id');
      const challenge = P.str(o, 'challenge', 64);
      if (P.fromBase64Url(challenge, 'challenge').length !== 32) bad('bad_base64', 'challenge: 32 bytes of base64url', 'challenge');
      return { type, version: MESH_VERSION, id, challenge };
    }
    case 'auth':
      P.onlyFields(o, ['type', 'proof', 'descriptor'], 'auth');
      return { type, proof: o.proof, descriptor: o.descriptor };
    case 'ihave':
      P.onlyFields(o, ['type', 'ttl', 'ids'], 'ihave');
      return { type, ttl: ttl(o), ids: ids(o) };
    case 'iwant':
    case 'graft':
      P.onlyFields(o, ['type', 'ids'], type);
      return { type, ids: ids(o) };
    case 'prune':
      P.onlyFields(o, ['type'], 'prune');
      return { type };
    case 'sum_req':
      P.onlyFields(o, ['type', 'prefixes'], type);
      return { type, prefixes: prefixes(o) };
    case 'ids_req': {
      P.onlyFields(o, ['type', 'prefixes'], type);
      const ps = prefixes(o);
      // The empty prefix is summarised, never listed: listing it would ask for every id the relay holds.
      if (ps.includes('')) bad('bad_hex', 'prefixes: ids_req lists 1-3 byte prefixes', 'prefixes');
      return { type, prefixes: ps };
    }
    case 'sum': {
      P.onlyFields(o, ['type', 'prefix', 'counts', 'hashes'], 'sum');
      const p = prefix(o.prefix, 'prefix');
      const { counts, hashes } = o;
      if (!Array.isArray(counts) || counts.length !== SUMMARY_FANOUT) bad('bad_type', `counts: ${SUMMARY_FANOUT} integers`, 'counts');
      if (!Array.isArray(hashes) || hashes.length !== SUMMARY_FANOUT) bad('bad_type', `hashes: ${SUMMARY_FANOUT} hex strings`, 'hashes');
      for (const c of counts as unknown[]) if (typeof c !== 'number' || !Number.isSafeInteger(c) || c < 0) bad('bad_type', 'counts: non-negative integers', 'counts');
      for (const h of hashes as unknown[]) if (typeof h !== 'string' || !HASH_RE.test(h)) bad('bad_hex', 'hashes: 32 hex digits each', 'hashes');
      return { type, prefix: p, counts: counts as number[], hashes: hashes as string[] };
    }
    case 'ids': {
      P.onlyFields(o, ['type', 'prefix', 'ids', 'done'], 'ids');
      if (typeof o.done !== 'boolean') bad('bad_type', 'done: boolean', 'done');
      return { type, prefix: prefix(o.prefix, 'prefix'), ids: ids(o), done: o.done as boolean };
    }
    case 'server_list_request':
    case 'server_list_response':
      return { type, raw: o };
    default:
      return bad('bad_type', 'type: not a peer frame type', 'type');
  }
}

/** Decodes a frame's bytes; binary frames and non-JSON are refused. */
export function decodeFrame(text: string): Frame {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new P.ProtocolError('bad_json', 'peer frame is not JSON');
  }
  return parseFrame(json);
}

/** The text a relay signs in the handshake (PROTOCOL.md §9.2). */
export const authContent = (from: string, to: string, theirChallenge: string, ownChallenge: string, url: string): string =>
  `meshchat-peer-auth/1\n${from}\n${to}\n${theirChallenge}\n${ownChallenge}\n${url}`;

/** First byte of a binary `msg` frame. */
export const MSG_FRAME = 0x01;
const NL = 0x0a;

/**
 * A binary payload frame: [0x01][ttl][recipient "\n" message "\n" signature],
 * the three fields as their base64 text, which is exactly the id preimage
 * (P.packetIdPreimage): SHA-256 of everything after the header is the id.
 */
export function encodeMsgFrame(ttl: number, packet: P.ClientMessagePacket): Buffer {
  const { recipient, message, signature } = packet;
  const buf = Buffer.allocUnsafe(2 + recipient.length + message.length + signature.length + 2);
  buf[0] = MSG_FRAME;
  buf[1] = ttl;
  let o = 2 + buf.write(recipient, 2, 'latin1');
  buf[o++] = NL;
  o += buf.write(message, o, 'latin1');
  buf[o++] = NL;
  buf.write(signature, o, 'latin1');
  return buf;
}

/**
 * Sets a received frame's ttl in place, for sending it on. In place, since a
 * copy per forwarded payload was ~3% of a mesh relay's CPU (an allocation
 * from Buffer's pool and a 1.3 KB copy): a received frame's bytes are this
 * relay's own (copied out of uWS, or a fresh socket read under `ws`), nothing
 * has sent them yet, and every link they go on to gets the same ttl.
 */
export function setTtl(frame: Buffer, ttl: number): Buffer {
  frame[1] = ttl;
  return frame;
}

/** Checks a binary frame's header; returns its ttl. The body (frame.subarray(2)) is the id preimage. */
export function msgFrameTtl(frame: Buffer): number {
  if (frame.length < 2 || frame[0] !== MSG_FRAME) bad('bad_type', 'binary frame: only msg frames (0x01) are binary');
  const t = frame[1]!;
  if (t > MAX_TTL) bad('bad_type', `ttl: an integer 0..${MAX_TTL}`, 'ttl');
  return t;
}

/**
 * The packet in a msg frame's body, for the Ingestor to validate. Fields are
 * read as latin1, byte for byte: anything that is not base64 text fails
 * validation there, and for text that is, the bytes hashed for the id are
 * the UTF-8 of these strings.
 */
export function msgFramePacket(frame: Buffer): { recipient: string; message: string; signature: string } {
  const a = frame.indexOf(NL, 2);
  const b = a < 0 ? -1 : frame.indexOf(NL, a + 1);
  if (b < 0) bad('missing_field', 'msg frame: recipient, message and signature separated by newlines', 'packet');
  return { recipient: frame.toString('latin1', 2, a), message: frame.toString('latin1', a + 1, b), signature: frame.toString('latin1', b + 1) };
}
