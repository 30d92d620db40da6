import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { RelayError } from '../errors.ts';
import { guardedLookup, isInternalAddress } from './addresses.ts';

export interface OutboundResponse {
  status: number;
  retryAfter: string | undefined;
  body: Buffer;
}

export interface OutboundRequest {
  /** Relay base URL (normalised, no trailing slash). */
  base: string;
  method: 'GET' | 'POST';
  path: string;
  body?: string;
  /** Verified peer / --peer target: loopback and private addresses allowed. */
  allowInternal: boolean;
  timeoutMs: number;
  maxBytes: number;
  signal?: AbortSignal;
}

/**
 * Outgoing HTTP for forwards and key probes: node:http(s) from the configured
 * local address, DNS resolved through the SSRF guard, a whole-request
 * deadline, a response size cap, and keep-alive agents (separate ones for
 * internal-allowed targets, so a socket opened under one rule is never reused
 * under the other). Never follows redirects.
 */
export class Outbound {
  private readonly agents: Record<'http' | 'https', Record<'open' | 'internal', http.Agent>>;
  private readonly family: 0 | 4 | 6;

  constructor(
    private readonly localAddress: string,
    maxSockets: number,
  ) {
    const o = { keepAlive: true, maxSockets, maxTotalSockets: maxSockets, maxFreeSockets: 16, timeout: 30_000, scheduling: 'lifo' as const };
    this.agents = {
      http: { open: new http.Agent(o), internal: new http.Agent(o) },
      https: { open: new https.Agent(o), internal: new https.Agent(o) },
    };
    const f = isIP(localAddress);
    this.family = f === 4 || f === 6 ? f : 0;
  }

  request(r: OutboundRequest): Promise<OutboundResponse> {
    return new Promise((resolve, reject) => {
      let url: URL;
      try {
        url = new URL(r.base + r.path);
      } catch {
        reject(new RelayError('forward_refused', 'target URL is not usable'));
        return;
      }
      const scheme = url.protocol === 'https:' ? 'https' : url.protocol === 'http:' ? 'http' : undefined;
      if (!scheme || url.username || url.password) {
        reject(new RelayError('forward_refused', 'target URL is not plain http(s)'));
        return;
      }
      const host = url.hostname.replace(/^\[|\]$/g, '');
      // IP literals skip `lookup` entirely, so they are checked here.
      if (isIP(host) && !r.allowInternal && isInternalAddress(host)) {
        reject(new RelayError('forward_refused', 'target is a loopback, private or reserved address and not a verified peer'));
        return;
      }
      const mod = scheme === 'https' ? https : http;
      let done = false;
      const finish = (err: unknown, value?: OutboundResponse): void => {
        if (done) return;
        done = true;
        clearTimeout(deadline);
        if (err) reject(err);
        else resolve(value!);
      };
      const req = mod.request(
        url,
        {
          method: r.method,
          agent: this.agents[scheme][r.allowInternal ? 'internal' : 'open'],
          lookup: guardedLookup(r.allowInternal, this.family) as never,
          ...(this.localAddress ? { localAddress: this.localAddress } : {}),
          ...(this.family ? { family: this.family } : {}),
          headers: {
            accept: 'application/json',
            ...(r.body !== undefined ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(r.body)) } : {}),
          },
          signal: r.signal,
        },
        (res) => {
          const declared = Number(res.headers['content-length'] ?? -1);
          if (declared > r.maxBytes) {
            res.destroy();
            finish(new RelayError('upstream_failed', 'destination answer is over the size cap'));
            return;
          }
          const chunks: Buffer[] = [];
          let n = 0;
          res.on('data', (c: Buffer) => {
            n += c.length;
            if (n > r.maxBytes) {
              res.destroy();
              finish(new RelayError('upstream_failed', 'destination answer is over the size cap'));
              return;
            }
            chunks.push(c);
          });
          res.on('end', () => {
            const ra = res.headers['retry-after'];
            finish(null, { status: res.statusCode ?? 0, retryAfter: typeof ra === 'string' && /^\d{1,6}$/.test(ra) ? ra : undefined, body: Buffer.concat(chunks, n) });
          });
          res.on('error', (e) => finish(upstreamError(e)));
          res.on('aborted', () => finish(new RelayError('upstream_failed', 'destination closed the answer early')));
        },
      );
      const deadline = setTimeout(() => {
        req.destroy();
        finish(new RelayError('upstream_timeout', `destination did not answer within ${Math.round(r.timeoutMs / 1000)} s`));
      }, r.timeoutMs);
      req.on('error', (e) => finish(upstreamError(e)));
      req.end(r.body);
    });
  }

  close(): void {
    for (const s of Object.values(this.agents)) for (const a of Object.values(s)) a.destroy();
  }
}

function upstreamError(e: unknown): unknown {
  if (e instanceof RelayError) return e;
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ABORT_ERR') return new RelayError('upstream_failed', 'forward cancelled');
  // No addresses, hosts or ports in the message: the client learns only that the hop failed.
  return new RelayError('upstream_failed', `destination unreachable (${typeof code === 'string' ? code.slice(0, 20) : 'error'})`);
}
