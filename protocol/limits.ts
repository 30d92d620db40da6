/** Size buckets a message plaintext is padded to before sealing (bytes). */
export const BUCKETS = [1024, 2048, 4096, 8192, 16384, 32768, 65536] as const;
export const MAX_PLAINTEXT = 65536;
/** The signature plaintext is always padded to exactly this size. */
export const SIGNATURE_BUCKET = 1024;

export const ENVELOPE_VERSION = 0x01;
export const WRAPPED_KEY_BYTES = 256;
export const IV_BYTES = 12;
export const TAG_BYTES = 16;
export const AES_KEY_BYTES = 32;
/** Bytes an envelope adds around its plaintext: version, wrapped key, IV, GCM tag. */
export const ENVELOPE_OVERHEAD = 1 + WRAPPED_KEY_BYTES + IV_BYTES + TAG_BYTES;

export const RSA_BITS = 2048;
export const RSA_EXPONENT = 65537;
export const PSS_SALT_BYTES = 32;
/** DER SPKI of an RSA-2048 key with e=65537 is exactly 294 bytes; base64 of it 392 chars. */
export const SPKI_BYTES = 294;
export const SPKI_B64_CHARS = 392;
export const SIGNATURE_BYTES = 256;

export const MAX_CONTENT_CHARS = 60000;
export const MAX_URL_CHARS = 512;
export const MAX_NONCE_CHARS = 128;
export const MIN_NONCE_BYTES = 16;
export const MAX_KNOWN_SERVERS = 256;
export const MAX_TIMESTAMP_CHARS = 40;
/** Retrieval packets older or newer than this (relay clock) are refused. */
export const RETRIEVAL_WINDOW_MS = 120_000;
/** Descriptors older than this are stale; relays re-sign theirs well within it. */
export const DESCRIPTOR_MAX_AGE_MS = 24 * 3600_000;

/** Size of a base64 string that encodes `n` bytes with padding. */
export const b64Len = (n: number): number => 4 * Math.ceil(n / 3);

/** Envelope byte lengths a relay accepts in the `message` field. */
export const MESSAGE_ENVELOPE_BYTES: readonly number[] = BUCKETS.map((b) => b + ENVELOPE_OVERHEAD);
export const SIGNATURE_ENVELOPE_BYTES = SIGNATURE_BUCKET + ENVELOPE_OVERHEAD;
/** Largest `message` field in base64 characters. */
export const MAX_MESSAGE_B64 = b64Len(MAX_PLAINTEXT + ENVELOPE_OVERHEAD);
/** Largest client message packet body a relay needs to read (with generous JSON slack). */
export const MAX_PACKET_BODY = MAX_MESSAGE_B64 + b64Len(SIGNATURE_ENVELOPE_BYTES) + SPKI_B64_CHARS + 1024;
