// Shared by the relay and mesh benchmarks.
import net from 'node:net';

interface Conn {
  socket: net.Socket;
  /** The request written and not yet answered. */
  inflight: string | undefined;
}

/**
 * A load generator light enough not to be the bottleneck: keep-alive TCP
 * sockets written with prebuilt HTTP/1.1 requests, one in flight per socket,
 * responses only counted by their status line. node:http's client costs more
 * CPU per request than the relay under test and, on 2 cores, its own event
 * loop stalls showed up as "push latency".
 *
 * Like a browser, it lets a keep-alive connection the server closed (uWS
 * closes idle ones after 10 s) go, opens a new one only when a request finds
 * none idle, and sends a request that was on a closing connection again;
 * relays dedupe by packet id, so that is safe. Without the resend, a request
 * written to a connection closing underneath was silently lost. Replacing
 * closed connections at once instead made a storm: the pool, opened together
 * and mostly idle (the idle stack is last-in first-out, so a few connections
 * carry the load), closed together every 10 s and all reconnected in the
 * middle of the measurement.
 */
export class RawPoster {
  private readonly idle: Conn[] = [];
  private readonly queue: string[] = [];
  private readonly all = new Set<Conn>();
  /** Connections being opened on demand. */
  private opening = 0;
  private closing = false;
  ok = 0;
  bad = 0;
  /** Connections the server closed (new ones are opened when needed). */
  reconnects = 0;
  /** Answers other than 202, by status. */
  readonly statuses = new Map<number, number>();
  private constructor(private readonly host: string, private readonly port: number, private readonly max: number) {}

  static async open(url: string, count: number): Promise<RawPoster> {
    const u = new URL(url);
    const p = new RawPoster(u.hostname, Number(u.port), count);
    for (let i = 0; i < count; i++) p.idle.push(await p.connect());
    return p;
  }

  private connect(): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const c: Conn = { socket: net.connect(this.port, this.host, () => resolve(c)), inflight: undefined };
      const s = c.socket;
      this.all.add(c);
      s.setNoDelay(true);
      s.once('error', reject);
      s.on('error', () => {});
      s.on('close', () => this.lost(c));
      let buf = '';
      s.on('data', (d: Buffer) => {
        // One request in flight per socket; a response is complete once its (small) body is in.
        buf += d.toString('latin1');
        const head = buf.indexOf('\r\n\r\n');
        if (head < 0) return;
        const m = /content-length: (\d+)/i.exec(buf.slice(0, head));
        if (buf.length < head + 4 + Number(m?.[1] ?? 0)) return;
        if (buf.startsWith('HTTP/1.1 202')) this.ok++;
        else {
          this.bad++;
          const status = Number(buf.slice(9, 12));
          this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
        }
        buf = '';
        c.inflight = undefined;
        this.next(c);
      });
    });
  }

  /** A connection closed: forget it, and send what was on it again. */
  private lost(c: Conn): void {
    if (!this.all.delete(c) || this.closing) return;
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
    this.reconnects++;
    if (c.inflight === undefined) return;
    this.queue.unshift(c.inflight);
    this.more();
  }

  /** Opens a connection for queued requests when none is idle, up to the pool size. */
  private more(): void {
    if (this.queue.length <= this.opening || this.all.size >= this.max) return;
    this.opening++;
    this.connect().then(
      (fresh) => {
        this.opening--;
        this.next(fresh);
      },
      () => {
        this.opening--;
        this.bad++;
      },
    );
  }

  private next(c: Conn): void {
    const req = this.queue.shift();
    if (req === undefined) {
      this.idle.push(c);
      return;
    }
    c.inflight = req;
    c.socket.write(req);
  }

  post(path: string, body: string): void {
    this.queue.push(`POST ${path} HTTP/1.1\r\nHost: ${this.host}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    const c = this.idle.pop();
    if (c) this.next(c);
    else this.more();
  }

  /** Resolves once `n` answers have come in (or after `ms`). */
  async answered(n: number, ms = 30_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.ok + this.bad < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  }

  close(): void {
    this.closing = true;
    for (const c of this.all) c.socket.destroy();
  }
}
