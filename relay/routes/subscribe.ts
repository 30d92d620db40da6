import type { TemplatedApp, WebSocket } from 'uWebSockets.js';
import * as P from '../../protocol/index.ts';
import type { RetrievalAuth } from '../auth.ts';
import { errorBody, RelayError, toWireError } from '../errors.ts';
import { HttpLayer, upgrader, WS_COMMON } from '../http.ts';
import type { AcceptedMessage, Ingestor } from '../ingest.ts';
import type { Logger } from '../log.ts';
import type { RelayMetrics } from '../metrics.ts';
import type { MessageStore } from '../store/store.ts';
import { decodeCursor, encodeCursor, messagesFrame, pushFrameBytes } from '../wire.ts';

/**
 * GET /v1/subscribe (WebSocket). The client's first frame is a retrieval
 * packet (JSON, optionally with `after`); the relay then sends the backlog
 * from the store and every new message for that key as it is accepted
 * (before its commit; see register).
 *
 * Frames from the relay (text, JSON):
 *   {"type":"messages","messages":[…],"cursor":"<c>"}   backlog pages and live pushes
 *   {"type":"synced","cursor":"<c>"}                     backlog done; live from here
 *   {"type":"pong"}                                      answer to {"type":"ping"}
 *   {"type":"error","error":{"code","message"}}          then the relay closes
 * Close codes: 4400 bad frame, 4401 refused retrieval packet, 4408 no
 * retrieval packet in time, 4429 rate limited or too many subscribers,
 * 4503 too slow to keep up / overloaded, 1001 relay shutting down.
 */

type Phase = 'auth' | 'checking' | 'backlog' | 'live' | 'closed';

interface Sub {
  phase: Phase;
  recipient: string;
  /** Seq of the last message sent (or the `after` the client gave). */
  last: number;
  authTimer: NodeJS.Timeout | undefined;
}

/** Above this many buffered bytes a subscriber stops getting live pushes and catches up from the store on drain. */
const SOFT_BUFFER = 256 * 1024;
/** uWS closes a socket whose buffer would pass this; never reached in normal operation (pages are sized under it). */
const HARD_BUFFER = 8 * 1024 * 1024;
const BACKLOG_PAGE = 16;
const AUTH_TIMEOUT_MS = 10_000;

export class PushHub {
  private readonly byRecipient = new Map<string, Set<WebSocket<Sub>>>();
  private readonly all = new Set<WebSocket<Sub>>();

  constructor(
    private readonly store: MessageStore,
    private readonly auth: RetrievalAuth,
    private readonly metrics: RelayMetrics,
    private readonly log: Logger,
    private readonly maxSubscribers: number,
  ) {}

  get size(): number {
    return this.all.size;
  }

  register(app: TemplatedApp, http: HttpLayer, ingestor: Ingestor): void {
    // Pushed when accepted, not when committed: delivery does not wait on the
    // group commit's fsync (its tail is tens of ms on a busy disk). A relay
    // that dies before the commit has pushed a message it did not keep; the
    // sender got no 202 and sends again, and clients dedupe by id.
    ingestor.onAccepted((m) => this.push(m));
    app.ws<Sub>('/v1/subscribe', {
      maxPayloadLength: 4096,
      idleTimeout: 120,
      maxBackpressure: HARD_BUFFER,
      ...WS_COMMON,
      upgrade: (res, req, context) => {
        // Synchronous: copy headers from req and upgrade (or refuse) before returning.
        const upgrade = upgrader(req);
        const refuse = (e: unknown): void => {
          const w = toWireError(e);
          http.count('subscribe', w.status);
          res.cork(() => {
            res.writeStatus(`${w.status} Refused`).writeHeader('Access-Control-Allow-Origin', '*').writeHeader('Content-Type', 'application/json');
            if (w.retryAfter !== undefined) res.writeHeader('Retry-After', String(w.retryAfter));
            res.end(errorBody(w.code, w.message), true);
          });
        };
        if (http.recordAddress) http.recordAddress('subscribe', HttpLayer.address(res));
        if (http.draining) return refuse(new RelayError('shutting_down', 'relay is shutting down', 5));
        if (http.limiter.enabled) {
          const wait = http.limiter.take(HttpLayer.address(res));
          if (wait > 0) return refuse(new RelayError('rate_limited', 'too many requests from this address', wait));
        }
        if (this.all.size >= this.maxSubscribers) return refuse(new RelayError('overloaded', 'too many subscribers', 30));
        http.count('subscribe', 101);
        upgrade<Sub>(res, { phase: 'auth', recipient: '', last: 0, authTimer: undefined }, context);
      },
      open: (ws) => {
        this.all.add(ws);
        const s = ws.getUserData();
        s.authTimer = setTimeout(() => this.fail(ws, 4408, new RelayError('auth_required', 'no retrieval packet within 10 s')), AUTH_TIMEOUT_MS);
        s.authTimer.unref();
      },
      message: (ws, data, isBinary) => this.onFrame(ws, data, isBinary),
      drain: (ws) => {
        const s = ws.getUserData();
        if (s.phase === 'backlog') this.backlog(ws);
      },
      close: (ws) => {
        const s = ws.getUserData();
        if (s.authTimer) clearTimeout(s.authTimer);
        s.phase = 'closed';
        this.all.delete(ws);
        if (s.recipient) {
          const set = this.byRecipient.get(s.recipient);
          if (set) {
            set.delete(ws);
            if (set.size === 0) this.byRecipient.delete(s.recipient);
          }
        }
      },
    });
  }

  private onFrame(ws: WebSocket<Sub>, data: ArrayBuffer, isBinary: boolean): void {
    const s = ws.getUserData();
    let frame: unknown;
    try {
      if (isBinary) throw new P.ProtocolError('bad_type', 'frames must be text');
      frame = JSON.parse(Buffer.from(data).toString('utf8'));
    } catch (e) {
      this.fail(ws, 4400, P.isProtocolError(e) ? e : new P.ProtocolError('bad_json', 'frame is not JSON'));
      return;
    }
    if (s.phase === 'auth') {
      s.phase = 'checking';
      if (s.authTimer) clearTimeout(s.authTimer);
      void this.authenticate(ws, frame);
      return;
    }
    if (typeof frame === 'object' && frame !== null && (frame as { type?: unknown }).type === 'ping' && s.phase !== 'checking') {
      ws.send('{"type":"pong"}');
      return;
    }
    this.fail(ws, 4400, new P.ProtocolError('bad_type', 'after the retrieval packet only {"type":"ping"} frames are accepted'));
  }

  private async authenticate(ws: WebSocket<Sub>, frame: unknown): Promise<void> {
    const s = ws.getUserData();
    let p: P.RetrievalPacket & { timestampMs: number };
    let after: number | undefined;
    try {
      p = P.parseRetrievalPacket(frame);
      after = decodeCursor(p.after);
      if (after === undefined) throw new RelayError('bad_cursor', 'after: not a cursor this relay issued');
      await this.auth.check(p);
    } catch (e) {
      if (s.phase !== 'closed') this.fail(ws, toWireError(e).status === 401 ? 4401 : 4400, e);
      return;
    }
    if (s.phase === 'closed') return;
    s.recipient = p.public_key;
    s.last = after;
    let set = this.byRecipient.get(s.recipient);
    if (!set) this.byRecipient.set(s.recipient, (set = new Set()));
    set.add(ws);
    s.phase = 'backlog';
    this.backlog(ws);
  }

  /**
   * Sends stored messages after `last` while the socket's buffer has room.
   * Runs synchronously to the end of the store (pages include accepted
   * messages not yet committed), so a message accepted meanwhile is either
   * in a page or pushed live afterwards, never neither.
   */
  private backlog(ws: WebSocket<Sub>): void {
    const s = ws.getUserData();
    for (;;) {
      if (s.phase !== 'backlog') return;
      if (ws.getBufferedAmount() > SOFT_BUFFER) return; // resumed by drain
      const { messages, more } = this.store.page(s.recipient, s.last, BACKLOG_PAGE);
      if (messages.length) {
        s.last = messages[messages.length - 1]!.seq;
        if (!this.sendFrame(ws, messagesFrame(messages, s.last))) return;
        this.metrics.pushed.inc(messages.length);
      }
      if (!more) break;
    }
    s.phase = 'live';
    this.sendFrame(ws, `{"type":"synced","cursor":"${encodeCursor(s.last)}"}`);
  }

  private push(m: AcceptedMessage): void {
    const set = this.byRecipient.get(m.packet.recipient);
    if (!set) return;
    let frame: Uint8Array | undefined;
    for (const ws of set) {
      const s = ws.getUserData();
      if (s.phase !== 'live' || m.seq <= s.last) continue;
      // Built once for every subscriber of the key, sent before anything else can reuse its buffer.
      frame ??= pushFrameBytes(m.packet, m.id, m.receivedAt, m.seq);
      s.last = m.seq;
      ws.cork(() => this.sendFrame(ws, frame!));
      this.metrics.pushed.inc();
      // Behind: stop pushing, catch up from the store once the buffer drains.
      if (ws.getBufferedAmount() > SOFT_BUFFER && s.phase === 'live') s.phase = 'backlog';
    }
  }

  /** Sends; false (and the socket closed) when uWS had to drop the frame. */
  private sendFrame(ws: WebSocket<Sub>, frame: string | Uint8Array): boolean {
    const r = ws.send(frame, false, false);
    if (r === 2) {
      this.metrics.subscriberDrops.labels('backpressure').inc();
      this.fail(ws, 4503, new RelayError('overloaded', 'subscriber cannot keep up'));
      return false;
    }
    return true;
  }

  private fail(ws: WebSocket<Sub>, code: number, e: unknown): void {
    const s = ws.getUserData();
    if (s.phase === 'closed') return;
    const w = toWireError(e);
    if (w.status === 500) this.log.error({ err: e }, 'subscription failed');
    this.metrics.subscriberDrops.labels(w.code).inc();
    s.phase = 'closed';
    try {
      ws.cork(() => {
        ws.send(`{"type":"error","error":${JSON.stringify({ code: w.code, message: w.message })}}`);
        ws.end(code, w.code);
      });
    } catch {
      // Already closed underneath us.
    }
  }

  /** Closes every subscriber (shutdown). */
  closeAll(): void {
    for (const ws of [...this.all]) {
      const s = ws.getUserData();
      s.phase = 'closed';
      try {
        ws.end(1001, 'shutting down');
      } catch {
        // already closed
      }
    }
  }
}
