// The relay's STUN server (RFC 8489 Binding over UDP) for WebRTC calls: tells
// each browser the address and port its datagrams arrive from. Stateless apart
// from per-source rate-limit buckets; never logs client addresses.
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { answerDatagram } from './binding.ts';
import { parseIPv6, type TransportAddress } from './codec.ts';
import { SourceRateLimiter } from './rate-limit.ts';

export interface StunServerOptions {
  host: string;
  port: number;
  /** requests per second per source address */
  ratePerSecond?: number;
  burst?: number;
  /** How many sources keep a rate-limit bucket; the least recently seen is forgotten first. */
  maxSources?: number;
  now?: () => number;
  log?: { debug(o: object, msg?: string): void; warn(o: object, msg?: string): void };
}

export interface StunServer {
  readonly port: number;
  readonly address: string;
  stats(): { requests: number; responses: number; malformed: number; rateLimited: number };
  close(): Promise<void>;
}

/**
 * Generous defaults: a browser sends a handful of Binding requests per call
 * (retransmits, one per local interface, keepalives), but many browsers can
 * share one carrier-grade NAT address.
 */
export const STUN_DEFAULTS = { ratePerSecond: 50, burst: 100, maxSources: 50_000 } as const;

const silent = { debug() {}, warn() {} };

export async function startStunServer(opts: StunServerOptions): Promise<StunServer> {
  const log = opts.log ?? silent;
  const limiter = new SourceRateLimiter({
    ratePerSecond: opts.ratePerSecond ?? STUN_DEFAULTS.ratePerSecond,
    burst: opts.burst ?? STUN_DEFAULTS.burst,
    maxSources: opts.maxSources ?? STUN_DEFAULTS.maxSources,
    now: opts.now ?? (() => performance.now()),
  });
  const counts = { requests: 0, responses: 0, malformed: 0, rateLimited: 0 };

  const onMessage = (sock: dgram.Socket) => (msg: Buffer, rinfo: dgram.RemoteInfo) => {
    const source = sourceAddress(rinfo);
    if (!limiter.take(rateKey(source))) {
      counts.rateLimited++;
      return;
    }
    let outcome;
    try {
      outcome = answerDatagram(msg, source);
    } catch (err) {
      // Unreachable by design; a relay still never dies on one datagram.
      counts.malformed++;
      log.warn({ err: String(err) }, 'stun: datagram handler failed');
      return;
    }
    if (outcome.kind === 'ignore') {
      counts.malformed++;
      log.debug({ reason: outcome.reason }, 'stun: ignored datagram');
      return;
    }
    counts.requests++;
    counts.responses++;
    sock.send(outcome.response, rinfo.port, rinfo.address, (err) => {
      if (err) log.debug({ code: (err as NodeJS.ErrnoException).code }, 'stun: send failed');
    });
  };

  const sockets = await bindSockets(opts.host, opts.port);
  for (const s of sockets) {
    s.on('message', onMessage(s));
    s.on('error', (err) => log.warn({ code: (err as NodeJS.ErrnoException).code, err: err.message }, 'stun: socket error'));
  }
  const bound = sockets[sockets.length - 1]!.address();
  let closing: Promise<void> | undefined;
  return {
    port: bound.port,
    address: opts.host === '::' ? '::' : bound.address,
    stats: () => ({ ...counts }),
    close: () =>
      (closing ??= Promise.all(sockets.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))).then(() => undefined)),
  };
}

/** '::' means every address, which needs an IPv4 socket beside an IPv6-only one on the same port. */
async function bindSockets(host: string, port: number): Promise<dgram.Socket[]> {
  if (host !== '::') return [await bindOne(isIPv6(host) ? 'udp6' : 'udp4', host, port)];
  for (let attempt = 0; ; attempt++) {
    const v4 = await bindOne('udp4', '0.0.0.0', port);
    try {
      return [v4, await bindOne('udp6', '::', v4.address().port)];
    } catch (err) {
      v4.close();
      // With an ephemeral port the IPv6 side may find it taken; pick another.
      if (port !== 0 || attempt >= 4 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    }
  }
}

function bindOne(type: 'udp4' | 'udp6', address: string, port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket({ type, ipv6Only: type === 'udp6' && address === '::' });
    s.once('error', (err) => {
      s.close();
      reject(err);
    });
    s.bind({ address, port, exclusive: true }, () => {
      s.removeAllListeners('error');
      resolve(s);
    });
  });
}

function sourceAddress(rinfo: dgram.RemoteInfo): TransportAddress {
  if (rinfo.family === 'IPv6') {
    // A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; they are IPv4 clients.
    const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(rinfo.address);
    if (m) return { family: 4, address: m[1]!, port: rinfo.port };
    return { family: 6, address: rinfo.address, port: rinfo.port };
  }
  return { family: 4, address: rinfo.address, port: rinfo.port };
}

/** IPv6 hosts usually own a whole /64, so that is what one bucket covers. */
function rateKey(source: TransportAddress): string {
  if (source.family === 4) return source.address;
  const b = parseIPv6(source.address);
  return b ? Buffer.from(b.subarray(0, 8)).toString('hex') : source.address;
}

