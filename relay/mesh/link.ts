import * as P from '../../protocol/index.ts';
import type { Clock } from '../clock.ts';
import type { RelayIdentity } from '../identity.ts';
import { authContent, decodeFrame, type Frame, MESH_VERSION } from './frames.ts';
import type { PeerTallies } from './metrics.ts';

/** The socket under a link: a uWS server socket (accepted) or a `ws` client (dialed). */
export interface Transport {
  /** Queues a frame (a string as text, a Buffer as binary); false when the socket is gone or refused it. */
  send(data: string | Buffer): boolean;
  /** Bytes queued and not yet written to the kernel. */
  buffered(): number;
  close(code: number, reason: string): void;
}

/** Above this many queued bytes a link only carries live traffic (no catch-up, no canaries). */
export const SOFT_BUFFER = 1024 * 1024;
/** A peer this far behind is disconnected: never buffered without bound. */
export const HARD_BUFFER = 16 * 1024 * 1024;
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Frames a peer may send while its auth proof is being verified. */
const MAX_EARLY_FRAMES = 4096;

/** WebSocket close codes the mesh uses (PROTOCOL.md §9.2). */
export const CLOSE = {
  normal: 1000,
  shutdown: 1001,
  badFrame: 4400,
  badAuth: 4401,
  banned: 4403,
  duplicate: 4409,
  full: 4429,
  slow: 4503,
  self: 4508,
} as const;

export interface LinkHost {
  readonly identity: RelayIdentity;
  readonly engine: P.CryptoEngine;
  readonly clock: Clock;
  descriptor(): P.RelayDescriptor;
  isBanned(id: string): boolean;
  /** Handshake done; false refuses the link (the host closed it). */
  linkUp(link: PeerLink): boolean;
  frame(link: PeerLink, frame: Frame, bytes: number): void;
  /** A binary frame (a msg payload, not yet checked) from a link that is up. */
  payload(link: PeerLink, frame: Buffer): void;
  linkClosed(link: PeerLink, code: number, reason: string): void;
  /** A frame that could not be parsed, or over the rate limit, from a link that is up. */
  violation(link: PeerLink, reason: 'bad_frame' | 'rate', err?: unknown): void;
  handshakeFailed(link: PeerLink, reason: string, claimedId: string | undefined): void;
  readonly peerRate: number;
}

type State = 'hello' | 'auth' | 'verifying' | 'up' | 'closed';

/**
 * One peer link: the handshake (hello → auth, both directions at once), then
 * parsed frames handed to the mesh. Dedupe, flooding and scoring live in the
 * mesh; this holds only what is per socket: state, rate bucket, send buffer.
 */
export class PeerLink {
  state: State = 'hello';
  /** Relay id, known once the peer's proof verified. */
  peerId = '';
  descriptor: P.RelayDescriptor | undefined;
  readonly openedAt: number;
  upAt = 0;
  private readonly challenge: string;
  private peerHello: { id: string; challenge: string } | undefined;
  private early: { text: string | Buffer; bytes: number }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private tokens: number;
  private tokensAt: number;
  /** Set by the mesh: whether we push payloads to this peer (plumtree's eager set). The peer turns it off with prune and on with graft. */
  eager = true;
  /** When we last told this peer to stop pushing to us (performance.now()). */
  prunedAt = 0;
  /** Mesh bookkeeping for catch-up with this peer. */
  catchup: unknown;
  /** The mesh's metric series for this peer, once it is up. */
  tallies: PeerTallies | undefined;

  constructor(
    readonly host: LinkHost,
    readonly transport: Transport,
    /** 'out': we dialed it; 'in': it dialed us. */
    readonly direction: 'in' | 'out',
    /** Dialed URL (out) — the id we expect there, when known. */
    readonly dialUrl: string | undefined,
    readonly expectedId: string | undefined,
  ) {
    this.openedAt = host.clock.now();
    this.challenge = P.toBase64Url(host.engine.randomBytes(32));
    this.tokens = 2 * host.peerRate;
    this.tokensAt = performance.now();
  }

  /** The socket is open: say hello and start the handshake clock. */
  start(): void {
    this.timer = setTimeout(() => this.fail(CLOSE.badAuth, 'handshake timed out'), HANDSHAKE_TIMEOUT_MS);
    this.timer.unref();
    this.send(JSON.stringify({ type: 'hello', version: MESH_VERSION, id: this.host.identity.id, challenge: this.challenge }));
  }

  get up(): boolean {
    return this.state === 'up';
  }

  send(data: string | Buffer): boolean {
    if (this.state === 'closed') return false;
    const ok = this.transport.send(data);
    if (!ok || this.transport.buffered() > HARD_BUFFER) {
      this.close(CLOSE.slow, 'peer cannot keep up');
      return false;
    }
    return true;
  }

  get buffered(): number {
    return this.state === 'closed' ? 0 : this.transport.buffered();
  }

  close(code: number, reason: string): void {
    if (this.state === 'closed') return;
    const wasState = this.state;
    this.state = 'closed';
    if (this.timer) clearTimeout(this.timer);
    this.early = [];
    try {
      this.transport.close(code, reason);
    } catch {
      // already gone
    }
    this.host.linkClosed(this, code, wasState === 'up' ? reason : `handshake: ${reason}`);
  }

  /** The transport reports the socket closed underneath us. */
  closedByPeer(code: number, reason: string): void {
    if (this.state === 'closed') return;
    const was = this.state;
    this.state = 'closed';
    if (this.timer) clearTimeout(this.timer);
    this.host.linkClosed(this, code, was === 'up' ? reason || 'closed by peer' : `handshake: closed by peer (${code} ${reason})`);
  }

  private fail(code: number, reason: string): void {
    if (this.state === 'closed') return;
    this.host.handshakeFailed(this, reason, this.peerHello?.id ?? this.expectedId);
    this.close(code, reason);
  }

  private rateOk(): boolean {
    const now = performance.now();
    const rate = this.host.peerRate;
    this.tokens = Math.min(2 * rate, this.tokens + ((now - this.tokensAt) / 1000) * rate);
    this.tokensAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** A frame arrived: text (JSON control frames) or binary (msg payloads, a Buffer this link may keep). */
  receive(text: string | Buffer, bytes: number): void {
    if (this.state === 'closed') return;
    if (this.state === 'verifying') {
      if (this.early.length >= MAX_EARLY_FRAMES) return this.fail(CLOSE.badFrame, 'too many frames before the handshake finished');
      this.early.push({ text, bytes });
      return;
    }
    if (typeof text !== 'string') {
      if (this.state !== 'up') return this.fail(CLOSE.badFrame, 'binary frame during the handshake');
      if (!this.rateOk()) this.host.violation(this, 'rate');
      else this.host.payload(this, text);
      return;
    }
    if (this.state === 'up') {
      if (!this.rateOk()) {
        this.host.violation(this, 'rate');
        return;
      }
      let frame: Frame;
      try {
        frame = decodeFrame(text);
      } catch (e) {
        this.host.violation(this, 'bad_frame', e);
        return;
      }
      if (frame.type === 'hello' || frame.type === 'auth') {
        this.host.violation(this, 'bad_frame', new P.ProtocolError('bad_type', `${frame.type} after the handshake`));
        return;
      }
      this.host.frame(this, frame, bytes);
      return;
    }
    let frame: Frame;
    try {
      frame = decodeFrame(text);
    } catch (e) {
      return this.fail(CLOSE.badFrame, `bad handshake frame: ${(e as Error).message}`);
    }
    if (this.state === 'hello') {
      if (frame.type !== 'hello') return this.fail(CLOSE.badAuth, 'expected hello');
      if (frame.id === this.host.identity.id) {
        this.close(CLOSE.self, 'link to self');
        return;
      }
      if (this.expectedId && frame.id !== this.expectedId) return this.fail(CLOSE.badAuth, 'relay at this URL has another id');
      if (this.host.isBanned(frame.id)) {
        this.close(CLOSE.banned, 'banned');
        return;
      }
      this.peerHello = { id: frame.id, challenge: frame.challenge };
      this.state = 'auth';
      void this.sendAuth(frame.id, frame.challenge);
      return;
    }
    if (this.state === 'auth') {
      if (frame.type !== 'auth') return this.fail(CLOSE.badAuth, 'expected auth');
      this.state = 'verifying';
      this.verify(frame).then(
        () => this.verified(),
        (e) => this.fail(CLOSE.badAuth, `auth refused: ${(e as Error).message}`),
      );
    }
  }

  private async sendAuth(peerId: string, theirChallenge: string): Promise<void> {
    const { engine, identity } = this.host;
    const d = this.host.descriptor();
    const proof = await P.signMessage(engine, identity.keys, authContent(identity.id, peerId, theirChallenge, this.challenge, d.url), this.host.clock.now());
    if (this.state === 'closed') return;
    this.send(JSON.stringify({ type: 'auth', proof, descriptor: d }));
  }

  private async verify(frame: Extract<Frame, { type: 'auth' }>): Promise<void> {
    const { engine, clock, identity } = this.host;
    const hello = this.peerHello!;
    const now = clock.now();
    const signed = await P.verifySignedMessage(engine, frame.proof, now);
    if (signed.signer !== hello.id) throw new P.ProtocolError('bad_signature', 'proof is not signed by the relay that said hello');
    const d = await P.verifyDescriptor(engine, frame.descriptor, now);
    if (d.id !== hello.id) throw new P.ProtocolError('bad_descriptor', 'descriptor is for another relay');
    const want = authContent(hello.id, identity.id, this.challenge, hello.challenge, d.url);
    if (signed.message.content !== want) throw new P.ProtocolError('bad_signature', 'proof does not bind this handshake');
    this.descriptor = d;
  }

  private verified(): void {
    if (this.state !== 'verifying') return;
    if (this.timer) clearTimeout(this.timer);
    this.peerId = this.peerHello!.id;
    if (this.host.isBanned(this.peerId)) {
      this.close(CLOSE.banned, 'banned');
      return;
    }
    this.state = 'up';
    this.upAt = this.host.clock.now();
    if (!this.host.linkUp(this)) return;
    const early = this.early;
    this.early = [];
    for (const f of early) {
      if (this.state !== 'up') break;
      this.receive(f.text, f.bytes);
    }
  }
}
