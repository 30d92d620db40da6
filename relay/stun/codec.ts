// Pure STUN (RFC 8489, with RFC 3489 compatibility) message encoding and
// decoding. No I/O and no Node imports, so it runs anywhere and tests can feed
// it arbitrary bytes; Node Buffers work because they are Uint8Arrays.

export const MAGIC_COOKIE = 0x2112a442;
export const HEADER_LENGTH = 20;
const FINGERPRINT_XOR = 0x5354554e;

export const StunClass = { request: 0, indication: 1, success: 2, error: 3 } as const;
export type StunClass = (typeof StunClass)[keyof typeof StunClass];

export const StunMethod = { binding: 0x001, allocate: 0x003 } as const;

export const Attr = {
  MAPPED_ADDRESS: 0x0001,
  CHANGE_REQUEST: 0x0003,
  USERNAME: 0x0006,
  MESSAGE_INTEGRITY: 0x0008,
  ERROR_CODE: 0x0009,
  UNKNOWN_ATTRIBUTES: 0x000a,
  REALM: 0x0014,
  NONCE: 0x0015,
  REQUESTED_TRANSPORT: 0x0019,
  MESSAGE_INTEGRITY_SHA256: 0x001c,
  PASSWORD_ALGORITHM: 0x001d,
  USERHASH: 0x001e,
  XOR_MAPPED_ADDRESS: 0x0020,
  XOR_RELAYED_ADDRESS: 0x0016,
  PASSWORD_ALGORITHMS: 0x8002,
  ALTERNATE_DOMAIN: 0x8003,
  SOFTWARE: 0x8022,
  ALTERNATE_SERVER: 0x8023,
  FINGERPRINT: 0x8028,
} as const;

export interface StunAttribute {
  type: number;
  value: Uint8Array;
}

export interface StunMessage {
  method: number;
  cls: StunClass;
  /** False for RFC 3489 messages, whose bytes 4..8 are part of a 128-bit id. */
  hasCookie: boolean;
  /** Bytes 4..20 of the header: the cookie (or legacy id prefix) then the 96-bit id. */
  transactionId: Uint8Array;
  attributes: StunAttribute[];
}

export type DecodeError =
  | 'short'
  | 'type-bits'
  | 'length'
  | 'attribute-overflow'
  | 'fingerprint-position'
  | 'fingerprint-mismatch';

export type DecodeResult = { ok: true; message: StunMessage; fingerprint: boolean } | { ok: false; error: DecodeError };

export interface TransportAddress {
  family: 4 | 6;
  address: string;
  port: number;
}

// --- message type ------------------------------------------------------------

/** The 14-bit type interleaves the class bits C1 (bit 8) and C0 (bit 4) into the method. */
export function messageType(method: number, cls: StunClass): number {
  return (method & 0x000f) | ((method & 0x0070) << 1) | ((method & 0x0f80) << 2) | ((cls & 1) << 4) | ((cls & 2) << 7);
}

function splitType(type: number): { method: number; cls: StunClass } {
  const method = (type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2);
  const cls = (((type >> 4) & 1) | ((type >> 7) & 2)) as StunClass;
  return { method, cls };
}

// --- CRC-32 (IEEE 802.3, as FINGERPRINT uses) ---------------------------------

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// --- decoding -------------------------------------------------------------------

/**
 * Parses one datagram. Structural problems are errors; unknown attributes are
 * not (the caller decides whether they are comprehension-required).
 */
export function decodeMessage(buf: Uint8Array): DecodeResult {
  if (buf.length < HEADER_LENGTH) return { ok: false, error: 'short' };
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const type = view.getUint16(0);
  if (type & 0xc000) return { ok: false, error: 'type-bits' };
  const length = view.getUint16(2);
  // Every attribute is padded to 4 bytes, so a valid body length is too.
  if (length % 4 !== 0 || HEADER_LENGTH + length !== buf.length) return { ok: false, error: 'length' };
  const hasCookie = view.getUint32(4) === MAGIC_COOKIE;

  const attributes: StunAttribute[] = [];
  let fingerprint = false;
  let off = HEADER_LENGTH;
  while (off < buf.length) {
    if (fingerprint) return { ok: false, error: 'fingerprint-position' };
    if (off + 4 > buf.length) return { ok: false, error: 'attribute-overflow' };
    const attrType = view.getUint16(off);
    const attrLen = view.getUint16(off + 2);
    const padded = (attrLen + 3) & ~3;
    if (off + 4 + padded > buf.length) return { ok: false, error: 'attribute-overflow' };
    const value = buf.subarray(off + 4, off + 4 + attrLen);
    if (attrType === Attr.FINGERPRINT && hasCookie) {
      // The header length already counts FINGERPRINT (it must be last), which is
      // exactly the length the CRC was computed with.
      if (attrLen !== 4) return { ok: false, error: 'attribute-overflow' };
      const expected = (crc32(buf.subarray(0, off)) ^ FINGERPRINT_XOR) >>> 0;
      if (view.getUint32(off + 4) !== expected) return { ok: false, error: 'fingerprint-mismatch' };
      fingerprint = true;
    }
    attributes.push({ type: attrType, value });
    off += 4 + padded;
  }
  const { method, cls } = splitType(type);
  return { ok: true, fingerprint, message: { method, cls, hasCookie, transactionId: Uint8Array.from(buf.subarray(4, 20)), attributes } };
}

/** Reads a MAPPED-ADDRESS or (xored = true) XOR-MAPPED-ADDRESS-style value. */
export function decodeAddress(value: Uint8Array, transactionId: Uint8Array, xored: boolean): TransportAddress | null {
  if (value.length < 4) return null;
  const family = value[1];
  const len = family === 0x01 ? 4 : family === 0x02 ? 16 : 0;
  if (!len || value.length !== 4 + len) return null;
  let port = (value[2]! << 8) | value[3]!;
  // A copy: Buffer#slice would be a view, and the XOR below must not touch the caller's bytes.
  const addr = Uint8Array.from(value.subarray(4));
  if (xored) {
    // transactionId here is header bytes 4..20: cookie then the 96-bit id.
    port ^= MAGIC_COOKIE >>> 16;
    for (let i = 0; i < len; i++) addr[i]! ^= transactionId[i]!;
  }
  return len === 4 ? { family: 4, address: formatIPv4(addr), port } : { family: 6, address: formatIPv6(addr), port };
}

// --- encoding -------------------------------------------------------------------

export interface EncodeOptions {
  /** Appends MESSAGE-INTEGRITY: gets the message so far (length already adjusted) and returns its 20-byte HMAC-SHA1. */
  integrity?: (data: Uint8Array) => Uint8Array;
  fingerprint?: boolean;
}

export function encodeMessage(msg: Omit<StunMessage, 'hasCookie'>, opts: EncodeOptions = {}): Uint8Array {
  if (msg.transactionId.length !== 16) throw new Error('transactionId must hold header bytes 4..20');
  let bodyLen = 0;
  for (const a of msg.attributes) bodyLen += 4 + ((a.value.length + 3) & ~3);
  const total = HEADER_LENGTH + bodyLen + (opts.integrity ? 24 : 0) + (opts.fingerprint ? 8 : 0);
  if (total - HEADER_LENGTH > 0xffff) throw new Error('message too long');
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  view.setUint16(0, messageType(msg.method, msg.cls));
  out.set(msg.transactionId, 4);
  let off = HEADER_LENGTH;
  for (const a of msg.attributes) {
    view.setUint16(off, a.type);
    view.setUint16(off + 2, a.value.length);
    out.set(a.value, off + 4);
    off += 4 + ((a.value.length + 3) & ~3);
  }
  if (opts.integrity) {
    // The HMAC covers the header with a length that ends just after MESSAGE-INTEGRITY.
    view.setUint16(2, off + 24 - HEADER_LENGTH);
    const mac = opts.integrity(out.subarray(0, off));
    if (mac.length !== 20) throw new Error('MESSAGE-INTEGRITY must be 20 bytes');
    view.setUint16(off, Attr.MESSAGE_INTEGRITY);
    view.setUint16(off + 2, 20);
    out.set(mac, off + 4);
    off += 24;
  }
  if (opts.fingerprint) {
    view.setUint16(2, off + 8 - HEADER_LENGTH);
    const crc = (crc32(out.subarray(0, off)) ^ FINGERPRINT_XOR) >>> 0;
    view.setUint16(off, Attr.FINGERPRINT);
    view.setUint16(off + 2, 4);
    view.setUint32(off + 4, crc);
    off += 8;
  }
  view.setUint16(2, off - HEADER_LENGTH);
  return out;
}

export function encodeAddress(addr: TransportAddress, transactionId: Uint8Array, xored: boolean): Uint8Array {
  const raw = addr.family === 4 ? parseIPv4(addr.address) : parseIPv6(addr.address);
  if (!raw) throw new Error('bad address');
  const out = new Uint8Array(4 + raw.length);
  out[1] = addr.family === 4 ? 0x01 : 0x02;
  let port = addr.port;
  if (xored) {
    port ^= MAGIC_COOKIE >>> 16;
    for (let i = 0; i < raw.length; i++) raw[i]! ^= transactionId[i]!;
  }
  out[2] = (port >> 8) & 0xff;
  out[3] = port & 0xff;
  out.set(raw, 4);
  return out;
}

const utf8 = new TextEncoder();

export function textAttribute(type: number, text: string): StunAttribute {
  return { type, value: utf8.encode(text) };
}

export function errorCodeAttribute(code: number, reason: string): StunAttribute {
  const phrase = utf8.encode(reason);
  const value = new Uint8Array(4 + phrase.length);
  value[2] = Math.floor(code / 100);
  value[3] = code % 100;
  value.set(phrase, 4);
  return { type: Attr.ERROR_CODE, value };
}

export function decodeErrorCode(value: Uint8Array): { code: number; reason: string } | null {
  if (value.length < 4) return null;
  return { code: (value[2]! & 0x07) * 100 + value[3]!, reason: new TextDecoder().decode(value.subarray(4)) };
}

/** RFC 3489 wanted an even count (repeat one); RFC 8489 allows any padding, so repeating suits both. */
export function unknownAttributesAttribute(types: number[], hasCookie: boolean): StunAttribute {
  const list = types.length % 2 && !hasCookie ? [...types, types[types.length - 1]!] : types;
  const value = new Uint8Array(list.length * 2);
  list.forEach((t, i) => {
    value[i * 2] = t >> 8;
    value[i * 2 + 1] = t & 0xff;
  });
  return { type: Attr.UNKNOWN_ATTRIBUTES, value };
}

// --- IP address text <-> bytes ---------------------------------------------------

export function parseIPv4(s: string): Uint8Array | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return null;
    out[i] = Number(p);
  }
  return out;
}

export function parseIPv6(s: string): Uint8Array | null {
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  const out = new Uint8Array(16);
  let tail: Uint8Array | null = null;
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.', lastColon)) {
    tail = parseIPv4(s.slice(lastColon + 1));
    if (!tail) return null;
    s = s.slice(0, lastColon + 1) + '0:0';
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const groups = (h: string) => (h === '' ? [] : h.split(':'));
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...rest];
  for (let i = 0; i < 8; i++) {
    const g = all[i]!;
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  }
  if (tail) out.set(tail, 12);
  return out;
}

export function formatIPv4(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/** Lower-case hex with the longest run of two or more zero groups compressed (RFC 5952). */
export function formatIPv6(b: Uint8Array): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[i * 2]! << 8) | b[i * 2 + 1]!);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [bestStart, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}
