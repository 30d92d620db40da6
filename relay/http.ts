import uWS, { type HttpRequest, type HttpResponse, type us_socket_context_t } from 'uWebSockets.js';
import { BodyList } from './body-list.ts';
import { errorBody, RelayError, statusLine, toWireError } from './errors.ts';
import type { Logger } from './log.ts';
import type { RelayMetrics } from './metrics.ts';
import type { RateLimiter } from './ratelimit.ts';
import type { RequestShape } from './proxy/debug-record.ts';

/** TEST/DEBUG ONLY (--debug-record-addresses): what a request looks like on the wire, header names only. */
function requestShape(req: HttpRequest): RequestShape {
  const headers: string[] = [];
  req.forEach((k) => headers.push(k.toLowerCase()));
  const q = req.getQuery();
  return { method: req.getCaseSensitiveMethod().toUpperCase(), path: req.getUrl() + (q ? `?${q}` : ''), content_length: req.getHeader('content-length'), headers: headers.sort() };
}

/**
 * The uWS side of a request. uWS rules, kept here so handlers cannot forget
 * them: onAborted is attached before any async work, everything needed from
 * `req` is copied synchronously (req is stack-allocated), writes after the
 * handler returned are corked, and nothing is written after an abort.
 */
export class Exchange {
  aborted = false;
  done = false;
  private abortHooks: (() => void)[] = [];
  constructor(
    readonly res: HttpResponse,
    readonly route: string,
    private readonly http: HttpLayer,
  ) {
    res.onAborted(() => {
      this.aborted = true;
      for (const h of this.abortHooks) h();
    });
  }

  onAbort(fn: () => void): void {
    this.abortHooks.push(fn);
  }

  get open(): boolean {
    return !this.aborted && !this.done;
  }

  /** Sends a complete response (corked). Extra headers come as [name, value] pairs. */
  send(status: number, body: string | Buffer, contentType = 'application/json', headers?: readonly (readonly [string, string])[], close = false): void {
    if (!this.open) return;
    this.done = true;
    this.http.count(this.route, status);
    const res = this.res;
    res.cork(() => {
      res.writeStatus(statusLine(status));
      writeCors(res);
      if (contentType) res.writeHeader('Content-Type', contentType);
      if (headers) for (const [k, v] of headers) res.writeHeader(k, v);
      res.end(body, close);
    });
  }

  /**
   * Sends a body given in ASCII parts without joining them, with a
   * Content-Length: the parts are streamed with tryEnd, and what the socket
   * cannot take now is resent from onWritable (uWS keeps no copy). So a 2 MB
   * page never exists as one JS string: its bytes wait in 256 KB Buffers off
   * the V8 heap, and uWS writes them without converting anything.
   */
  sendParts(status: number, parts: readonly string[], contentType: string, headers?: readonly (readonly [string, string])[]): void {
    if (parts.length === 1) return this.send(status, parts[0]!, contentType, headers);
    if (!this.open) return;
    this.done = true;
    this.http.count(this.route, status);
    const res = this.res;
    let total = 0;
    for (const p of parts) total += p.length;
    // Few large writes, not one per part: each write past uWS's cork buffer is a syscall.
    const chunks = coalesce(parts, 256 * 1024);
    let i = 0;
    // Body bytes before parts[i]; uWS's write offset says how much of parts[i] already went.
    let before = 0;
    const pump = (): boolean => {
      while (i < chunks.length) {
        const p = chunks[i]!;
        const sent = res.getWriteOffset() - before;
        const [ok, responded] = res.tryEnd(sent > 0 ? p.subarray(sent) : p, total);
        if (responded) return true;
        if (!ok) return false;
        before += p.length;
        i++;
      }
      return true;
    };
    res.cork(() => {
      res.writeStatus(statusLine(status));
      writeCors(res);
      res.writeHeader('Content-Type', contentType);
      if (headers) for (const [k, v] of headers) res.writeHeader(k, v);
      if (!pump()) res.onWritable(() => this.aborted || pump());
    });
  }

  json(status: number, value: unknown, headers?: readonly (readonly [string, string])[]): void {
    this.send(status, JSON.stringify(value), 'application/json', headers ? [['Cache-Control', 'no-store'], ...headers] : NO_STORE);
  }

  /** Sends any thrown error as {"error":{"code","message"}} with its status. */
  error(e: unknown, close = false): void {
    const w = toWireError(e);
    if (w.status === 500) this.http.log.error({ err: e, route: this.route }, 'handler failed');
    const headers: [string, string][] = [['Cache-Control', 'no-store']];
    if (w.retryAfter !== undefined) headers.push(['Retry-After', String(w.retryAfter)]);
    this.send(w.status, errorBody(w.code, w.message), 'application/json', headers, close);
  }

  /**
   * Reads the request body as UTF-8 text, capped while streaming: a
   * Content-Length over `cap` is refused before any byte is read, and a body
   * that grows past it (chunked) is refused as soon as it does; the
   * connection is then closed.
   * A body still incomplete after the body timeout gets 408.
   */
  readBody(req: HttpRequest, cap: number, cb: (text: string) => void): void {
    const lengthHeader = req.getHeader('content-length');
    const declared = lengthHeader === '' ? -1 : Number(lengthHeader);
    if (declared > cap) {
      this.error(tooLarge(cap), true);
      return;
    }
    // Only a body that comes in more than one chunk is gathered in a Buffer;
    // the usual one-chunk body is decoded straight from uWS's memory.
    let buf: Buffer | undefined;
    let len = 0;
    const entry = this.http.bodies.add(this, performance.now());
    this.onAbort(() => this.http.bodies.remove(entry));
    this.res.onData((chunk, isLast) => {
      if (!this.open) return;
      const n = chunk.byteLength;
      if (len + n > cap) {
        this.http.bodies.remove(entry);
        this.error(tooLarge(cap), true);
        return;
      }
      if (isLast && !buf) {
        // The whole body in one chunk: decode it in place (uWS neuters the chunk when this callback returns).
        this.http.bodies.remove(entry);
        cb(Buffer.from(chunk).toString('utf8'));
        return;
      }
      buf ??= Buffer.allocUnsafe(declared >= 0 ? declared : Math.min(cap, 16384));
      if (len + n > buf.length) {
        const bigger = Buffer.allocUnsafe(Math.min(cap, Math.max(buf.length * 2, len + n)));
        buf.copy(bigger, 0, 0, len);
        buf = bigger;
      }
      // uWS neuters the chunk when this callback returns: copy it now.
      buf.set(new Uint8Array(chunk), len);
      len += n;
      if (isLast) {
        this.http.bodies.remove(entry);
        cb(buf.toString('utf8', 0, len));
      }
    });
  }
}

/**
 * Copies consecutive parts (ASCII) into Buffers of about `size` bytes each.
 * uWS sends a Buffer's bytes as they are, while a string is first joined
 * (flattened) here and then transcoded to UTF-8 inside uWS: two more copies
 * of a 2 MB page.
 */
function coalesce(parts: readonly string[], size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < parts.length; ) {
    let n = 0;
    let j = i;
    while (j < parts.length && n < size) n += parts[j++]!.length;
    const b = Buffer.allocUnsafeSlow(n);
    for (let off = 0; i < j; i++) off += b.write(parts[i]!, off, 'latin1');
    out.push(b);
  }
  return out;
}

const tooLarge = (cap: number): RelayError => new RelayError('payload_too_large', `request body over ${cap} bytes`);

const NO_STORE: readonly (readonly [string, string])[] = [['Cache-Control', 'no-store']];

/** WebSocket behaviour every route shares: uWS pings, no compression, and a socket past its send-buffer cap is closed (never grown). */
export const WS_COMMON = { sendPingsAutomatically: true, closeOnBackpressureLimit: 1, compression: uWS.DISABLED } as const;

/**
 * The handshake headers of a WebSocket upgrade, copied from `req` while it is
 * valid (only during the handler), and the upgrade that uses them.
 */
export function upgrader(req: HttpRequest): <T>(res: HttpResponse, data: T, context: us_socket_context_t) => void {
  const key = req.getHeader('sec-websocket-key');
  const protocol = req.getHeader('sec-websocket-protocol');
  const extensions = req.getHeader('sec-websocket-extensions');
  return (res, data, context) => res.upgrade(data, key, protocol, extensions, context);
}

export function writeCors(res: HttpResponse): void {
  res.writeHeader('Access-Control-Allow-Origin', '*');
  res.writeHeader('Access-Control-Expose-Headers', 'Retry-After, X-Forward-Origin');
}

/** Shared per-app HTTP state: request counting, rate limiting, the slow-body sweeper. */
export class HttpLayer {
  readonly bodies = new BodyList<Exchange>();
  private readonly counters = new Map<string, { inc(): void }>();
  private sweeper: NodeJS.Timeout;
  /** Set during shutdown: new requests get 503. */
  draining = false;
  /** TEST/DEBUG ONLY: --debug-record-addresses (relay/proxy/debug-record.ts). */
  recordAddress: ((route: string, address: string, shape?: RequestShape) => void) | undefined;

  constructor(
    readonly log: Logger,
    private readonly metrics: RelayMetrics,
    readonly limiter: RateLimiter,
    private readonly bodyTimeoutMs: number,
  ) {
    this.sweeper = setInterval(() => this.sweep(), Math.min(1000, Math.max(100, bodyTimeoutMs / 4)));
    this.sweeper.unref();
  }

  count(route: string, status: number): void {
    const k = `${route} ${status}`;
    let c = this.counters.get(k);
    if (!c) {
      c = this.metrics.request(route, status);
      this.counters.set(k, c);
    }
    c.inc();
  }

  private sweep(): void {
    for (const b of this.bodies.takeStartedBefore(performance.now() - this.bodyTimeoutMs))
      b.item.error(new RelayError('body_timeout', `request body not received within ${Math.round(this.bodyTimeoutMs / 1000)} s`), true);
  }

  stop(): void {
    clearInterval(this.sweeper);
  }

  /** Client address as text; read synchronously in the handler, used for rate limiting only (never logged at info). */
  static address(res: HttpResponse): string {
    return Buffer.from(res.getRemoteAddressAsText()).toString();
  }

  /**
   * Wraps a handler: attaches onAborted first, refuses while draining, and
   * applies the per-address rate limit when `limited`.
   */
  handler(route: string, limited: boolean, fn: (ex: Exchange, req: HttpRequest) => void): (res: HttpResponse, req: HttpRequest) => void {
    return (res, req) => {
      const ex = new Exchange(res, route, this);
      if (this.recordAddress) this.recordAddress(route, HttpLayer.address(res), requestShape(req));
      try {
        if (this.draining) throw new RelayError('shutting_down', 'relay is shutting down', 5);
        if (limited && this.limiter.enabled) {
          const wait = this.limiter.take(HttpLayer.address(res));
          if (wait > 0) throw new RelayError('rate_limited', 'too many requests from this address', wait);
        }
        fn(ex, req);
      } catch (e) {
        ex.error(e, this.draining);
      }
    };
  }
}
