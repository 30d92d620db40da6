import { getStatus } from '../net/relay-api.ts';
import type { RelayStatus } from '../net/wire.ts';

/** How to ask a relay for its status: directly, or through the dual proxy (ServerManager.status). */
export type StatusOf = (url: string) => Promise<RelayStatus>;
import { icePlan, parseTurn, type IcePlan, type RelayCallInfo, type TurnServer } from './ice.ts';

const TIMEOUT_MS = 5000;

async function turnFrom(url: string, now: number): Promise<TurnServer | undefined> {
  try {
    const res = await fetch(`${url.replace(/\/+$/, '')}/v1/turn`, { signal: AbortSignal.timeout(TIMEOUT_MS), cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' });
    if (!res.ok) return undefined;
    const text = await res.text();
    return text.length > 4096 ? undefined : parseTurn(JSON.parse(text), now);
  } catch {
    return undefined;
  }
}

/** What our relays offer right now (status), without failing a call over one unreachable relay. */
export async function relayCallInfo(relays: string[], statusOf: StatusOf = getStatus): Promise<RelayCallInfo[]> {
  const out = await Promise.all(
    [...new Set(relays)].map(async (url): Promise<RelayCallInfo | undefined> => {
      try {
        const s = await statusOf(url);
        return { url, ...(s.stunPort ? { stunPort: s.stunPort } : {}), ...(s.turn ? { turn: true } : {}) };
      } catch {
        return undefined;
      }
    }),
  );
  return out.filter((r): r is RelayCallInfo => !!r);
}

/** ICE servers for one call: STUN from the TX/RX relays, TURN from the first of them that offers it. */
export async function loadIcePlan(relays: string[], hideAddress: boolean, now = Date.now(), statusOf: StatusOf = getStatus): Promise<IcePlan> {
  const info = await relayCallInfo(relays, statusOf);
  let turn: TurnServer | undefined;
  for (const r of info) if (r.turn && !turn) turn = await turnFrom(r.url, now);
  return icePlan(info, turn, hideAddress);
}
