import { MAX_WAIT_S } from '../routes/long-poll.ts';

/**
 * Dual-proxy options: the rows config.ts adds to `node relay --help` and the
 * parsed values. `debugRecordAddresses` is a TEST/DEBUG switch (see
 * debug-record.ts): it writes client addresses to disk and must never be
 * enabled on a relay that serves real users.
 */
export interface ProxyOptions {
  /** Local address outgoing forwards (and key probes) are sent from; '' lets the OS choose. */
  outboundAddress: string;
  /** Whole-request deadline for one forward, connect to last byte. */
  forwardTimeoutMs: number;
  /** Forwards in flight at once; more get 503 `overloaded`. */
  forwardConcurrency: number;
  /** File to append {route, remote_address, time} lines to, one per request; '' = off. */
  debugRecordAddresses: string;
}

export interface ProxyOptionSpec {
  flag: string;
  env: string;
  arg: string;
  def: string;
  help: string;
}

export const PROXY_OPTIONS: ProxyOptionSpec[] = [
  { flag: 'outbound-address', env: 'RELAY_OUTBOUND_ADDRESS', arg: 'ADDR', def: '', help: 'local IP address that forwarded requests leave from (default: chosen by the OS)' },
  { flag: 'forward-timeout', env: 'RELAY_FORWARD_TIMEOUT', arg: 'DURATION', def: '15s', help: 'longest a forwarded request may take, connect to last byte (at least 12s: clients hold retrievals for up to 10s)' },
  { flag: 'forward-concurrency', env: 'RELAY_FORWARD_CONCURRENCY', arg: 'N', def: '1024', help: 'forwards in flight at once (more get 503); each client reading through this relay holds one' },
  {
    flag: 'debug-record-addresses',
    env: 'RELAY_DEBUG_RECORD_ADDRESSES',
    arg: 'FILE',
    def: '',
    help: 'TEST/DEBUG ONLY, never in production: append every request\'s client address to FILE',
  },
];

interface Parsers {
  get(flag: string): string;
  duration(text: string, what: string): number;
  int(text: string, what: string, min: number, max: number): number;
  isIp(text: string): boolean;
  fail(message: string): never;
}

/** A forwarded retrieval may be held for MAX_WAIT_S at its destination: the deadline leaves room for that and the trip. */
function forwardTimeout(p: Parsers): number {
  const ms = p.duration(p.get('forward-timeout'), '--forward-timeout');
  if (ms < (MAX_WAIT_S + 2) * 1000) p.fail(`--forward-timeout: at least ${MAX_WAIT_S + 2}s (a forwarded retrieval may be held for ${MAX_WAIT_S}s)`);
  return ms;
}

export function parseProxyOptions(p: Parsers): ProxyOptions {
  const outboundAddress = p.get('outbound-address').trim();
  if (outboundAddress && !p.isIp(outboundAddress)) p.fail(`--outbound-address: "${outboundAddress}" is not an IP address`);
  return {
    outboundAddress,
    forwardTimeoutMs: forwardTimeout(p),
    forwardConcurrency: p.int(p.get('forward-concurrency'), '--forward-concurrency', 1, 100_000),
    debugRecordAddresses: p.get('debug-record-addresses'),
  };
}

export const defaultProxyOptions = (): ProxyOptions => ({ outboundAddress: '', forwardTimeoutMs: 15_000, forwardConcurrency: 1024, debugRecordAddresses: '' });
