/**
 * Every failure the protocol layer can report. Codes are stable wire strings:
 * relays put them in `{"error":{"code","message"}}`, clients switch on them,
 * and they survive structured cloning across the worker boundary (check
 * `err.code`, never `instanceof`).
 */
export const ERROR_CODES = [
  // generic shape
  'bad_json',
  'bad_type',
  'missing_field',
  'unknown_field',
  'too_large',
  'bad_base64',
  'bad_uuid',
  'bad_timestamp',
  'bad_hex',
  'bad_url',
  // keys
  'bad_key',
  'key_not_rsa',
  'key_size',
  'key_exponent',
  // envelopes and packets
  'bad_envelope',
  'bad_envelope_version',
  'bad_bucket',
  'decrypt_failed',
  'bad_padding',
  'bad_plaintext',
  'plaintext_too_large',
  'bad_signature',
  'wrong_recipient',
  'sender_mismatch',
  // retrieval / relays
  'wrong_relay',
  'stale_timestamp',
  'nonce_reused',
  'bad_nonce',
  'bad_descriptor',
  'bad_id',
  'unsupported',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  readonly code: ErrorCode;
  /** Dotted path of the offending field, when there is one (e.g. `message`, `known_servers[2]`). */
  readonly field: string | undefined;
  constructor(code: ErrorCode, message: string, field?: string) {
    super(message);
    this.code = code;
    this.field = field;
  }
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: ProtocolError };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });
export const fail = (code: ErrorCode, message: string, field?: string): Result<never> => ({
  ok: false,
  error: new ProtocolError(code, message, field),
});

/** Runs `fn`, turning a thrown ProtocolError into a failed Result; anything else is a bug and rethrows. */
export function attempt<T>(fn: () => T): Result<T> {
  try {
    return ok(fn());
  } catch (e) {
    if (isProtocolError(e)) return { ok: false, error: e };
    throw e;
  }
}

export async function attemptAsync<T>(fn: () => Promise<T>): Promise<Result<T>> {
  try {
    return ok(await fn());
  } catch (e) {
    if (isProtocolError(e)) return { ok: false, error: e };
    throw e;
  }
}

/** Structural check so it also recognises errors rebuilt on the other side of postMessage. */
export function isProtocolError(e: unknown): e is ProtocolError {
  return (
    typeof e === 'object' &&
    e !== null &&
    (e as { name?: unknown }).name === 'ProtocolError' &&
    typeof (e as { code?: unknown }).code === 'string'
  );
}

/** Unwraps a Result, throwing its error. */
export function unwrap<T>(r: Result<T>): T {
  if (r.ok) return r.value;
  throw r.error;
}
