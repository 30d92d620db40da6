import { ProtocolError } from './errors.ts';

const ALPHA = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const ALPHA_URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const DECODE = new Int16Array(128).fill(-1);
const DECODE_URL = new Int16Array(128).fill(-1);
for (let i = 0; i < 64; i++) {
  DECODE[ALPHA.charCodeAt(i)] = i;
  DECODE_URL[ALPHA_URL.charCodeAt(i)] = i;
}

function encode(bytes: Uint8Array, alpha: string, pad: boolean): string {
  let out = '';
  const n = bytes.length;
  let i = 0;
  // Chunked string building keeps this linear for 64 KiB envelopes.
  const parts: string[] = [];
  for (; i + 2 < n; i += 3) {
    const v = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += alpha[v >> 18]! + alpha[(v >> 12) & 63]! + alpha[(v >> 6) & 63]! + alpha[v & 63]!;
    if (out.length > 8192) {
      parts.push(out);
      out = '';
    }
  }
  if (i < n) {
    const v = (bytes[i]! << 16) | ((i + 1 < n ? bytes[i + 1]! : 0) << 8);
    out += alpha[v >> 18]! + alpha[(v >> 12) & 63]!;
    if (i + 1 < n) out += alpha[(v >> 6) & 63]!;
    if (pad) out += i + 1 < n ? '=' : '==';
  }
  parts.push(out);
  return parts.join('');
}

/** Standard base64 with padding (RFC 4648 §4). */
export const toBase64 = (bytes: Uint8Array): string => encode(bytes, ALPHA, true);
/** base64url without padding (RFC 4648 §5). */
export const toBase64Url = (bytes: Uint8Array): string => encode(bytes, ALPHA_URL, false);

function decode(s: string, table: Int16Array, padded: boolean, field: string): Uint8Array {
  let len = s.length;
  if (padded) {
    if (len % 4 !== 0) throw new ProtocolError('bad_base64', `${field}: base64 length must be a multiple of 4`, field);
    if (len > 0 && s.charCodeAt(len - 1) === 61) len--;
    if (len > 0 && s.charCodeAt(len - 1) === 61) len--;
  } else if (len % 4 === 1) {
    throw new ProtocolError('bad_base64', `${field}: impossible base64url length`, field);
  }
  const out = new Uint8Array(Math.floor((len * 3) / 4));
  let o = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i);
    const v = c < 128 ? table[c]! : -1;
    if (v < 0) throw new ProtocolError('bad_base64', `${field}: not ${padded ? 'base64' : 'base64url'}`, field);
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  // Canonical form only: leftover bits must be zero, so each byte string has one encoding.
  if (bits > 0 && (acc & ((1 << bits) - 1)) !== 0)
    throw new ProtocolError('bad_base64', `${field}: non-canonical base64`, field);
  return o === out.length ? out : out.subarray(0, o);
}

export const fromBase64 = (s: string, field = 'value'): Uint8Array => decode(s, DECODE, true, field);
export const fromBase64Url = (s: string, field = 'value'): Uint8Array => decode(s, DECODE_URL, false, field);

// Any character outside the base64 alphabet ('=' included): one native scan.
const NOT_B64 = /[^A-Za-z0-9+/]/;

/**
 * Checks `s` is canonical padded base64 (what fromBase64 accepts) and
 * returns the first decoded byte, without decoding the rest: the relay's hot
 * path validates envelopes it never opens, so it does not pay for a decode.
 * Same errors as fromBase64. `s` must be at least 4 characters.
 */
export function checkBase64(s: string, field = 'value'): number {
  if (s.length % 4 !== 0) throw new ProtocolError('bad_base64', `${field}: base64 length must be a multiple of 4`, field);
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  const end = s.length - pad;
  // Canonical form: the last character before padding carries no leftover bits (as decode checks).
  const last = end > 0 ? DECODE[s.charCodeAt(end - 1) & 127]! : 0;
  if (NOT_B64.test(pad ? s.slice(0, end) : s) || (pad === 1 && (last & 3) !== 0) || (pad === 2 && (last & 15) !== 0)) {
    decode(s, DECODE, true, field); // throws the precise error (bad character or non-canonical)
    throw new ProtocolError('bad_base64', `${field}: not base64`, field);
  }
  return decode(s.slice(0, 4), DECODE, true, field)[0]!;
}

/** Exact byte count a padded base64 string decodes to, without decoding it. */
export function base64DecodedLength(s: string): number {
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  return (s.length / 4) * 3 - pad;
}

export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += bytes[i]!.toString(16).padStart(2, '0');
  return s;
}

export function fromHex(s: string, field = 'value'): Uint8Array {
  if (s.length % 2 !== 0 || !/^[0-9a-f]*$/.test(s)) throw new ProtocolError('bad_hex', `${field}: not lowercase hex`, field);
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });
export const utf8 = (s: string): Uint8Array => enc.encode(s);
export function fromUtf8(b: Uint8Array, field = 'value'): string {
  try {
    return dec.decode(b);
  } catch {
    throw new ProtocolError('bad_plaintext', `${field}: not valid UTF-8`, field);
  }
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}
