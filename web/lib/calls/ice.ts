/**
 * ICE servers for a call: STUN on our own TX and RX relays (their /v1/status
 * says the UDP port), and TURN credentials from whichever of them offers it.
 */
export interface RelayCallInfo {
  url: string;
  stunPort?: number;
  turn?: boolean;
}

export interface TurnServer {
  urls: string[];
  username: string;
  credential: string;
  expiresAt: number;
}

/** `stun:<host>:<port>` for a relay base URL (IPv6 hosts keep their brackets). */
export function stunUrl(relayUrl: string, port: number): string | undefined {
  try {
    const host = new URL(relayUrl).hostname;
    if (!host || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
    return `stun:${host}:${port}`;
  } catch {
    return undefined;
  }
}

/** Validates a GET /v1/turn answer (relay input: untrusted). */
export function parseTurn(v: unknown, now: number): TurnServer | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (!Array.isArray(o.urls) || o.urls.length === 0 || o.urls.length > 8) return undefined;
  const urls = o.urls.filter((u): u is string => typeof u === 'string' && u.length <= 300 && /^turns?:[^\s]+$/.test(u));
  if (urls.length !== o.urls.length) return undefined;
  if (typeof o.username !== 'string' || o.username.length > 200 || typeof o.credential !== 'string' || o.credential.length > 200) return undefined;
  if (typeof o.expiresAt !== 'number' || o.expiresAt * 1000 < now) return undefined;
  return { urls, username: o.username, credential: o.credential, expiresAt: o.expiresAt };
}

export interface IcePlan {
  servers: RTCIceServer[];
  policy: RTCIceTransportPolicy;
  /** Set when the user asked to hide their address but no relay offers TURN. */
  problem?: 'no_turn';
}

export function icePlan(relays: RelayCallInfo[], turn: TurnServer | undefined, hideAddress: boolean): IcePlan {
  const servers: RTCIceServer[] = [];
  const stuns = [...new Set(relays.map((r) => (r.stunPort ? stunUrl(r.url, r.stunPort) : undefined)).filter((u): u is string => !!u))];
  // Relay-only ICE never uses STUN, and a STUN request would itself show our address to the relay.
  if (stuns.length && !hideAddress) servers.push({ urls: stuns });
  if (turn) servers.push({ urls: turn.urls, username: turn.username, credential: turn.credential });
  if (hideAddress && !turn) return { servers, policy: 'relay', problem: 'no_turn' };
  return { servers, policy: hideAddress ? 'relay' : 'all' };
}
