import { hash } from 'node:crypto';
import * as P from '../../protocol/index.ts';
import type { Relay } from '../app.ts';
import type { AcceptedMessage } from '../ingest.ts';
import type { Logger } from '../log.ts';
import { RecentMap } from '../recent.ts';
import { CanaryProber } from './canary.ts';
import { encodeMsgFrame, type Frame, MAX_IDS, MAX_PREFIXES, MAX_TTL, msgFramePacket, msgFrameTtl, setTtl } from './frames.ts';
import { CLOSE, type LinkHost, type PeerLink, SOFT_BUFFER } from './link.ts';
import { acceptPeers, dialPeer, type PeerSockets } from './transports.ts';
import { MeshMetrics, type PeerTallies, peerLabel } from './metrics.ts';
import type { MeshOptions } from './options.ts';
import { diffChildren, type IdSnapshot, LIST_BELOW, SnapshotSource } from './reconcile.ts';
import { ScoreBook } from './scores.ts';
import { Ticker } from './ticker.ts';
import { GraftTimer } from './graft-timer.ts';

/** A relay this one dials: a --peer URL or one learned from a server list. */
interface DialTarget {
  url: string;
  id: string | undefined;
  configured: boolean;
  attempt: number;
  nextAt: number;
  link: PeerLink | undefined;
  self: boolean;
}

/** An id announced (ihave) but not held yet. */
interface Missing {
  ttl: number;
  /** Peers that announced (or sent) the id, not yet asked in this round. */
  announcers: string[];
  /** Peers asked in this round: asked again in the next, when no usable answer came. */
  asked: string[];
  /** 0 while the announcers are first tried; then each re-ask of them all. */
  round: number;
  dueAt: number;
  /** Announced by catch-up: forward by announcing once held. */
  catchup: boolean;
}

/** Per-link catch-up bookkeeping (requester and responder sides). */
interface Catchup {
  /** Ids the peer holds and we lack, waiting to be requested. */
  queue: string[];
  queued: Set<string>;
  outstanding: Map<string, number>;
  tokens: number;
  tokensAt: number;
  /** Responder side: ids the peer asked for that did not fit the send buffer yet. */
  serve: string[];
  /** More ids differed than the queue holds: reconcile again once it has drained. */
  overflow: boolean;
  /** When the link came up (performance.now()): ids summarised for this peer must include all held by then. */
  since: number;
  /** When this side next reconciles again (anti-entropy, --reconcile-interval). */
  nextSyncAt: number;
}

const DIAL_TICK_MS = 250;
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 30_000;
const MISSING_MAX = 100_000;
/**
 * Announcements to lazy peers wait this long to share a frame (Plumtree's lazy
 * push may be batched). Sent per event-loop turn instead, a quiet mesh sent
 * more ihave frames than payloads (16 per message on ten relays at 50 msg/s,
 * against 9 msg frames), each a wake-up, a write and a read. The lazy path
 * only repairs: it adds this to the graft timeout, not to delivery.
 */
const IHAVE_DELAY_MS = 30;
/** A lazy link that still pushes to us is told again at most this often (see duplicateFrom). */
const PRUNE_REPEAT_MS = 1000;
/** No payload pushed to us for this long (or twice the graft timeout): no eager parent reaches us. */
const OFF_TREE_MS = 1000;
const CATCHUP_QUEUE_MAX = 200_000;
const CATCHUP_OUTSTANDING = 256;
/** A catch-up request unanswered this long is handed to the retry path (the answer may only be slow: a retry then costs a duplicate). */
const CATCHUP_REQUEST_TIMEOUT_MS = 5000;
/** How long a requested id is remembered, so a late copy of it does not prune the link it came on. */
const REQUESTED_KEEP_MS = 15_000;
const SERVE_QUEUE_MAX = 8192;
/** Most ids one ids_req prefix is answered with: 16× what an honest peer lists (LIST_BELOW), for growth since our summary. */
const IDS_LIST_MAX = 16 * LIST_BELOW;
/**
 * A requested id whose answer never came usable (lost with a closing link,
 * dropped by a full serve queue, refused while the store was overloaded) is
 * asked for again, of every announcer in turn, this long times the round, for
 * at most this many rounds after the first. Without it a relay with one peer
 * lost such ids until the next reconciliation.
 */
const RETRY_MS = 2000;
const RETRY_ROUNDS = 3;
/** How often links are checked for a due anti-entropy reconciliation. */
const RECONCILE_TICK_MS = 1000;

/**
 * The relay mesh: peer links over WebSocket (accepted on /v1/peer with uWS,
 * dialed with `ws`), flooding of accepted messages (plain, or plumtree's
 * eager/lazy push), catch-up reconciliation when a link opens, server-list
 * exchange, and peer scoring with canaries and bans. It hangs off the relay
 * only through Relay's mesh hooks: onAccepted, ingest(packet, peerId), has,
 * the store, the directory and the uWS app.
 */
export class Mesh implements LinkHost {
  readonly identity;
  readonly engine: P.CryptoEngine;
  readonly clock;
  readonly metrics: MeshMetrics;
  readonly scores: ScoreBook;
  readonly peerRate: number;
  private readonly links = new Set<PeerLink>();
  private readonly peers = new Map<string, PeerLink>();
  private readonly targets = new Map<string, DialTarget>();
  /**
   * The payload being ingested from a peer: the hop budget it came with,
   * whether catch-up brought it, and the frame (forwarded as is but for the
   * ttl). Ingesting is synchronous up to acceptance or refusal, so there is
   * at most one, and a field rather than a Map: a long-lived Map with an add
   * and a delete per message chains its obsolete tables, which under V8 keeps
   * every payload since the last mark-compact alive through scavenges (see
   * MessageStore's queuedIds).
   */
  private inflight: { id: string; ttl: number; from: string; catchup: boolean; frame: Buffer; link: PeerLink; answer: boolean } | undefined;
  /**
   * Ids requested (iwant/graft) and from whom, kept after the answer (until
   * the 15 s sweep): a copy of a requested id that comes later from an eager
   * peer is that peer being slow, not a redundant link, and must not prune it.
   */
  private readonly requested = new Map<string, { peer: string; ttl: number; catchup: boolean; at: number; answered?: boolean }>();
  private readonly missing = new Map<string, Missing>();
  /** --test-fault lose-answers: ids whose first request was ignored. */
  private readonly lostOnce = new RecentMap<string, boolean>(100_000);
  /** Replaced, not cleared, at each flush: Map.clear() links the old table to the new one (see inflight). */
  private ihaveQueue = new Map<PeerLink, string[]>();
  private ihaveTtl = new Map<string, number>();
  private ihaveScheduled = false;
  private readonly snapshots: SnapshotSource;
  private readonly canary: CanaryProber;
  private readonly timers: NodeJS.Timeout[] = [];
  /** Grafts announced ids that did not arrive in time; runs while any are missing. */
  private readonly missingTicker: Ticker;
  /** Catch-up pacing and request timeouts; runs while any link has catch-up work. */
  private readonly catchupTicker: Ticker;
  readonly graftTimer: GraftTimer;
  private readonly sockets: PeerSockets;
  /** When a new payload last arrived pushed (from a peer we had not asked): proof an eager parent reaches us. */
  private lastPushAt = -Infinity;
  /** The link that last pushed us a first copy while we let it push (not pruned since): never pruned for a duplicate. */
  private lastWinner: PeerLink | undefined;
  private closing = false;
  private unsubscribe: (() => void) | undefined;

  constructor(
    readonly relay: Relay,
    readonly options: MeshOptions,
    readonly log: Logger,
  ) {
    this.identity = relay.identity;
    this.engine = relay.engine;
    this.clock = relay.clock;
    this.peerRate = options.peerRate;
    this.scores = new ScoreBook(relay.config.dataDir, relay.clock, options.banMs, log, (id) => this.banned(id));
    this.snapshots = new SnapshotSource(relay.store, () => relay.clock.now());
    this.metrics = new MeshMetrics(relay.metrics.registry, {
      peers: () => this.peers.size,
      eager: () => [...this.peers.values()].filter((l) => l.eager).length,
      graft: () => ({ timeoutMs: this.graftTimer.ms, spurious: this.graftTimer.spurious }),
      scores: () => this.scores.list().map((s) => ({ id: s.id, score: s.score, banned: s.banned_until !== null })),
    });
    this.canary = new CanaryProber(this, options, log);
    this.graftTimer = new GraftTimer(options.graftTimeoutMs);
    this.missingTicker = new Ticker(Math.max(10, Math.min(50, options.graftTimeoutMs / 3)), () => this.missingSweep());
    this.catchupTicker = new Ticker(50, () => {
      let more = false;
      for (const l of this.peers.values()) more = this.pumpCatchup(l) || more;
      return more;
    });
    for (const url of relay.config.peers) this.addTarget(url, undefined, true);
    this.sockets = {
      host: this,
      // At most 32 links still in their handshake: a cheap cap on unauthenticated sockets.
      roomForInbound: () => !this.closing && this.peers.size < this.relay.config.maxPeers && [...this.links].filter((l) => !l.up).length < 32,
      opened: (link) => this.links.add(link),
      drained: (link) => {
        if (link.up) this.serveCatchup(link);
      },
    };
    acceptPeers(relay.app, relay.http, this.sockets);
    relay.setPeers(() => this.peers.size);
    relay.addStatus('mesh', () => this.status());
  }

  // ---------------------------------------------------------------- lifecycle

  start(): void {
    // Forward on acceptance (valid, new, queued for the group commit), not
    // after the commit: five hops would otherwise wait for five commits. A
    // relay that dies before its commit has already passed the message on,
    // and gets it back by catch-up when it returns (PROTOCOL.md §9).
    this.unsubscribe = this.relay.onAccepted((m) => this.committed(m));
    const every = (ms: number, fn: () => void): void => {
      const t = setInterval(fn, ms);
      t.unref();
      this.timers.push(t);
    };
    every(DIAL_TICK_MS, () => this.dialTick());
    if (this.options.reconcileIntervalMs > 0) every(Math.min(RECONCILE_TICK_MS, this.options.reconcileIntervalMs), () => this.periodicReconcile());
    // Requests a peer never answered (it lacked the id, or lied about having it) are forgotten.
    every(5000, () => {
      const old = performance.now() - REQUESTED_KEEP_MS;
      for (const [id, r] of this.requested) if (r.at < old) this.requested.delete(id);
    });
    every(this.options.gossipIntervalMs, () => {
      for (const l of this.peers.values()) this.requestServers(l);
    });
    if (this.options.testFault === 'garbage') every(200, () => this.faultGarbage());
    if (this.options.testFault === 'flood') every(100, () => this.faultFlood());
    if (this.options.testFault) this.log.warn({ fault: this.options.testFault }, 'TEST FAULT ENABLED: this relay misbehaves on purpose');
    this.canary.start();
    this.dialTick();
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const t of this.timers) clearInterval(t);
    this.missingTicker.stop();
    this.catchupTicker.stop();
    this.canary.stop();
    this.unsubscribe?.();
    for (const l of [...this.links]) l.close(CLOSE.shutdown, 'relay shutting down');
    this.scores.save();
    await new Promise((r) => setImmediate(r));
  }

  // ---------------------------------------------------------------- dialing

  private addTarget(url: string, id: string | undefined, configured: boolean): void {
    const t = this.targets.get(url);
    if (t) {
      if (id && !t.id) t.id = id;
      return;
    }
    if (this.targets.size >= P.MAX_KNOWN_SERVERS * 2 && !configured) return;
    this.targets.set(url, { url, id, configured, attempt: 0, nextAt: 0, link: undefined, self: url === this.relay.config.publicUrl });
  }

  private dialTick(): void {
    if (this.closing) return;
    const now = this.clock.now();
    const dialing = [...this.targets.values()].filter((t) => t.link && !t.link.up && t.link.state !== 'closed').length;
    for (const t of this.targets.values()) {
      if (t.self || t.nextAt > now) continue;
      if (t.link && t.link.state !== 'closed') continue;
      if (t.id && (this.peers.has(t.id) || this.scores.isBanned(t.id) || t.id === this.identity.id)) continue;
      const room = this.relay.config.maxPeers - this.peers.size - dialing;
      if (room <= 0) return;
      if (!t.configured && this.peers.size >= this.options.targetPeers) continue;
      t.nextAt = now + backoff(t.attempt);
      t.attempt++;
      t.link = dialPeer(t.url, t.id, this.sockets);
    }
  }

  // ---------------------------------------------------------------- LinkHost

  descriptor(): P.RelayDescriptor {
    return this.relay.directory.descriptor;
  }

  isBanned(id: string): boolean {
    return this.scores.isBanned(id);
  }

  linkUp(link: PeerLink): boolean {
    const id = link.peerId;
    if (link.direction === 'out' && link.dialUrl) {
      const t = this.targets.get(link.dialUrl);
      if (t) t.id = id; // even when refused below: a URL already linked is not dialed again
    }
    const existing = this.peers.get(id);
    if (existing) {
      // Two links to one relay (both dialed at once, or a stale one): keep the one
      // dialed by the lower id; when both came from the same side, keep the newer.
      const dialerOf = (l: PeerLink): string => (l.direction === 'out' ? this.identity.id : id);
      const keeper = this.identity.id < id ? this.identity.id : id;
      const keepNew = dialerOf(link) === dialerOf(existing) || dialerOf(link) === keeper;
      if (!keepNew) {
        this.metrics.handshakes.labels(link.direction, 'duplicate').inc();
        link.close(CLOSE.duplicate, 'already linked');
        return false;
      }
      this.metrics.handshakes.labels(existing.direction, 'duplicate').inc();
      this.peers.delete(id);
      existing.close(CLOSE.duplicate, 'replaced by a newer link');
    } else if (this.peers.size >= this.relay.config.maxPeers) {
      this.metrics.handshakes.labels(link.direction, 'full').inc();
      link.close(CLOSE.full, 'no room for another peer');
      return false;
    }
    this.metrics.handshakes.labels(link.direction, 'ok').inc();
    this.peers.set(id, link);
    link.eager = true;
    const now = performance.now();
    link.catchup = { queue: [], queued: new Set(), outstanding: new Map(), tokens: 0, tokensAt: now, serve: [], overflow: false, since: now, nextSyncAt: this.nextSync(now) } satisfies Catchup;
    const d = link.descriptor!;
    this.relay.directory.put(d);
    if (link.direction === 'out' && link.dialUrl) {
      const t = this.targets.get(link.dialUrl);
      if (t) t.attempt = 0;
    }
    this.addTarget(d.url, id, false);
    this.log.info({ peer: peerLabel(id), url: d.url, direction: link.direction }, 'peer link up');
    this.requestServers(link);
    this.reconcile(link, 'link_up');
    return true;
  }

  linkClosed(link: PeerLink, code: number, reason: string): void {
    this.links.delete(link);
    if (this.lastWinner === link) this.lastWinner = undefined;
    if (code === CLOSE.self) this.metrics.handshakes.labels(link.direction, 'self').inc();
    this.ihaveQueue.delete(link);
    const wasPeer = link.peerId !== '' && this.peers.get(link.peerId) === link;
    if (wasPeer) {
      this.peers.delete(link.peerId);
      this.metrics.disconnects.labels(closeReason(code)).inc();
      if (!this.closing) this.log.info({ peer: peerLabel(link.peerId), code, reason }, 'peer link down');
      const c = link.catchup as Catchup | undefined;
      if (c) for (const id of c.outstanding.keys()) this.requested.delete(id);
    }
    if (link.direction === 'out' && link.dialUrl) {
      const t = this.targets.get(link.dialUrl);
      if (t && t.link === link) {
        t.link = undefined;
        if (code === CLOSE.self) t.self = true;
        // A link that was up comes back quickly; one that never got up backs off.
        if (link.upAt) t.nextAt = this.clock.now() + Math.random() * BACKOFF_BASE_MS;
      }
    }
  }

  handshakeFailed(link: PeerLink, reason: string, claimedId: string | undefined): void {
    this.metrics.handshakes.labels(link.direction, 'failed').inc();
    this.log.debug({ direction: link.direction, reason, url: link.dialUrl }, 'peer handshake failed');
    // Only a relay we dialed by a known id can be blamed: anyone can claim an id on an inbound socket.
    if (link.direction === 'out' && link.expectedId && claimedId === link.expectedId) this.penalise(link.expectedId, 'bad_handshake');
  }

  violation(link: PeerLink, reason: 'bad_frame' | 'rate', err?: unknown): void {
    this.metrics.violations.labels(peerLabel(link.peerId), reason).inc();
    if (reason === 'bad_frame') this.log.debug({ peer: peerLabel(link.peerId), err: (err as Error)?.message }, 'bad peer frame');
    this.penalise(link.peerId, reason);
  }

  private penalise(id: string, reason: Parameters<ScoreBook['penalise']>[1]): void {
    this.scores.penalise(id, reason);
  }

  /** ScoreBook's ban hook: cut the link, forget the relay in the shared list. */
  private banned(id: string): void {
    this.metrics.bans.inc();
    this.relay.directory.delete(id);
    const l = this.peers.get(id);
    if (l) l.close(CLOSE.banned, 'banned');
  }

  // ---------------------------------------------------------------- frames in

  /** The link's metric series (links only reach frame/payload/send once up, so peerId is known). */
  private tallies(link: PeerLink): PeerTallies {
    return (link.tallies ??= this.metrics.peer(link.peerId));
  }

  frame(link: PeerLink, f: Frame, bytes: number): void {
    const t = this.tallies(link);
    t.frameIn(f.type).inc();
    t.bytesIn.inc(bytes);
    switch (f.type) {
      case 'ihave':
        this.onIhave(link, f.ttl, f.ids);
        break;
      case 'iwant':
        this.serveIds(link, f.ids);
        break;
      case 'graft':
        link.eager = true;
        this.serveIds(link, f.ids);
        break;
      case 'prune':
        link.eager = false;
        break;
      case 'sum_req':
        void this.onSumReq(link, f.prefixes);
        break;
      case 'sum':
        void this.onSum(link, f.prefix, f.counts, f.hashes);
        break;
      case 'ids_req':
        void this.onIdsReq(link, f.prefixes);
        break;
      case 'ids':
        this.onIds(link, f.ids);
        break;
      case 'server_list_request':
        try {
          P.parseServerListRequest(f.raw);
          this.send(link, 'server_list_response', JSON.stringify(this.relay.directory.response()));
        } catch (e) {
          this.violation(link, 'bad_frame', e);
        }
        break;
      case 'server_list_response':
        void this.onServerList(link, f.raw);
        break;
    }
  }

  /** A binary frame: a payload (msg), PROTOCOL.md §9.1. */
  payload(link: PeerLink, frame: Buffer): void {
    const t = this.tallies(link);
    t.frameIn('msg').inc();
    t.bytesIn.inc(frame.length);
    this.metrics.payloadBytesIn.inc(frame.length);
    let ttl: number;
    try {
      ttl = msgFrameTtl(frame);
    } catch (e) {
      this.violation(link, 'bad_frame', e);
      return;
    }
    this.onMsg(link, ttl, frame);
  }

  private onMsg(link: PeerLink, ttl: number, frame: Buffer): void {
    const from = link.peerId;
    // The body is the id preimage: the id, and the dedupe, before any parsing.
    const id = hash('sha256', frame.subarray(2), 'hex');
    this.graftTimer.payload(id, from);
    const req = this.requested.get(id);
    const answer = req !== undefined && !req.answered && req.peer === from;
    if (answer) {
      req.answered = true;
      const c = link.catchup as Catchup;
      c.outstanding.delete(id);
    }
    if (this.relay.has(id)) {
      this.duplicatePayload(link, req !== undefined);
      return;
    }
    let packet: P.ClientMessagePacket;
    try {
      packet = msgFramePacket(frame);
    } catch (e) {
      this.refusedPayload(link, e);
      return;
    }
    this.inflight = { id, ttl: req ? req.ttl : ttl, from, catchup: req?.catchup ?? false, frame, link, answer };
    // A new payload is accounted for on acceptance (committed()); the callback sees only
    // refusals and duplicates. Inline, not a named closure: this runs for every payload.
    this.relay.ingest(packet, from, (err, r) => (err ? this.refusedPayload(link, err, id) : r!.duplicate && this.duplicatePayload(link, req !== undefined)), { id, absent: true });
    this.inflight = undefined;
  }

  /** A payload the Ingestor reports as already held. */
  private duplicatePayload(link: PeerLink, requested: boolean): void {
    this.tallies(link).payloadDuplicate.inc();
    if (!requested) this.duplicateFrom(link);
  }

  /** A payload new to this relay, accepted: what plumtree and the metrics learn from it. */
  private newPayload(link: PeerLink, answer: boolean): void {
    this.tallies(link).payloadNew.inc();
    if (answer) this.metrics.fetchedIn.inc();
    else {
      this.lastPushAt = performance.now();
      if (link.prunedAt === 0) this.lastWinner = link;
    }
  }

  private refusedPayload(link: PeerLink, e: unknown, id?: string): void {
    const from = link.peerId;
    const f = this.inflight;
    this.inflight = undefined;
    this.tallies(link).payloadRefused.inc();
    if (P.isProtocolError(e)) {
      this.metrics.violations.labels(peerLabel(from), 'bad_packet').inc();
      this.penalise(from, 'bad_packet');
    } else if (id) {
      // Refused for our own reasons (store busy or failing): the packet is fine and the peer holds it.
      // A refusal after the commit failed comes later, when the hop budget it came with is no longer known.
      const known = f?.id === id;
      this.retryLater(id, from, known ? f.ttl : MAX_TTL - 1, known && f.catchup);
    }
  }

  /**
   * Plumtree: a payload we already had was pushed to us over a link, so that
   * link is a redundant way in: tell the peer to stop pushing to us. Each
   * direction of a link belongs to its receiver (prune: stop pushing to me;
   * graft: push to me), so this does not change what we push to the peer.
   * Pruning both directions, as the paper does, undid grafts under load: a
   * relay that grafted a faster parent also pushed it the messages it had
   * fetched late, the parent pruned it for those duplicates, and with that
   * stopped pushing to it too, leaving relays with no eager parent at all.
   * At most once a second per link while copies already on the wire arrive.
   */
  private duplicateFrom(link: PeerLink): void {
    if (this.options.mode !== 'plumtree' || !link.up) return;
    // Under load the order in which parents' copies arrive is noise, and pruning
    // every link that ever lost a race pruned them all (seen: four grafted
    // parents pruned within 40 ms). The last link to win, while we still let it
    // push, stays: at least one eager parent always does.
    if (link === this.lastWinner) return;
    const now = performance.now();
    if (now - link.prunedAt < PRUNE_REPEAT_MS) return;
    link.prunedAt = now;
    this.send(link, 'prune', '{"type":"prune"}');
  }

  private onIhave(link: PeerLink, ttl: number, ids: string[], catchup = false): void {
    const now = performance.now();
    for (const id of ids) {
      if (this.relay.has(id)) continue;
      this.canary.announced(id, link.peerId);
      const m = this.missing.get(id);
      if (m) {
        if (!m.announcers.includes(link.peerId) && !m.asked.includes(link.peerId) && m.announcers.length < 8) m.announcers.push(link.peerId);
        continue;
      }
      if (this.missing.size >= MISSING_MAX) continue;
      this.missing.set(id, { ttl, announcers: [link.peerId], asked: [], round: 0, dueAt: now + this.graftTimer.ms, catchup });
      this.missingTicker.poke();
    }
  }

  /** A requested or pushed payload that did not arrive usable: ask `from` (and whoever announces it meanwhile) again later. */
  private retryLater(id: string, from: string, ttl: number, catchup: boolean): void {
    if (this.relay.has(id)) return;
    const m = this.missing.get(id);
    if (m) {
      if (!m.announcers.includes(from) && !m.asked.includes(from)) m.announcers.push(from);
      return;
    }
    if (this.missing.size >= MISSING_MAX) return;
    this.missing.set(id, { ttl, announcers: [from], asked: [], round: 1, dueAt: performance.now() + RETRY_MS, catchup });
    this.missingTicker.poke();
  }

  /**
   * Announced ids still missing after the graft timeout are requested from
   * the first announcer, then the next ones at twice the timeout; ids still
   * missing after that are asked again (iwant) in rounds RETRY_MS apart.
   * Returns whether any are still missing.
   */
  private missingSweep(): boolean {
    const now = performance.now();
    const asks = new Map<PeerLink, string[]>();
    const retries = new Map<PeerLink, string[]>();
    for (const [id, m] of this.missing) {
      if (m.dueAt > now) continue;
      if (this.relay.has(id)) {
        this.missing.delete(id);
        continue;
      }
      let link = this.nextAnnouncer(m);
      if (!link && m.asked.length && m.round < RETRY_ROUNDS) {
        m.round++;
        m.announcers = m.asked;
        m.asked = [];
        link = this.nextAnnouncer(m);
      }
      if (!link) {
        // Nobody left to ask (or their links are down): reconciliation, when a link opens or at --reconcile-interval, finds it.
        this.missing.delete(id);
        continue;
      }
      m.asked.push(link.peerId);
      // The next announcer at twice the graft timeout; a re-ask only after a pause that grows each round.
      m.dueAt = now + (m.announcers.length ? 2 * this.graftTimer.ms : RETRY_MS * (m.round + 1));
      this.requested.set(id, { peer: link.peerId, ttl: m.ttl, catchup: m.catchup, at: now });
      const to = m.round ? retries : asks;
      let a = to.get(link);
      if (!a) to.set(link, (a = []));
      a.push(id);
    }
    // A graft also makes the peer push to us from then on (tree repair). While
    // recent grafts keep turning out spurious (the tree is fine, just slow), ids
    // are only fetched (iwant): an eager link added to a working tree carries
    // every payload as a duplicate until the prune lands, which under load is
    // hundreds of payloads. But only while some peer still pushes to us: a relay
    // whose eager parents all pruned is off the tree, and without a graft it
    // would fetch every message late from then on.
    const onTree = now - this.lastPushAt < Math.max(OFF_TREE_MS, 2 * this.graftTimer.ms);
    const type = this.options.mode === 'plumtree' && (!this.graftTimer.backedOff || !onTree) ? 'graft' : 'iwant';
    for (const [link, ids] of asks) {
      if (type === 'graft') link.prunedAt = 0; // it may push to us again
      if (this.options.mode === 'plumtree') for (const id of ids) this.graftTimer.sent(id, link.peerId);
      this.sendIds(link, type, ids);
    }
    // A retry repairs a lost answer, not the tree: no graft, and not timed as one.
    for (const [link, ids] of retries) {
      this.metrics.retries.inc(ids.length);
      this.sendIds(link, 'iwant', ids);
    }
    return this.missing.size > 0;
  }

  /** The first announcer of `m` not yet asked whose link is up (announcers whose link is down are dropped). */
  private nextAnnouncer(m: Missing): PeerLink | undefined {
    while (m.announcers.length) {
      const link = this.peers.get(m.announcers.shift()!);
      if (link) return link;
    }
    return undefined;
  }

  private sendIds(link: PeerLink, type: 'graft' | 'iwant', ids: string[]): void {
    for (let i = 0; i < ids.length; i += MAX_IDS) this.send(link, type, JSON.stringify({ type, ids: ids.slice(i, i + MAX_IDS) }));
  }

  /** Answers iwant/graft: payloads now while the buffer has room, the rest when it drains. */
  private serveIds(link: PeerLink, ids: string[]): void {
    if (this.options.testFault === 'drop-forward') return;
    const c = link.catchup as Catchup;
    for (const id of ids) {
      if (this.options.testFault === 'lose-answers' && !this.lostOnce.get(id)) {
        this.lostOnce.set(id, true);
        continue;
      }
      if (c.serve.length < SERVE_QUEUE_MAX) c.serve.push(id);
    }
    this.serveCatchup(link);
    if (c.serve.length) this.catchupTicker.poke();
  }

  private serveCatchup(link: PeerLink): void {
    const c = link.catchup as Catchup | undefined;
    if (!c || !link.up) return;
    while (c.serve.length && link.buffered < SOFT_BUFFER) {
      const batch = c.serve.splice(0, 64);
      for (const m of this.relay.store.getByIds(batch)) this.send(link, 'msg', encodeMsgFrame(this.relay.store.hopsOf(m.id), m));
    }
  }

  // ---------------------------------------------------------------- flooding

  private committed(m: AcceptedMessage): void {
    this.canary.committed(m);
    this.missing.delete(m.id);
    let ttl = MAX_TTL;
    let catchup = false;
    let received: Buffer | undefined;
    if (m.source !== 'client') {
      const f = this.inflight?.id === m.id ? this.inflight : undefined;
      this.inflight = undefined;
      ttl = f ? f.ttl - 1 : 0;
      catchup = f?.catchup ?? false;
      received = f?.frame;
      if (f) this.newPayload(f.link, f.answer);
    }
    if (catchup) {
      this.metrics.catchupIn.inc();
      // Caught-up messages start a fresh announcement wave: the other side of a healed
      // partition lacks them; peers that have them ignore the ids.
      ttl = MAX_TTL - 1;
    }
    if (ttl < 0) return;
    // The hop budget it goes on with, for answering requests for it.
    this.relay.store.setHops(m.id, ttl);
    if (this.options.testFault === 'drop-forward' || this.options.testFault === 'no-announce') return;
    // A payload from a peer goes on as the bytes that came in, with the ttl changed.
    let frame: Buffer | undefined;
    for (const link of this.peers.values()) {
      if (link.peerId === m.source) continue;
      if (catchup || (this.options.mode === 'plumtree' && !link.eager)) this.queueIhave(link, m.id, ttl);
      else this.send(link, 'msg', (frame ??= received ? setTtl(received, ttl) : encodeMsgFrame(ttl, m.packet)));
    }
  }

  private queueIhave(link: PeerLink, id: string, ttl: number): void {
    let q = this.ihaveQueue.get(link);
    if (!q) this.ihaveQueue.set(link, (q = []));
    q.push(id);
    this.ihaveTtl.set(id, ttl);
    if (!this.ihaveScheduled) {
      this.ihaveScheduled = true;
      setTimeout(() => this.flushIhave(), IHAVE_DELAY_MS);
    }
  }

  /** One ihave frame per lazy peer per IHAVE_DELAY_MS (batched ids, each batch at its smallest ttl). */
  private flushIhave(): void {
    this.ihaveScheduled = false;
    const ttls = this.ihaveTtl;
    this.ihaveTtl = new Map();
    for (const [link, ids] of this.ihaveQueue) {
      for (let i = 0; i < ids.length; i += MAX_IDS) {
        const batch = ids.slice(i, i + MAX_IDS);
        const ttl = Math.min(...batch.map((id) => ttls.get(id) ?? 0));
        this.send(link, 'ihave', JSON.stringify({ type: 'ihave', ttl, ids: batch }));
      }
    }
    this.ihaveQueue = new Map();
  }

  /** Sends a frame on a link that is up, counting it. */
  send(link: PeerLink, type: string, data: string | Buffer): boolean {
    if (!link.up) return false;
    this.metrics.frameOut(type).inc();
    this.tallies(link).bytesOut.inc(typeof data === 'string' ? Buffer.byteLength(data) : data.length);
    return link.send(data);
  }

  /** The canary path: one payload to one peer, as if it were ordinary forwarding. */
  sendPayloadTo(peerId: string, packet: P.ClientMessagePacket): boolean {
    const link = this.peers.get(peerId);
    return !!link && this.send(link, 'msg', encodeMsgFrame(MAX_TTL, packet));
  }

  // ---------------------------------------------------------------- catch-up

  /** Starts a reconciliation with the peer: ask for its summary of everything (PROTOCOL.md §9.5). */
  private reconcile(link: PeerLink, reason: 'link_up' | 'periodic' | 'overflow'): void {
    this.metrics.reconciliations.labels(reason).inc();
    this.send(link, 'sum_req', JSON.stringify({ type: 'sum_req', prefixes: [''] }));
  }

  /** When a link next reconciles: --reconcile-interval from now, ±25% so links and relays spread out. */
  private nextSync(now: number): number {
    const every = this.options.reconcileIntervalMs;
    return every > 0 ? now + every * (0.75 + Math.random() / 2) : Infinity;
  }

  /**
   * Anti-entropy: each link reconciles again every --reconcile-interval, so
   * an id lost for a reason no retry covers (a pushed payload dropped by the
   * rate limit, a bug) is found within one interval, not only when a link
   * next opens. A link still busy catching up waits for its next turn.
   */
  private periodicReconcile(): void {
    const now = performance.now();
    for (const link of this.peers.values()) {
      const c = link.catchup as Catchup | undefined;
      if (!c || c.nextSyncAt > now) continue;
      c.nextSyncAt = this.nextSync(now);
      if (c.queue.length || c.outstanding.size || c.overflow) continue;
      this.reconcile(link, 'periodic');
    }
  }

  /**
   * The ids this relay holds, as of no earlier than the link came up, for the
   * summaries and lists it sends: what it accepted before then was announced
   * on the old link (if at all), and a summary that missed it would hide it
   * from this peer for good.
   */
  private snapshot(link: PeerLink): Promise<IdSnapshot> {
    return this.snapshots.get((link.catchup as Catchup).since);
  }

  private async onSumReq(link: PeerLink, prefixes: string[]): Promise<void> {
    const snap = await this.snapshot(link);
    for (const p of prefixes) {
      const s = snap.summary(p);
      this.send(link, 'sum', JSON.stringify({ type: 'sum', prefix: p, counts: s.counts, hashes: s.hashes }));
    }
  }

  private async onSum(link: PeerLink, prefix: string, counts: number[], hashes: string[]): Promise<void> {
    // Our own side may be a little stale: at worst we list ids we already hold, and onIds skips them.
    const snap = await this.snapshots.get();
    const { descend, list } = diffChildren(prefix, snap.summary(prefix), { counts, hashes });
    for (let i = 0; i < descend.length; i += MAX_PREFIXES) this.send(link, 'sum_req', JSON.stringify({ type: 'sum_req', prefixes: descend.slice(i, i + MAX_PREFIXES) }));
    for (let i = 0; i < list.length; i += MAX_PREFIXES) this.send(link, 'ids_req', JSON.stringify({ type: 'ids_req', prefixes: list.slice(i, i + MAX_PREFIXES) }));
  }

  private async onIdsReq(link: PeerLink, prefixes: string[]): Promise<void> {
    const snap = await this.snapshot(link);
    for (const p of prefixes) {
      const ids = snap.list(p);
      // A peer lists only children our summary showed with at most LIST_BELOW ids (or 3 bytes
      // deep): many more means it asks for a bulk listing it had no reason to want.
      if (ids.length > IDS_LIST_MAX) {
        this.violation(link, 'bad_frame', new P.ProtocolError('too_large', `ids_req for ${p}: ${ids.length} ids`));
        continue;
      }
      let i = 0;
      do {
        const batch = ids.slice(i, i + MAX_IDS);
        i += MAX_IDS;
        this.send(link, 'ids', JSON.stringify({ type: 'ids', prefix: p, ids: batch, done: i >= ids.length }));
      } while (i < ids.length);
    }
  }

  private onIds(link: PeerLink, ids: string[]): void {
    const c = link.catchup as Catchup;
    for (const id of ids) {
      if (c.queued.has(id) || this.relay.has(id)) continue;
      if (c.queue.length >= CATCHUP_QUEUE_MAX) {
        c.overflow = true;
        break;
      }
      c.queue.push(id);
      c.queued.add(id);
    }
    this.pumpCatchup(link);
  }

  /** Runs one catch-up step for a link; returns (and keeps the ticker running) while it has work left. */
  private pumpCatchup(link: PeerLink): boolean {
    const c = link.catchup as Catchup | undefined;
    if (!c || !link.up) return false;
    this.catchupStep(link, c);
    const more = c.queue.length > 0 || c.outstanding.size > 0 || c.serve.length > 0 || c.overflow;
    if (more) this.catchupTicker.poke();
    return more;
  }

  /** Requests queued catch-up ids at --catchup-rate, with a bounded number outstanding. */
  private catchupStep(link: PeerLink, c: Catchup): void {
    const now = performance.now();
    for (const [id, at] of c.outstanding)
      if (now - at > CATCHUP_REQUEST_TIMEOUT_MS) {
        c.outstanding.delete(id);
        this.retryLater(id, link.peerId, MAX_TTL, true);
      }
    if (c.serve.length) this.serveCatchup(link);
    if (!c.queue.length) {
      if (c.overflow && c.outstanding.size === 0) {
        c.overflow = false;
        this.reconcile(link, 'overflow');
      }
      return;
    }
    const rate = this.options.catchupRate;
    c.tokens = Math.min(rate / 5, c.tokens + ((now - c.tokensAt) / 1000) * rate);
    c.tokensAt = now;
    const ask: string[] = [];
    while (c.queue.length && c.tokens >= 1 && c.outstanding.size < CATCHUP_OUTSTANDING) {
      const id = c.queue.shift()!;
      c.queued.delete(id);
      // Requested elsewhere, or waiting for a retry: that path brings it.
      if (this.relay.has(id) || this.requested.has(id) || this.missing.has(id)) continue;
      c.tokens -= 1;
      c.outstanding.set(id, now);
      this.requested.set(id, { peer: link.peerId, ttl: MAX_TTL, catchup: true, at: now });
      ask.push(id);
    }
    for (let i = 0; i < ask.length; i += MAX_IDS) this.send(link, 'iwant', JSON.stringify({ type: 'iwant', ids: ask.slice(i, i + MAX_IDS) }));
  }

  // ---------------------------------------------------------------- server lists

  private requestServers(link: PeerLink): void {
    const req: P.ServerListRequest = { type: 'server_list_request', requester_id: this.identity.id, timestamp: new Date(this.clock.now()).toISOString() };
    this.send(link, 'server_list_request', JSON.stringify(req));
  }

  private async onServerList(link: PeerLink, raw: unknown): Promise<void> {
    let parsed: ReturnType<typeof P.parseServerListResponse>;
    try {
      parsed = P.parseServerListResponse(raw);
    } catch (e) {
      this.violation(link, 'bad_frame', e);
      return;
    }
    const now = this.clock.now();
    let learned = 0;
    let dropped = parsed.rejected.length;
    for (const d of parsed.response.servers) {
      if (d.id === this.identity.id || this.scores.isBanned(d.id)) continue;
      const cur = this.relay.directory.get(d.id);
      if (cur && cur.timestamp >= d.timestamp) continue;
      try {
        const v = await P.verifyDescriptor(this.engine, d, now);
        this.relay.directory.put(v);
        this.addTarget(v.url, v.id, false);
        learned++;
      } catch {
        dropped++;
      }
    }
    if (dropped) this.metrics.violations.labels(peerLabel(link.peerId), 'bad_descriptor').inc(dropped);
    if (learned) this.log.debug({ peer: peerLabel(link.peerId), learned, dropped }, 'server list merged');
  }

  // ---------------------------------------------------------------- test faults

  private faultGarbage(): void {
    const junk = ['not json at all', '{"type":"nonsense"}', '{"type":"msg","ttl":3,"packet":{"recipient":"x","message":"y","signature":"z"}}', '[1,2,3]', Buffer.from([0x7f, 1, 2, 3])];
    for (const l of this.peers.values()) for (const j of junk) l.send(j);
  }

  private faultFlood(): void {
    for (const l of this.peers.values())
      for (let i = 0; i < 300; i++) l.send(JSON.stringify({ type: 'ihave', ttl: 1, ids: [P.toHex(this.engine.randomBytes(32))] }));
  }

  // ---------------------------------------------------------------- status

  /** Peers up (for the canary prober). */
  upPeers(): string[] {
    return [...this.peers.keys()];
  }

  peerUrl(id: string): string | undefined {
    return this.peers.get(id)?.descriptor?.url;
  }

  status(): Record<string, unknown> {
    const now = this.clock.now();
    return {
      mode: this.options.mode,
      ...(this.options.testFault ? { test_fault: this.options.testFault } : {}),
      peers: [...this.peers.values()].map((l) => ({
        id: l.peerId,
        url: l.descriptor?.url,
        direction: l.direction,
        eager: l.eager,
        up_s: Math.round((now - l.upAt) / 1000),
        score: this.scores.score(l.peerId),
      })),
      scores: this.scores.list(),
      banned: this.scores.banned(),
      canaries: this.canary.stats(),
      graft_timeout_ms: Math.round(this.graftTimer.ms),
    };
  }
}

function backoff(attempt: number): number {
  // "Equal jitter": half fixed, half random, so relays that lost each other do not redial in step.
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(attempt, 16));
  return Math.round(base / 2 + (Math.random() * base) / 2);
}

function closeReason(code: number): string {
  for (const [k, v] of Object.entries(CLOSE)) if (v === code) return k;
  return 'other';
}
