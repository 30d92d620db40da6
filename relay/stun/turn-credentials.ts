// Time-limited TURN credentials in coturn's shared-secret "TURN REST API"
// scheme (coturn `use-auth-secret` + `static-auth-secret`): the relay and
// coturn share a secret and nothing else. The username carries its own expiry,
// so coturn needs no database and a leaked credential dies on its own.
import { createHmac, randomBytes } from 'node:crypto';

export interface TurnCredentials {
  /** RTCIceServer-shaped, so the PWA can hand it straight to RTCPeerConnection. */
  urls: string[];
  username: string;
  credential: string;
  /** Unix seconds after which coturn refuses the username. */
  expiresAt: number;
}

export const DEFAULT_TURN_TTL_SECONDS = 6 * 3600;

/** credential = base64(HMAC-SHA1(secret, username)), as coturn computes it. */
export function turnCredential(secret: string, username: string): string {
  return createHmac('sha1', secret).update(username).digest('base64');
}

export interface TurnCredentialOptions {
  secret: string;
  urls: string[];
  ttlSeconds?: number;
  /** Milliseconds since the epoch. */
  now?: number;
  /** The part after the colon; random by default so usernames do not link a user's calls. */
  random?: string;
}

/** username = `<expiry-unix>:<random>` (coturn's default REST separator is ':'). */
export function makeTurnCredentials(opts: TurnCredentialOptions): TurnCredentials {
  if (!opts.secret) throw new Error('TURN secret is empty');
  const ttl = opts.ttlSeconds ?? DEFAULT_TURN_TTL_SECONDS;
  if (!Number.isInteger(ttl) || ttl <= 0) throw new RangeError('ttlSeconds must be a positive integer');
  const expiresAt = Math.floor((opts.now ?? Date.now()) / 1000) + ttl;
  const random = opts.random ?? randomBytes(12).toString('base64url');
  if (random.includes(':')) throw new Error('random part must not contain the separator');
  const username = `${expiresAt}:${random}`;
  return { urls: [...opts.urls], username, credential: turnCredential(opts.secret, username), expiresAt };
}

/**
 * Validates `--turn-url` (comma-separated) against RFC 7065 turn:/turns: URIs,
 * so a typo fails at startup rather than as a silent ICE failure mid-call.
 */
export function parseTurnUrls(value: string): string[] {
  const urls = value
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
  if (!urls.length) throw new Error('--turn-url is empty');
  for (const u of urls) {
    if (!/^turns?:(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?(\?transport=(udp|tcp))?$/.test(u)) {
      throw new Error(`--turn-url: not a turn: or turns: URI: ${u}`);
    }
  }
  return urls;
}
