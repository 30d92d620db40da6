import type { ServerRecord } from '../db/records.ts';

/**
 * Relay choice. Clients send through the least-loaded relay (TX) and receive
 * through a different least-loaded one (RX), so no single relay sees both
 * what a user sends and what they receive. A relay that failed recently is
 * skipped for a back-off that grows with consecutive failures; a relay whose
 * key changed since we pinned it is never chosen until the user accepts.
 */
export const UNKNOWN_LOAD = 0.75;
const BACKOFF_BASE_MS = 5_000;
const BACKOFF_MAX_MS = 10 * 60_000;

export function backoffMs(failures: number): number {
  if (failures <= 0) return 0;
  return Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(failures - 1, 16));
}

export function usable(s: ServerRecord, now: number): boolean {
  if (s.keyChanged) return false;
  if (s.failures > 0 && s.lastFailureAt !== undefined && now - s.lastFailureAt < backoffMs(s.failures)) return false;
  return true;
}

/**
 * Usable relays, best first, each relay once: one relay known under two
 * addresses (its name and its IP, say) has one id, and counting it twice
 * would let it be TX and RX, or both proxies, at once. Of its addresses the
 * one in `prefer` (the current RX) is kept, else the best ranked.
 */
export function rank(servers: ServerRecord[], now: number, prefer?: string): ServerRecord[] {
  const sorted = servers
    .filter((s) => usable(s, now))
    .sort((a, b) => (a.load ?? UNKNOWN_LOAD) - (b.load ?? UNKNOWN_LOAD) || a.failures - b.failures || (b.lastSeen ?? 0) - (a.lastSeen ?? 0) || a.url.localeCompare(b.url));
  // One address per relay id: the first (best) one, unless `prefer` is another of them.
  const kept = new Map<string, ServerRecord>();
  for (const s of sorted) if (s.id && (!kept.has(s.id) || s.url === prefer)) kept.set(s.id, s);
  return sorted.filter((s) => !s.id || kept.get(s.id) === s);
}

export interface Choice {
  tx?: string;
  rx?: string;
  /** True when only one relay is usable and it must do both jobs. */
  shared: boolean;
  /** Dual proxy: TX traffic goes client → txProxy → tx, RX polling client → rxProxy → rx. */
  txProxy?: string;
  rxProxy?: string;
  /** off: not wanted; full: four distinct relays; shared: one proxy for both; unavailable: wanted, too few relays. */
  proxyMode?: 'off' | 'full' | 'shared' | 'unavailable';
}

/**
 * Picks TX then RX. `keepRx` keeps the current RX while it stays usable: the
 * RX relay holds our subscription and cursor, and hopping it needlessly costs
 * a reconnect (and, with a mesh, gains nothing).
 */
export function chooseRelays(servers: ServerRecord[], now: number, keepRx?: string): Choice {
  const ranked = rank(servers, now, keepRx);
  if (ranked.length === 0) return { shared: false };
  // A relay suspected of dropping (drop-watch.ts) is the last resort as TX.
  const suspect = (s: ServerRecord) => s.suspectUntil !== undefined && s.suspectUntil > now;
  const txOrder = [...ranked.filter((s) => !suspect(s)), ...ranked.filter(suspect)];
  const rxKept = keepRx ? ranked.find((s) => s.url === keepRx) : undefined;
  if (rxKept && ranked.length > 1) {
    const tx = txOrder.find((s) => s.url !== rxKept.url)!;
    if (!suspect(tx) || txOrder.every(suspect)) return { tx: tx.url, rx: rxKept.url, shared: false };
  }
  const tx = txOrder[0]!;
  const rx = (rxKept && rxKept.url !== tx.url ? rxKept : undefined) ?? ranked.find((s) => s.url !== tx.url);
  return rx ? { tx: tx.url, rx: rx.url, shared: false } : { tx: tx.url, rx: tx.url, shared: true };
}

/**
 * Picks the two proxies of the dual proxy among relays we can seal to (id and
 * pinned key known), other than TX and RX. Two distinct ones when there are;
 * one shared by TX and RX when there is one; none (and `unavailable`) otherwise.
 */
export const PROXY_MIN_RELAYS = 4;
export function chooseProxies(servers: ServerRecord[], now: number, c: Choice, wanted: boolean): Choice {
  const base: Choice = { tx: c.tx, rx: c.rx, shared: c.shared };
  if (c.tx === undefined) delete base.tx;
  if (c.rx === undefined) delete base.rx;
  if (!wanted) return { ...base, proxyMode: 'off' };
  const usableTargets = (u: string | undefined) => servers.some((s) => s.url === u && s.id && s.publicKey);
  // By address and by id: another address of TX or RX is the same relay.
  const takenIds = new Set(servers.filter((s) => s.url === c.tx || s.url === c.rx).map((s) => s.id));
  const candidates = rank(servers, now).filter((s) => s.url !== c.tx && s.url !== c.rx && s.id && !takenIds.has(s.id) && s.publicKey);
  if (!c.tx || !c.rx || c.shared || !usableTargets(c.tx) || !usableTargets(c.rx) || candidates.length === 0) return { ...base, proxyMode: 'unavailable' };
  if (candidates.length === 1) return { ...base, txProxy: candidates[0]!.url, rxProxy: candidates[0]!.url, proxyMode: 'shared' };
  return { ...base, txProxy: candidates[0]!.url, rxProxy: candidates[1]!.url, proxyMode: 'full' };
}

export type PinVerdict = 'new' | 'same' | 'changed';

/** Trust on first use: a relay key is pinned the first time we see it. */
export function checkPin(server: ServerRecord | undefined, publicKey: string): PinVerdict {
  if (!server?.publicKey) return 'new';
  return server.publicKey === publicKey ? 'same' : 'changed';
}

export function recordFailure(s: ServerRecord, now: number): ServerRecord {
  return { ...s, failures: s.failures + 1, lastFailureAt: now };
}

export function recordSuccess(s: ServerRecord, now: number, load?: number): ServerRecord {
  const out: ServerRecord = { ...s, failures: 0, lastSeen: now };
  if (load !== undefined) out.load = load;
  return out;
}

/** Seeds: the origin that served the app (when it is a relay) plus the bundled list. */
export function seedList(origin: string | undefined, bundled: unknown): { url: string; source: 'origin' | 'bundled' }[] {
  const out: { url: string; source: 'origin' | 'bundled' }[] = [];
  const add = (u: unknown, source: 'origin' | 'bundled') => {
    const url = normalise(u);
    if (url && !out.some((x) => x.url === url)) out.push({ url, source });
  };
  if (origin) add(origin, 'origin');
  const list = Array.isArray(bundled) ? bundled : typeof bundled === 'object' && bundled !== null ? (bundled as { relays?: unknown }).relays : undefined;
  if (Array.isArray(list)) for (const u of list.slice(0, 32)) add(u, 'bundled');
  return out;
}

export function normalise(u: unknown): string | undefined {
  if (typeof u !== 'string' || u.length > 512) return undefined;
  try {
    const url = new URL(u.trim());
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
    if (url.username || url.password || url.search || url.hash) return undefined;
    return url.origin + url.pathname.replace(/\/+$/, '');
  } catch {
    return undefined;
  }
}
