import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as P from '../protocol/index.ts';
import { MESH_OPTIONS, type MeshOptions, parseMeshOptions } from './mesh/options.ts';
import { parseProxyOptions, PROXY_OPTIONS, type ProxyOptions } from './proxy/options.ts';
import { parseTurnUrls } from './stun/turn-credentials.ts';

export interface RelayConfig {
  host: string;
  port: number;
  dataDir: string;
  publicUrl: string;
  peers: string[];
  retentionMs: number;
  stunPort: number;
  /** TURN (coturn beside the relay): URLs and the shared secret; both set, or TURN is off. */
  turnUrls?: string[];
  turnSecret?: string;
  maxPeers: number;
  logLevel: string;
  staticDir: string;
  /** Requests per second per client address (token bucket refill); 0 turns rate limiting off. */
  rateLimit: number;
  rateBurst: number;
  maxSubscribers: number;
  bodyTimeoutMs: number;
  /** The message log: `full` fdatasyncs every group commit before answering, `normal` survives process crashes only. */
  sync: 'full' | 'normal';
  /** Peer links, flooding, catch-up, canaries and bans (relay/mesh/). */
  mesh?: MeshOptions;
  /** Forwarding (dual proxy) and the debug address record (relay/proxy/). */
  proxy?: ProxyOptions;
}

interface OptionSpec {
  flag: string;
  env: string;
  arg: string;
  def: string;
  help: string;
  multiple?: boolean;
}

export const OPTIONS: OptionSpec[] = [
  { flag: 'host', env: 'RELAY_HOST', arg: 'ADDR', def: '0.0.0.0', help: 'address to listen on' },
  { flag: 'port', env: 'RELAY_PORT', arg: 'N', def: '8080', help: 'HTTP/WebSocket port (0 picks a free one)' },
  { flag: 'data', env: 'RELAY_DATA', arg: 'DIR', def: './data', help: 'data folder: identity key and message store' },
  { flag: 'public-url', env: 'RELAY_PUBLIC_URL', arg: 'URL', def: '', help: 'base URL clients and relays use (default http://localhost:PORT)' },
  { flag: 'peer', env: 'RELAY_PEERS', arg: 'URL', def: '', help: "another relay's base URL; repeatable (env: comma-separated)", multiple: true },
  { flag: 'retention', env: 'RELAY_RETENTION', arg: 'DURATION', def: '7d', help: 'how long messages are kept after first receipt (e.g. 7d, 12h, 90m, 3600s)' },
  { flag: 'stun-port', env: 'RELAY_STUN_PORT', arg: 'N', def: '3478', help: 'UDP port of the STUN server for calls (0 turns it off)' },
  { flag: 'turn-url', env: 'RELAY_TURN_URL', arg: 'URLS', def: '', help: 'coturn turn:/turns: URLs handed to callers, comma-separated (needs --turn-secret)' },
  { flag: 'turn-secret', env: 'RELAY_TURN_SECRET', arg: 'SECRET', def: '', help: "coturn's static-auth-secret, for time-limited TURN credentials (GET /v1/turn)" },
  { flag: 'max-peers', env: 'RELAY_MAX_PEERS', arg: 'N', def: '8', help: 'most peer relays to link with (mesh degree)' },
  { flag: 'log-level', env: 'RELAY_LOG_LEVEL', arg: 'LEVEL', def: 'info', help: 'fatal, error, warn, info, debug, trace or silent' },
  { flag: 'static', env: 'RELAY_STATIC', arg: 'DIR', def: './build', help: 'PWA build to serve at / (skipped when missing)' },
  { flag: 'rate-limit', env: 'RELAY_RATE_LIMIT', arg: 'N', def: '50', help: 'API requests per second per client address (0 = unlimited)' },
  { flag: 'rate-burst', env: 'RELAY_RATE_BURST', arg: 'N', def: '200', help: 'burst size of the per-address token bucket' },
  { flag: 'max-subscribers', env: 'RELAY_MAX_SUBSCRIBERS', arg: 'N', def: '10000', help: 'most concurrent /v1/subscribe WebSockets and held retrievals (GET /v1/messages?wait=)' },
  { flag: 'body-timeout', env: 'RELAY_BODY_TIMEOUT', arg: 'DURATION', def: '10s', help: 'longest time a request body may take to arrive' },
  { flag: 'sync', env: 'RELAY_SYNC', arg: 'MODE', def: 'full', help: 'full: fsync each group commit; normal: survive process crashes only' },
  ...MESH_OPTIONS,
  ...PROXY_OPTIONS,
];

export function helpText(): string {
  const rows = OPTIONS.map((o) => {
    const left = `  --${o.flag} ${o.arg}`;
    return `${left.padEnd(27)} ${o.help}\n${''.padEnd(28)}env ${o.env}${o.def ? `, default ${o.def}` : ''}`;
  });
  return [
    'Usage: node relay [options]',
    '',
    'A meshchat relay: stores sealed message packets for 7 days, serves them to their',
    'recipients, pushes new ones over WebSocket, and serves the PWA build.',
    '',
    'Options (each also read from the environment variable shown; flags win):',
    ...rows,
    '  --help                    print this and exit',
    '',
  ].join('\n');
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "7d", "12h", "90m", "30s", "250ms"; a bare number is seconds. */
export function parseDuration(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new ConfigError(`${what}: "${text}" is not a duration like 7d, 12h, 90m or 30s`);
  const ms = Number(m[1]) * UNITS[m[2] ?? 's']!;
  if (!(ms > 0)) throw new ConfigError(`${what}: must be positive`);
  return Math.round(ms);
}

function int(text: string, what: string, min: number, max: number): number {
  if (!/^\d+$/.test(text.trim())) throw new ConfigError(`${what}: "${text}" is not a whole number`);
  const n = Number(text);
  if (n < min || n > max) throw new ConfigError(`${what}: must be between ${min} and ${max}`);
  return n;
}

function url(text: string, what: string): string {
  try {
    return P.relayUrl(P.normaliseRelayUrl(text), what);
  } catch (e) {
    throw new ConfigError(`${what}: "${text}" is not an http(s) base URL (${(e as Error).message})`);
  }
}

/** Reads flags, then the environment, then defaults. Throws ConfigError on bad values; returns null for --help. */
export function parseConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): RelayConfig | null {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = { help: { type: 'boolean' } };
  for (const o of OPTIONS) options[o.flag] = { type: 'string', ...(o.multiple ? { multiple: true } : {}) };
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    values = parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as typeof values;
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
  if (values.help) return null;
  const get = (flag: string): string => {
    const o = OPTIONS.find((x) => x.flag === flag)!;
    const v = values[flag];
    if (typeof v === 'string') return v;
    return env[o.env] ?? o.def;
  };
  const peerFlags = values.peer as string[] | undefined;
  const peerList = peerFlags ?? (env.RELAY_PEERS ? env.RELAY_PEERS.split(',') : []);
  const port = int(get('port'), '--port', 0, 65535);
  const host = get('host');
  const sync = get('sync');
  if (sync !== 'full' && sync !== 'normal') throw new ConfigError('--sync: must be full or normal');
  const turnUrlText = get('turn-url').trim();
  const turnSecret = get('turn-secret');
  if (Boolean(turnUrlText) !== Boolean(turnSecret)) throw new ConfigError('--turn-url and --turn-secret go together');
  let turnUrls: string[] | undefined;
  try {
    turnUrls = turnUrlText ? parseTurnUrls(turnUrlText) : undefined;
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
  const publicUrlText = get('public-url') || `http://${host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    host,
    port,
    dataDir: resolve(get('data')),
    publicUrl: url(publicUrlText, '--public-url'),
    peers: peerList.map((p) => p.trim()).filter(Boolean).map((p) => url(p, '--peer')),
    retentionMs: parseDuration(get('retention'), '--retention'),
    stunPort: int(get('stun-port'), '--stun-port', 0, 65535),
    ...(turnUrls ? { turnUrls, turnSecret } : {}),
    maxPeers: int(get('max-peers'), '--max-peers', 0, 1000),
    logLevel: get('log-level'),
    staticDir: resolve(get('static')),
    rateLimit: int(get('rate-limit'), '--rate-limit', 0, 1_000_000),
    rateBurst: int(get('rate-burst'), '--rate-burst', 1, 10_000_000),
    maxSubscribers: int(get('max-subscribers'), '--max-subscribers', 1, 1_000_000),
    bodyTimeoutMs: parseDuration(get('body-timeout'), '--body-timeout'),
    sync,
    mesh: parseMeshOptions({ get, duration: parseDuration, int, fail: (m) => { throw new ConfigError(m); } }),
    proxy: parseProxyOptions({ get, duration: parseDuration, int, isIp: (t) => isIP(t) !== 0, fail: (m) => { throw new ConfigError(m); } }),
  };
}
