import { ProtocolError } from './errors.ts';
import { MAX_TIMESTAMP_CHARS, MAX_URL_CHARS } from './limits.ts';

/** Field readers shared by every validator: each throws a ProtocolError naming the field. */

export function asObject(v: unknown, field: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new ProtocolError('bad_type', `${field}: must be a JSON object`, field);
  return v as Record<string, unknown>;
}

/** Refuses fields outside `allowed` so every accepted byte is one the protocol defines. */
export function onlyFields(o: Record<string, unknown>, allowed: readonly string[], field: string): void {
  for (const k of Object.keys(o))
    if (!allowed.includes(k)) throw new ProtocolError('unknown_field', `${field}: unexpected field "${k.slice(0, 40)}"`, `${field}.${k.slice(0, 40)}`);
}

export function str(o: Record<string, unknown>, key: string, max: number, field = key): string {
  const v = o[key];
  if (v === undefined) throw new ProtocolError('missing_field', `${field}: required`, field);
  if (typeof v !== 'string') throw new ProtocolError('bad_type', `${field}: must be a string`, field);
  if (v.length > max) throw new ProtocolError('too_large', `${field}: longer than ${max} characters`, field);
  return v;
}

export function optStr(o: Record<string, unknown>, key: string, max: number, field = key): string | undefined {
  return o[key] === undefined ? undefined : str(o, key, max, field);
}

const TS_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,3})?Z$/;
const TS_MS_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** ISO 8601 UTC (`Z`), optional fraction of up to 3 digits; returns epoch ms. */
export function timestamp(o: Record<string, unknown>, key: string, field = key, requireMillis = false): { text: string; ms: number } {
  const text = str(o, key, MAX_TIMESTAMP_CHARS, field);
  const m = TS_RE.exec(text);
  if (!m || (requireMillis && !TS_MS_RE.test(text)))
    throw new ProtocolError('bad_timestamp', `${field}: must be ISO 8601 UTC like 2024-06-15T12:34:56.789Z`, field);
  const ms = Date.parse(text);
  // Date.parse rolls 2024-02-31 over to March; the round trip catches impossible dates.
  if (!Number.isFinite(ms) || new Date(ms).toISOString().slice(0, 19) !== text.slice(0, 19))
    throw new ProtocolError('bad_timestamp', `${field}: not a real date`, field);
  return { text, ms };
}

export const isoNow = (ms: number): string => new Date(ms).toISOString();

/** A lowercase UUID version 4 (message uuids, call ids). */
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
export function uuidV4(o: Record<string, unknown>, key: string, field = key): string {
  const v = str(o, key, 36, field);
  if (!UUID_RE.test(v)) throw new ProtocolError('bad_uuid', `${field}: must be a lowercase UUID v4`, field);
  return v;
}

const HEX64 = /^[0-9a-f]{64}$/;
export function hex64(o: Record<string, unknown>, key: string, field = key): string {
  const v = str(o, key, 64, field);
  if (!HEX64.test(v)) throw new ProtocolError('bad_hex', `${field}: must be 64 lowercase hex digits`, field);
  return v;
}
export const isHex64 = (v: unknown): v is string => typeof v === 'string' && HEX64.test(v);

/**
 * A relay base URL: http(s), no credentials, query or fragment, no trailing
 * slash; returned in normalised form so signatures cover one spelling.
 */
export function relayUrl(value: unknown, field = 'url'): string {
  if (typeof value !== 'string') throw new ProtocolError('bad_type', `${field}: must be a string`, field);
  if (value.length > MAX_URL_CHARS) throw new ProtocolError('too_large', `${field}: too long`, field);
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new ProtocolError('bad_url', `${field}: not a URL`, field);
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.username || u.password || u.search || u.hash)
    throw new ProtocolError('bad_url', `${field}: must be a plain http(s) base URL`, field);
  const norm = u.origin + u.pathname.replace(/\/+$/, '');
  if (norm !== value) throw new ProtocolError('bad_url', `${field}: not in normal form (expected ${norm.slice(0, 200)})`, field);
  return norm;
}

/** Normalises a user-typed relay URL (adds nothing, strips trailing slashes). */
export function normaliseRelayUrl(value: string): string {
  const u = new URL(value.trim());
  return u.origin + u.pathname.replace(/\/+$/, '');
}
