import * as P from '../protocol/index.ts';

/**
 * Error codes the relay adds to the protocol's own (P.ERROR_CODES). Every
 * error leaves the relay as {"error":{"code","message"}} with the status
 * from STATUS below — the one place codes become HTTP statuses.
 */
export const RELAY_ERROR_CODES = [
  'auth_required',
  'payload_too_large',
  'bad_cursor',
  'bad_limit',
  'bad_wait',
  'not_found',
  'method_not_allowed',
  'upgrade_required',
  'body_timeout',
  'rate_limited',
  'overloaded',
  'shutting_down',
  'internal',
  // dual proxy (relay/proxy/)
  'unknown_relay',
  'forward_refused',
  'upstream_failed',
  'upstream_timeout',
  // calls: GET /v1/turn on a relay without --turn-url/--turn-secret
  'turn_not_configured',
] as const;

export type RelayErrorCode = (typeof RELAY_ERROR_CODES)[number];
export type AnyErrorCode = P.ErrorCode | RelayErrorCode;

const STATUS: Record<AnyErrorCode, number> = {
  // generic shape
  bad_json: 400,
  bad_type: 400,
  missing_field: 400,
  unknown_field: 400,
  // a field over its limit; a whole body over the cap is payload_too_large (413)
  too_large: 400,
  bad_base64: 400,
  bad_uuid: 400,
  bad_timestamp: 400,
  bad_hex: 400,
  bad_url: 400,
  // keys
  bad_key: 400,
  key_not_rsa: 400,
  key_size: 400,
  key_exponent: 400,
  // envelopes and packets
  bad_envelope: 400,
  bad_envelope_version: 400,
  bad_bucket: 400,
  decrypt_failed: 400,
  bad_padding: 400,
  bad_plaintext: 400,
  plaintext_too_large: 400,
  // retrieval authentication: each refusal is its own code, all 401
  bad_signature: 401,
  wrong_recipient: 400,
  sender_mismatch: 400,
  wrong_relay: 401,
  stale_timestamp: 401,
  nonce_reused: 401,
  bad_nonce: 401,
  auth_required: 401,
  bad_descriptor: 400,
  bad_id: 400,
  unsupported: 400,
  // relay
  payload_too_large: 413,
  bad_cursor: 400,
  bad_limit: 400,
  bad_wait: 400,
  not_found: 404,
  method_not_allowed: 405,
  upgrade_required: 426,
  body_timeout: 408,
  rate_limited: 429,
  overloaded: 503,
  shutting_down: 503,
  internal: 500,
  // dual proxy: the target is not in this relay's verified list / may not be forwarded to / did not answer usably
  unknown_relay: 404,
  forward_refused: 403,
  upstream_failed: 502,
  upstream_timeout: 504,
  turn_not_configured: 404,
};

export class RelayError extends Error {
  override readonly name = 'RelayError';
  readonly code: RelayErrorCode;
  /** Seconds, for 429/503 answers. */
  readonly retryAfter: number | undefined;
  constructor(code: RelayErrorCode, message: string, retryAfter?: number) {
    super(message);
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

export interface WireError {
  status: number;
  code: AnyErrorCode;
  message: string;
  retryAfter: number | undefined;
}

/**
 * Turns anything thrown into what goes on the wire. A ProtocolError or
 * RelayError keeps its code and message; anything else is a bug, reported as
 * `internal` without details (the caller logs it).
 */
export function toWireError(e: unknown): WireError {
  if (P.isProtocolError(e) || (e instanceof RelayError)) {
    const code = e.code as AnyErrorCode;
    const status = STATUS[code] ?? 400;
    return { status, code, message: e.message, retryAfter: e instanceof RelayError ? e.retryAfter : undefined };
  }
  return { status: 500, code: 'internal', message: 'internal error', retryAfter: undefined };
}

export const statusOf = (code: AnyErrorCode): number => STATUS[code];

const REASONS: Record<number, string> = {
  200: 'OK',
  202: 'Accepted',
  204: 'No Content',
  304: 'Not Modified',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Payload Too Large',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** The HTTP status line uWS wants ("404 Not Found"). */
export const statusLine = (status: number): string => `${status} ${REASONS[status] ?? ''}`.trimEnd();

export const errorBody = (code: string, message: string): string => JSON.stringify({ error: { code, message } });

/** Statuses this relay can put on a status line (a proxy passes on only these). */
export const knownStatus = (status: number): boolean => status in REASONS;
