import * as P from '../../protocol/index.ts';
import type { CommittedMessage } from '../ingest.ts';
import { packetIdOf } from '../ingest.ts';
import type { Logger } from '../log.ts';
import type { Mesh } from './mesh.ts';
import { peerLabel } from './metrics.ts';
import type { MeshOptions } from './options.ts';
import { CANARY_REWARD } from './scores.ts';

type KeyPair = { privateKey: P.PrivateKeyHandle; publicKey: P.PublicKeyHandle };

interface Probe {
  id: string;
  peer: string;
  key: KeyPair;
  sentAt: number;
  /** Seen coming back from a relay other than the one it was given to. */
  returned: boolean;
}

/** Canaries sealed to one key before a fresh key is made: keeps each canary mailbox small and unlinkable for long. */
const CANARIES_PER_KEY = 16;
const MAX_PROBES = 64;
/** Relays asked over REST whether they hold a canary that did not come back through our links. */
const REST_ASKS = 3;
const REST_TIMEOUT_MS = 5000;

/**
 * Drop detection (PROTOCOL.md §9.8). Now and then a canary — an ordinary
 * padded, sealed client packet to a key only this relay holds, kind "canary"
 * inside the sealed plaintext — is handed to ONE peer as a normal `msg`
 * frame, and not stored or sent anywhere else. An honest peer stores and
 * forwards it like any message, so it comes back to us over another link
 * (payload or ihave from a different peer) or is held by other relays, which
 * we ask over REST (GET /v1/messages with a retrieval packet for the canary
 * key). A canary that shows up nowhere after --canary-timeout is lost and
 * costs the peer score; a returned one earns a little back.
 */
export class CanaryProber {
  private readonly probes = new Map<string, Probe>();
  private key: KeyPair | undefined;
  private keyUses = 0;
  private timer: NodeJS.Timeout | undefined;
  private rr = 0;
  private preparing = false;
  /** Peers whose last canary was lost: probed again first. */
  private readonly suspects: string[] = [];
  private readonly counts = { sent: 0, returned: 0, found: 0, lost: 0, inconclusive: 0 };

  constructor(
    private readonly mesh: Mesh,
    private readonly options: MeshOptions,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (!this.options.canaryIntervalMs) return;
    const next = (): void => {
      // ±25% jitter so canaries do not form a recognisable beat.
      const delay = this.options.canaryIntervalMs * (0.75 + Math.random() * 0.5);
      this.timer = setTimeout(() => {
        this.probe().catch((err) => this.log.error({ err }, 'canary failed'));
        next();
      }, delay);
      this.timer.unref();
    };
    next();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  stats(): Record<string, number> {
    return { ...this.counts, outstanding: this.probes.size };
  }

  /** A message was committed here: a canary coming back through another peer. */
  committed(m: CommittedMessage): void {
    const p = this.probes.get(m.id);
    if (p && m.source !== p.peer && m.source !== 'client') p.returned = true;
  }

  /** A peer announced an id we lack: if it is a canary and not from the peer we gave it to, it travelled. */
  announced(id: string, peer: string): void {
    const p = this.probes.get(id);
    if (p && peer !== p.peer) p.returned = true;
  }

  private pickPeer(): string | undefined {
    const up = this.mesh.upPeers().sort();
    if (!up.length) return undefined;
    while (this.suspects.length) {
      const s = this.suspects.shift()!;
      if (up.includes(s)) return s;
    }
    return up[this.rr++ % up.length];
  }

  private async probe(): Promise<void> {
    // One canary in preparation at a time: key generation is slow, and a backlog of them would eat the CPU.
    if (this.preparing || this.probes.size >= MAX_PROBES) return;
    const peer = this.pickPeer();
    if (!peer) return;
    this.preparing = true;
    try {
      await this.prepareAndSend(peer);
    } finally {
      this.preparing = false;
    }
  }

  private async prepareAndSend(peer: string): Promise<void> {
    // A peer with no other link cannot pass a canary on: probing it would blame an honest leaf.
    // A peer already under suspicion (negative score) is probed anyway, or a dropper could
    // escape once its other neighbours had banned it and left it a leaf of ours.
    // So is a peer that is a leaf only because other relays banned it (their /v1/status says so).
    if (this.mesh.scores.score(peer) >= 0) {
      const url = this.mesh.peerUrl(peer);
      const links = url ? await this.peerCount(url) : undefined;
      if (links === undefined) return;
      if (links <= 1 && !(await this.bannedElsewhere(peer))) return;
    }
    if (!this.key || this.keyUses >= CANARIES_PER_KEY) {
      this.key = await this.mesh.engine.generateKeyPair(false);
      this.keyUses = 0;
    }
    const key = this.key;
    this.keyUses++;
    // Content of random length, like a short chat message; the envelope pads it to a bucket.
    const content = P.toBase64(this.mesh.engine.randomBytes(16 + Math.floor(Math.random() * 400)));
    const { packet } = await P.sealPacket(this.mesh.engine, key, key.publicKey, { content, kind: 'canary' });
    const id = packetIdOf(packet);
    const probe: Probe = { id, peer, key, sentAt: Date.now(), returned: false };
    if (!this.mesh.sendPayloadTo(peer, packet)) return;
    this.probes.set(id, probe);
    this.counts.sent++;
    this.mesh.metrics.canaries.labels('sent').inc();
    setTimeout(() => {
      this.judge(probe).catch((err) => this.log.error({ err }, 'canary check failed'));
    }, this.options.canaryTimeoutMs).unref();
  }

  private outcome(p: Probe, result: 'returned' | 'found' | 'lost' | 'inconclusive'): void {
    this.probes.delete(p.id);
    this.counts[result]++;
    this.mesh.metrics.canaries.labels(result).inc();
    if (result === 'returned' || result === 'found') this.mesh.scores.reward(p.peer, CANARY_REWARD);
    else if (result === 'lost') {
      this.log.warn({ peer: peerLabel(p.peer) }, 'canary lost: peer did not pass it on');
      this.mesh.metrics.violations.labels(peerLabel(p.peer), 'canary_lost').inc();
      this.suspects.push(p.peer);
      this.mesh.scores.penalise(p.peer, 'canary_lost');
    }
  }

  private async judge(p: Probe): Promise<void> {
    if (p.returned || this.mesh.relay.has(p.id)) return this.outcome(p, 'returned');
    // Not back through our links: ask other relays whether they hold it.
    const others = this.others(p.peer);
    let answered = 0;
    for (const d of others) {
      const r = await this.holds(d, p);
      if (r === true) return this.outcome(p, 'found');
      if (r === false) answered++;
    }
    if (p.returned || this.mesh.relay.has(p.id)) return this.outcome(p, 'returned');
    // Nobody to ask is no evidence either way.
    if (answered === 0) return this.outcome(p, 'inconclusive');
    this.outcome(p, 'lost');
  }

  /** true / false when the relay answered, undefined when it could not be asked. */
  private async holds(d: P.RelayDescriptor, p: Probe): Promise<boolean | undefined> {
    try {
      const header = P.encodeRetrievalHeader(await P.signRetrieval(this.mesh.engine, p.key, d.id, { now: this.mesh.clock.now() }));
      const r = await fetch(`${d.url}/v1/messages?limit=500`, { headers: { 'x-retrieval': header }, signal: AbortSignal.timeout(REST_TIMEOUT_MS) });
      if (r.status !== 200) return undefined;
      const body = (await r.json()) as { messages?: { id?: unknown }[] };
      return !!body.messages?.some((m) => m.id === p.id);
    } catch {
      return undefined;
    }
  }

  /** Whether any of a few other relays lists `peer` among its bans. */
  private async bannedElsewhere(peer: string): Promise<boolean> {
    const others = this.others(peer);
    for (const d of others) {
      try {
        const r = await fetch(`${d.url}/v1/status`, { signal: AbortSignal.timeout(REST_TIMEOUT_MS) });
        if (r.status !== 200) continue;
        const s = (await r.json()) as { mesh?: { banned?: unknown } };
        if (Array.isArray(s.mesh?.banned) && s.mesh.banned.includes(peer)) return true;
      } catch {
        // unreachable relays say nothing
      }
    }
    return false;
  }

  /** Up to REST_ASKS relays from the server list other than this one and `peer`, in random order. */
  private others(peer: string): P.RelayDescriptor[] {
    return this.mesh.relay.directory
      .list()
      .filter((d) => d.id !== this.mesh.identity.id && d.id !== peer && !this.mesh.scores.isBanned(d.id))
      .sort(() => Math.random() - 0.5)
      .slice(0, REST_ASKS);
  }

  private async peerCount(url: string): Promise<number | undefined> {
    try {
      const r = await fetch(`${url}/v1/status`, { signal: AbortSignal.timeout(REST_TIMEOUT_MS) });
      if (r.status !== 200) return undefined;
      const s = (await r.json()) as { peers?: unknown };
      return typeof s.peers === 'number' ? s.peers : undefined;
    } catch {
      return undefined;
    }
  }
}
