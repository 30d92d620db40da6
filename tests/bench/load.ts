// Shared by the relay and mesh benchmarks.
import net from 'node:net';

/**
 * A load generator light enough not to be the bottleneck: keep-alive TCP
 * sockets written with prebuilt HTTP/1.1 requests, one in flight per socket,
 * responses only counted by their status line. node:http's client costs more
 * CPU per request than the relay under test and, on 2 cores, its own event
 * loop stalls showed up as "push latency".
 */
export class RawPoster {
  private readonly idle: net.Socket[] = [];
  private readonly queue: string[] = [];
  ok = 0;
  bad = 0;
  /** Answers other than 202, by status. */
  readonly statuses = new Map<number, number>();
  private constructor(private readonly host: string, private readonly port: number) {}

  static async open(url: string, count: number): Promise<RawPoster> {
    const u = new URL(url);
    const p = new RawPoster(u.hostname, Number(u.port));
    for (let i = 0; i < count; i++) p.idle.push(await p.connect());
    return p;
  }

  private connect(): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const s = net.connect(this.port, this.host, () => resolve(s));
      s.setNoDelay(true);
      s.once('error', reject);
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
        const next = this.queue.shift();
        if (next !== undefined) s.write(next);
        else this.idle.push(s);
      });
    });
  }

  post(path: string, body: string): void {
    const req = `POST ${path} HTTP/1.1\r\nHost: ${this.host}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    const s = this.idle.pop();
    if (s) s.write(req);
    else this.queue.push(req);
  }

  /** Resolves once `n` answers have come in (or after `ms`). */
  async answered(n: number, ms = 30_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.ok + this.bad < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  }

  close(): void {
    for (const s of this.idle) s.destroy();
  }
}
