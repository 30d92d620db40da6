import { fromBase64, toBase64 } from './bytes.ts';
import { ProtocolError } from './errors.ts';
import { RSA_BITS, RSA_EXPONENT, SPKI_B64_CHARS, SPKI_BYTES } from './limits.ts';

/**
 * The one DER layout an RSA-2048/e=65537 SubjectPublicKeyInfo has. Because a
 * fingerprint hashes the DER, only this canonical encoding is accepted:
 * otherwise one key could have two addresses.
 */
const SPKI_PREFIX = new Uint8Array([
  0x30, 0x82, 0x01, 0x22, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
  0x03, 0x82, 0x01, 0x0f, 0x00, 0x30, 0x82, 0x01, 0x0a, 0x02, 0x82, 0x01, 0x01, 0x00,
]);
const SPKI_SUFFIX = new Uint8Array([0x02, 0x03, 0x01, 0x00, 0x01]);
const RSA_OID = new Uint8Array([0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01]);

interface Tlv {
  tag: number;
  start: number; // content start
  end: number; // content end (exclusive)
}

function readTlv(b: Uint8Array, pos: number, limit: number): Tlv {
  if (pos + 2 > limit) throw new ProtocolError('bad_key', 'public key: truncated DER', 'key');
  const tag = b[pos]!;
  let len = b[pos + 1]!;
  let p = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3 || p + n > limit) throw new ProtocolError('bad_key', 'public key: bad DER length', 'key');
    len = 0;
    for (let i = 0; i < n; i++) len = (len << 8) | b[p++]!;
  }
  if (p + len > limit) throw new ProtocolError('bad_key', 'public key: truncated DER', 'key');
  return { tag, start: p, end: p + len };
}

function bitLength(b: Uint8Array, start: number, end: number): number {
  let i = start;
  while (i < end && b[i] === 0) i++;
  if (i === end) return 0;
  return (end - i - 1) * 8 + (32 - Math.clz32(b[i]!));
}

/** Explains why DER bytes are not an acceptable key, with the most specific code. */
function diagnose(der: Uint8Array): ProtocolError {
  try {
    const outer = readTlv(der, 0, der.length);
    if (outer.tag !== 0x30) return new ProtocolError('bad_key', 'public key: not a SubjectPublicKeyInfo', 'key');
    const alg = readTlv(der, outer.start, outer.end);
    const oid = readTlv(der, alg.start, alg.end);
    const oidBytes = der.subarray(oid.start, oid.end);
    if (oid.tag !== 0x06 || oidBytes.length !== RSA_OID.length || oidBytes.some((x, i) => x !== RSA_OID[i]))
      return new ProtocolError('key_not_rsa', 'public key: not an RSA key', 'key');
    const bits = readTlv(der, alg.end, outer.end);
    if (bits.tag !== 0x03) return new ProtocolError('bad_key', 'public key: missing BIT STRING', 'key');
    const rsa = readTlv(der, bits.start + 1, bits.end);
    const n = readTlv(der, rsa.start, rsa.end);
    const e = readTlv(der, n.end, rsa.end);
    if (n.tag !== 0x02 || e.tag !== 0x02) return new ProtocolError('bad_key', 'public key: bad RSAPublicKey', 'key');
    const nBits = bitLength(der, n.start, n.end);
    if (nBits !== RSA_BITS) return new ProtocolError('key_size', `public key: modulus is ${nBits} bits, need ${RSA_BITS}`, 'key');
    let ev = 0;
    if (e.end - e.start > 4) return new ProtocolError('key_exponent', `public key: exponent must be ${RSA_EXPONENT}`, 'key');
    for (let i = e.start; i < e.end; i++) ev = ev * 256 + der[i]!;
    if (ev !== RSA_EXPONENT) return new ProtocolError('key_exponent', `public key: exponent ${ev}, need ${RSA_EXPONENT}`, 'key');
    return new ProtocolError('bad_key', 'public key: not canonical DER', 'key');
  } catch (err) {
    return err instanceof ProtocolError ? err : new ProtocolError('bad_key', 'public key: malformed', 'key');
  }
}

/** Checks DER SPKI bytes are a canonical RSA-2048, e=65537 key. */
export function checkSpki(der: Uint8Array): void {
  if (der.length === SPKI_BYTES) {
    let good = der[SPKI_PREFIX.length]! >= 0x80;
    for (let i = 0; good && i < SPKI_PREFIX.length; i++) good = der[i] === SPKI_PREFIX[i];
    const tail = SPKI_BYTES - SPKI_SUFFIX.length;
    for (let i = 0; good && i < SPKI_SUFFIX.length; i++) good = der[tail + i] === SPKI_SUFFIX[i];
    if (good) return;
  }
  throw diagnose(der);
}

/**
 * Parses a wire public key (standard base64 of DER SPKI) and returns its DER.
 * `field` names the packet field in error messages.
 */
export function parsePublicKey(value: unknown, field = 'public_key'): Uint8Array {
  if (typeof value !== 'string') throw new ProtocolError('bad_type', `${field}: must be a string`, field);
  if (value.length > 4096) throw new ProtocolError('too_large', `${field}: too long for a public key`, field);
  let der: Uint8Array;
  try {
    der = fromBase64(value, field);
  } catch {
    throw new ProtocolError('bad_base64', `${field}: not standard base64`, field);
  }
  try {
    checkSpki(der);
  } catch (e) {
    const err = e as ProtocolError;
    throw new ProtocolError(err.code, err.message.replace('public key', field), field);
  }
  if (value.length !== SPKI_B64_CHARS) throw new ProtocolError('bad_key', `${field}: not canonical base64`, field);
  return der;
}

export const encodePublicKey = (der: Uint8Array): string => toBase64(der);

/** The RSA modulus (256 bytes, big-endian) of a checked SPKI. */
export const spkiModulus = (der: Uint8Array): Uint8Array => der.subarray(SPKI_PREFIX.length, SPKI_PREFIX.length + 256);

/** Builds the canonical SPKI for a 2048-bit modulus with e=65537 (used by the forge engine). */
export function spkiFromModulus(modulus: Uint8Array): Uint8Array {
  if (modulus.length !== 256 || modulus[0]! < 0x80) throw new ProtocolError('key_size', 'modulus must be 2048 bits', 'key');
  const out = new Uint8Array(SPKI_BYTES);
  out.set(SPKI_PREFIX, 0);
  out.set(modulus, SPKI_PREFIX.length);
  out.set(SPKI_SUFFIX, SPKI_PREFIX.length + 256);
  return out;
}

/**
 * Checks the PrivateKeyInfo wrapper of a PKCS#8 key names rsaEncryption, so an
 * EC key is reported as `key_not_rsa` (as for public keys) instead of the
 * generic failure an engine import gives. Does not validate the key itself.
 */
export function checkPkcs8Algorithm(der: Uint8Array): void {
  let oid: Uint8Array;
  try {
    const outer = readTlv(der, 0, der.length);
    const version = readTlv(der, outer.start, outer.end);
    const alg = readTlv(der, version.end, outer.end);
    const o = readTlv(der, alg.start, alg.end);
    if (outer.tag !== 0x30 || version.tag !== 0x02 || alg.tag !== 0x30 || o.tag !== 0x06) throw new Error('shape');
    oid = der.subarray(o.start, o.end);
  } catch {
    throw new ProtocolError('bad_key', 'private key: not a PKCS#8 PrivateKeyInfo');
  }
  if (oid.length !== RSA_OID.length || oid.some((x, i) => x !== RSA_OID[i])) throw new ProtocolError('key_not_rsa', 'private key: not an RSA key');
}
