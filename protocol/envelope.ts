import { concat, fromUtf8, utf8 } from './bytes.ts';
import type { CryptoEngine, PrivateKeyHandle, PublicKeyHandle } from './crypto/engine.ts';
import { ProtocolError } from './errors.ts';
import {
  AES_KEY_BYTES,
  BUCKETS,
  ENVELOPE_OVERHEAD,
  ENVELOPE_VERSION,
  IV_BYTES,
  MAX_PLAINTEXT,
  WRAPPED_KEY_BYTES,
} from './limits.ts';

/**
 * Sealed envelope: 0x01 || RSA-OAEP(aesKey) (256) || IV (12) || AES-256-GCM(plaintext) || tag (16).
 * Hybrid because RSA-OAEP-2048 with SHA-256 carries at most 190 bytes.
 */
export async function sealBytes(
  engine: CryptoEngine,
  recipient: PublicKeyHandle,
  plaintext: Uint8Array,
  fixed?: { aesKey: Uint8Array; iv: Uint8Array },
): Promise<Uint8Array> {
  const aesKey = fixed?.aesKey ?? engine.randomBytes(AES_KEY_BYTES);
  const iv = fixed?.iv ?? engine.randomBytes(IV_BYTES);
  const [wrapped, ct] = await Promise.all([engine.oaepEncrypt(recipient, aesKey), engine.aesGcmEncrypt(aesKey, iv, plaintext)]);
  if (wrapped.length !== WRAPPED_KEY_BYTES) throw new ProtocolError('bad_key', 'recipient key does not give 256-byte OAEP blocks');
  return concat(new Uint8Array([ENVELOPE_VERSION]), wrapped, iv, ct);
}

/** Structural check of envelope bytes (what a relay can verify without keys). */
export function checkEnvelopeShape(env: Uint8Array, allowedLengths: readonly number[], field: string): void {
  checkEnvelopeHeader(env[0], env.length, allowedLengths, field);
}

/** checkEnvelopeShape from the first byte and the length alone (validators that do not decode the envelope). */
export function checkEnvelopeHeader(first: number | undefined, length: number, allowedLengths: readonly number[], field: string): void {
  if (length < ENVELOPE_OVERHEAD) throw new ProtocolError('bad_envelope', `${field}: envelope truncated`, field);
  if (first !== ENVELOPE_VERSION) throw new ProtocolError('bad_envelope_version', `${field}: unknown envelope version ${first}`, field);
  if (!allowedLengths.includes(length))
    throw new ProtocolError('bad_bucket', `${field}: envelope of ${length} bytes is not a padding bucket`, field);
}

export async function openBytes(engine: CryptoEngine, key: PrivateKeyHandle, env: Uint8Array, field = 'envelope'): Promise<Uint8Array> {
  if (env.length < ENVELOPE_OVERHEAD) throw new ProtocolError('bad_envelope', `${field}: envelope truncated`, field);
  if (env[0] !== ENVELOPE_VERSION) throw new ProtocolError('bad_envelope_version', `${field}: unknown envelope version ${env[0]}`, field);
  let aesKey: Uint8Array;
  try {
    aesKey = await engine.oaepDecrypt(key, env.subarray(1, 1 + WRAPPED_KEY_BYTES));
  } catch {
    throw new ProtocolError('decrypt_failed', `${field}: cannot unwrap the key (not sealed to this key, or corrupted)`, field);
  }
  if (aesKey.length !== AES_KEY_BYTES) throw new ProtocolError('decrypt_failed', `${field}: wrapped key is not 32 bytes`, field);
  const iv = env.subarray(1 + WRAPPED_KEY_BYTES, 1 + WRAPPED_KEY_BYTES + IV_BYTES);
  try {
    return await engine.aesGcmDecrypt(aesKey, iv, env.subarray(1 + WRAPPED_KEY_BYTES + IV_BYTES));
  } catch {
    throw new ProtocolError('decrypt_failed', `${field}: authentication tag does not verify`, field);
  } finally {
    aesKey.fill(0);
  }
}

/** Smallest bucket that holds `n` bytes, or undefined when over the largest. */
export const bucketFor = (n: number): number | undefined => BUCKETS.find((b) => b >= n);

/** Pads UTF-8 JSON with trailing spaces to its bucket (or to `exact`). */
export function padJson(json: string, exact?: number): Uint8Array {
  const raw = utf8(json);
  const size = exact ?? bucketFor(raw.length);
  if (size === undefined || raw.length > size)
    throw new ProtocolError('plaintext_too_large', `plaintext of ${raw.length} bytes exceeds ${exact ?? MAX_PLAINTEXT}`);
  const out = new Uint8Array(size).fill(0x20);
  out.set(raw, 0);
  return out;
}

/** Reverses padJson: the length must be a bucket and everything after the JSON must be spaces. */
export function unpadJson(padded: Uint8Array, field: string, exact?: number): unknown {
  if (exact !== undefined ? padded.length !== exact : !(BUCKETS as readonly number[]).includes(padded.length))
    throw new ProtocolError('bad_padding', `${field}: plaintext of ${padded.length} bytes is not a bucket size`, field);
  let end = padded.length;
  while (end > 0 && padded[end - 1] === 0x20) end--;
  // JSON.parse would also accept other whitespace around the object (e.g. newline
  // padding); only `{…}` followed by 0x20 is the wire form, so refuse the rest.
  if (end < 2 || padded[0] !== 0x7b || padded[end - 1] !== 0x7d)
    throw new ProtocolError('bad_plaintext', `${field}: plaintext must be one JSON object padded only with spaces`, field);
  const text = fromUtf8(padded.subarray(0, end), field);
  try {
    return JSON.parse(text);
  } catch {
    throw new ProtocolError('bad_plaintext', `${field}: plaintext is not JSON`, field);
  }
}
