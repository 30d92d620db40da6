import * as P from '../../protocol/index.ts';

/**
 * Peer frames (PROTOCOL.md §9): one JSON object per WebSocket text frame,
 * discriminated by `type`. Everything a peer sends goes through parseFrame
 * before anything else looks at it; client packets inside `msg` frames are
 * then validated by the Ingestor exactly like a POST.
 */

export const MESH_VERSION = 1;
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
  | { type: 'msg'; ttl: number; packet: unknown }
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
    case 'msg':
      P.onlyFields(o, ['type', 'ttl', 'packet'], 'msg');
      if (o.packet === undefined) bad('missing_field', 'packet: required', 'packet');
      return { type, ttl: ttl(o), packet: o.packet };
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
    case 'ids_req':
      P.onlyFields(o, ['type', 'prefixes'], type);
      return { type, prefixes: prefixes(o) };
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

export const msgFrame = (ttl: number, packet: P.ClientMessagePacket): string =>
  `{"type":"msg","ttl":${ttl},"packet":{"recipient":"${packet.recipient}","message":"${packet.message}","signature":"${packet.signature}"}}`;
