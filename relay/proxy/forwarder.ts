import { LRUCache } from 'lru-cache';
import * as P from '../../protocol/index.ts';
import type { Clock } from '../clock.ts';
import { knownStatus, RelayError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { ServerDirectory } from '../servers.ts';
import type { ProxyOptions } from './options.ts';
import { Outbound, type OutboundResponse } from './outbound.ts';

/** A live mesh link as the mesh reports it (Mesh.status().peers). */
export interface LinkView {
  id: string;
  url?: string;
  direction: 'in' | 'out';
}

/** Largest destination answer a proxy passes on: the biggest sealed response bucket, base64, in {"envelope":…}. */
export const MAX_FORWARD_RESPONSE = P.b64Len(P.FORWARD_RESPONSE_BUCKETS[5] + 1 + P.IV_BYTES + P.TAG_BYTES) + 256;
const PROBE_OK_MS = 10 * 60_000;
const PROBE_FAIL_MS = 30_000;
const PROBE_TIMEOUT_MS = 5000;
const PROBE_MAX_BYTES = 256 * 1024;

type Proof = 'ok' | 'mismatch' | 'unreachable';

/**
 * Proxy role of the dual proxy. A forward goes only to a relay that is in
 * this relay's verified directory (a fresh descriptor signed by that relay's
 * key) and has proven that key at the descriptor's URL:
 *  - a live mesh link this relay dialed at exactly that URL, authenticated
 *    as that id (relay/mesh/link.ts handshake), or
 *  - GET <url>/v1/status answering the same id and public_key (cached 10 min,
 *    failures 30 s).
 * Loopback/private/reserved targets (checked on the resolved address, see
 * addresses.ts) are reached only when the relay is such a dialed mesh peer or
 * its URL is one of this relay's --peer URLs; everything else must be public.
 */
export class Forwarder {
  private readonly outbound: Outbound;
  private readonly proofs = new LRUCache<string, { result: Proof; until: number }>({ max: 4096 });
  private readonly probing = new Map<string, Promise<Proof>>();
  private links: () => LinkView[] = () => [];
  /** mesh.status() builds more than the link list: read it at most once a second. */
  private linkCache: { at: number; links: LinkView[] } = { at: -Infinity, links: [] };
  private inflight = 0;

  constructor(
    private readonly deps: {
      directory: ServerDirectory;
      selfId: string;
      configuredPeers: readonly string[];
      options: ProxyOptions;
      clock: Clock;
      log: Logger;
    },
  ) {
    this.outbound = new Outbound(deps.options.outboundAddress, deps.options.forwardConcurrency);
  }

  /** The mesh tells the forwarder which links are up (main.ts wires it). */
  setPeerLinks(fn: () => LinkView[]): void {
    this.links = fn;
    this.linkCache = { at: -Infinity, links: [] };
  }

  private currentLinks(): LinkView[] {
    const now = performance.now();
    if (now - this.linkCache.at > 1000) {
      const l = this.links();
      this.linkCache = { at: now, links: Array.isArray(l) ? l : [] };
    }
    return this.linkCache.links;
  }

  /** Forwards a parsed packet; resolves with the destination's answer as received. */
  async forward(packet: P.ForwardPacket, signal?: AbortSignal): Promise<OutboundResponse> {
    const { directory, selfId, clock, options } = this.deps;
    if (packet.to === selfId) throw new RelayError('forward_refused', 'the target is this relay: POST the packet to /v1/forwarded instead');
    const d = directory.get(packet.to);
    if (!d || clock.now() - Date.parse(d.timestamp) > P.DESCRIPTOR_MAX_AGE_MS)
      throw new RelayError('unknown_relay', 'the target relay is not in this relay\'s verified server list');
    const dialed = this.currentLinks().some((l) => l.direction === 'out' && l.id === d.id && l.url === d.url);
    const allowInternal = dialed || this.deps.configuredPeers.includes(d.url);
    if (!dialed) {
      const proof = await this.prove(d, allowInternal);
      if (proof === 'unreachable') throw new RelayError('forward_refused', 'the target relay\'s URL could not be checked (unreachable, or a private address that is not a verified peer)');
      if (proof === 'mismatch') throw new RelayError('forward_refused', 'the relay at the target\'s URL did not prove the target\'s key');
    }
    if (this.inflight >= options.forwardConcurrency) throw new RelayError('overloaded', 'too many forwards in flight; retry shortly', 1);
    this.inflight++;
    try {
      return await this.outbound.request({
        base: d.url,
        method: 'POST',
        path: '/v1/forwarded',
        body: JSON.stringify({ to: packet.to, envelope: packet.envelope }),
        allowInternal,
        timeoutMs: options.forwardTimeoutMs,
        maxBytes: MAX_FORWARD_RESPONSE,
        signal,
      });
    } finally {
      this.inflight--;
    }
  }

  /** Whether the relay at d.url answers with d's id and key (cached). */
  private prove(d: P.RelayDescriptor, allowInternal: boolean): Promise<Proof> {
    const key = `${d.id} ${d.url} ${allowInternal ? 1 : 0}`;
    const now = this.deps.clock.now();
    const cached = this.proofs.get(key);
    if (cached && cached.until > now) return Promise.resolve(cached.result);
    let p = this.probing.get(key);
    if (!p) {
      p = this.probe(d, allowInternal).then((result) => {
        this.proofs.set(key, { result, until: this.deps.clock.now() + (result === 'ok' ? PROBE_OK_MS : PROBE_FAIL_MS) });
        this.probing.delete(key);
        return result;
      });
      this.probing.set(key, p);
    }
    return p;
  }

  private async probe(d: P.RelayDescriptor, allowInternal: boolean): Promise<Proof> {
    let r: OutboundResponse;
    try {
      r = await this.outbound.request({ base: d.url, method: 'GET', path: '/v1/status', allowInternal, timeoutMs: PROBE_TIMEOUT_MS, maxBytes: PROBE_MAX_BYTES });
    } catch (err) {
      this.deps.log.debug({ relay: d.id.slice(0, 12), err: (err as Error).message }, 'forward target probe failed');
      return 'unreachable';
    }
    if (r.status !== 200) return 'mismatch';
    try {
      const s = JSON.parse(r.body.toString('utf8')) as { id?: unknown; public_key?: unknown };
      return s.id === d.id && s.public_key === d.public_key ? 'ok' : 'mismatch';
    } catch {
      return 'mismatch';
    }
  }

  /** Passes on a destination's status only when it is one a status line can carry. */
  static statusOf(r: OutboundResponse): number {
    return knownStatus(r.status) ? r.status : 502;
  }

  close(): void {
    this.outbound.close();
  }
}
