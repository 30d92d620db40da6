import { readFileSync } from 'node:fs';
import uWS, { type TemplatedApp, type us_listen_socket } from 'uWebSockets.js';
import * as P from '../protocol/index.ts';
import { RetrievalAuth } from './auth.ts';
import { type Clock, systemClock } from './clock.ts';
import { type DataLock, lockDataFolder } from './data-lock.ts';
import type { RelayConfig } from './config.ts';
import { RelayError } from './errors.ts';
import { HttpLayer, writeCors } from './http.ts';
import { loadOrCreateIdentity, type RelayIdentity } from './identity.ts';
import { type AcceptedListener, type CommittedListener, type IngestCallback, Ingestor, type KnownId, type Source } from './ingest.ts';
import { LoadMeter } from './load.ts';
import type { Logger } from './log.ts';
import { RelayMetrics } from './metrics.ts';
import { RateLimiter } from './ratelimit.ts';
import { infoRoutes } from './routes/info.ts';
import { LongPolls } from './routes/long-poll.ts';
import { messageRoutes } from './routes/messages.ts';
import { StaticSite } from './routes/static.ts';
import { PushHub } from './routes/subscribe.ts';
import { addressRecorder } from './proxy/debug-record.ts';
import { Forwarder } from './proxy/forwarder.ts';
import { defaultProxyOptions } from './proxy/options.ts';
import { proxyRoutes } from './proxy/routes.ts';
import { ServerDirectory } from './servers.ts';
import { makeTurnCredentials } from './stun/turn-credentials.ts';
import { legacyStorePath, MessageStore, storePath } from './store/store.ts';

export const RELAY_VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** uWS ListenOptions.LIBUS_LISTEN_EXCLUSIVE_PORT (a const enum in its typings, so not importable). */
const LISTEN_EXCLUSIVE_PORT = 1;

/** Packets waiting for the group commit before new ones are refused with 503. */
const MAX_INGEST_QUEUE = 20_000;

/** API paths and the methods they answer, for 405 versus 404. */
const API_METHODS: Record<string, string[]> = {
  '/v1/messages': ['get', 'post', 'delete'],
  '/v1/subscribe': ['get'],
  '/v1/peer': ['get'],
  '/v1/status': ['get'],
  '/v1/servers': ['get', 'post'],
  '/v1/turn': ['get'],
  '/v1/forward': ['post'],
  '/v1/forwarded': ['post'],
  '/healthz': ['get'],
  '/metrics': ['get'],
};

export interface RelayDeps {
  config: RelayConfig;
  log: Logger;
  clock?: Clock;
  engine?: P.CryptoEngine;
  /** Message log folder (default <data>/messages). */
  storeFile?: string;
}

/**
 * A relay before it listens. Everything the mesh needs hangs off it:
 *  - `app`: the uWS app; add routes (e.g. app.ws('/v1/peer', …)) before listen().
 *  - `ingest(packet, source)`: the path for packets from peers (dedupe first).
 *  - `onAccepted(fn)` / `onCommitted(fn)`: "new message (packet, id, source)" when valid and queued, and when durably stored.
 *  - `store`: catch-up reads (idsByReceipt, getByIds, count, has).
 *  - `directory`: signed descriptors served by /v1/servers.
 *  - `setPeers(fn)` / `addStatus(name, fn)`: what /v1/status reports about the mesh.
 */
export class Relay {
  readonly app: TemplatedApp;
  readonly http: HttpLayer;
  readonly ingestor: Ingestor;
  readonly push: PushHub;
  /** Retrievals held until a message arrives (GET /v1/messages?wait=). */
  readonly longPolls: LongPolls;
  readonly metrics: RelayMetrics;
  readonly loadMeter: LoadMeter;
  /** Dual-proxy forwarding; the mesh reports its links through setPeerLinks. */
  readonly forwarder: Forwarder;
  readonly startedAt: number;
  private listenSocket: us_listen_socket | undefined;
  private peersFn: () => number = () => 0;
  private readonly statusExtras = new Map<string, () => unknown>();
  private stopping: Promise<void> | undefined;
  port = 0;

  private constructor(
    readonly config: RelayConfig,
    readonly log: Logger,
    readonly clock: Clock,
    readonly engine: P.CryptoEngine,
    readonly identity: RelayIdentity,
    readonly store: MessageStore,
    readonly directory: ServerDirectory,
    readonly auth: RetrievalAuth,
    private readonly dataLock: DataLock,
  ) {
    this.startedAt = performance.now();
    let push: PushHub | undefined;
    // A held retrieval is a subscriber by other means: both count toward the load and share the bound.
    const longPolls = (this.longPolls = new LongPolls(config.maxSubscribers));
    this.loadMeter = new LoadMeter(() => (push?.size ?? 0) + longPolls.size, config.maxSubscribers, () => store.queueDepth, MAX_INGEST_QUEUE);
    this.metrics = new RelayMetrics({
      stored: () => store.count(),
      bytes: () => store.storedBytes(),
      logBytes: () => store.logFiles().bytes,
      subscribers: () => push?.size ?? 0,
      longPolls: () => longPolls.size,
      load: () => this.loadMeter.value(),
    });
    this.ingestor = new Ingestor(store, this.metrics, log, MAX_INGEST_QUEUE);
    this.http = new HttpLayer(log, this.metrics, new RateLimiter(config.rateLimit, config.rateBurst, clock), config.bodyTimeoutMs);
    this.push = push = new PushHub(store, auth, this.metrics, log, config.maxSubscribers);
    const proxy = config.proxy ?? defaultProxyOptions();
    if (proxy.debugRecordAddresses) this.http.recordAddress = addressRecorder(proxy.debugRecordAddresses, clock, log);
    this.forwarder = new Forwarder({ directory, selfId: identity.id, configuredPeers: config.peers, options: proxy, clock, log });
    this.app = uWS.App();
    this.routes();
  }

  static async create(deps: RelayDeps): Promise<Relay> {
    const { config, log } = deps;
    const clock = deps.clock ?? systemClock;
    const engine = deps.engine ?? P.webCryptoEngine;
    // Before anything in the folder is read or created: a second relay on it refuses to start.
    const dataLock = lockDataFolder(config.dataDir);
    let store: MessageStore | undefined;
    try {
      const identity = await loadOrCreateIdentity(engine, config.dataDir, log);
      store = new MessageStore({ path: deps.storeFile ?? storePath(config.dataDir), legacyPath: legacyStorePath(config.dataDir), retentionMs: config.retentionMs, clock, log, sync: config.sync });
      const directory = new ServerDirectory(engine, identity, config.publicUrl, clock, log);
      await directory.start();
      const auth = new RetrievalAuth(engine, identity.id, clock);
      return new Relay(config, log, clock, engine, identity, store, directory, auth, dataLock);
    } catch (e) {
      await store?.close().catch(() => {});
      dataLock.release();
      throw e;
    }
  }

  private routes(): void {
    const { app, http } = this;
    this.ingestor.onAccepted((m) => this.longPolls.wake(m.packet.recipient));
    messageRoutes(app, http, { ingestor: this.ingestor, store: this.store, auth: this.auth, longPolls: this.longPolls });
    this.push.register(app, http, this.ingestor);
    const { turnUrls, turnSecret } = this.config;
    const turn = turnUrls && turnSecret ? () => makeTurnCredentials({ secret: turnSecret, urls: turnUrls, now: this.clock.now() }) : undefined;
    infoRoutes(app, http, { status: () => this.status(), directory: this.directory, metrics: this.metrics, turn });
    proxyRoutes(app, http, {
      ingestor: this.ingestor,
      store: this.store,
      auth: this.auth,
      longPolls: this.longPolls,
      status: () => this.status(),
      directory: this.directory,
      log: this.log,
      engine: this.engine,
      identity: this.identity,
      forwarder: this.forwarder,
    });
    const site = new StaticSite(this.config.staticDir);
    app.options('/*', (res) => {
      res.cork(() => {
        res.writeStatus('204 No Content');
        writeCors(res);
        res.writeHeader('Access-Control-Allow-Methods', 'GET, POST, DELETE, OPTIONS');
        res.writeHeader('Access-Control-Allow-Headers', 'X-Retrieval, Content-Type');
        res.writeHeader('Access-Control-Max-Age', '86400');
        res.end();
      });
    });
    // Everything else: 404/405/426 for API paths, the PWA for other GETs.
    app.any(
      '/*',
      http.handler('static', false, (ex, req) => {
        const url = req.getUrl();
        const method = req.getMethod();
        const api = API_METHODS[url];
        if (api || url.startsWith('/v1/')) {
          if ((url === '/v1/subscribe' || url === '/v1/peer') && method === 'get') throw new RelayError('upgrade_required', `${url} is a WebSocket endpoint`);
          if (api && !api.includes(method)) throw new RelayError('method_not_allowed', `${method.toUpperCase()} is not allowed on ${url}`);
          throw new RelayError('not_found', `no API endpoint ${url.slice(0, 100)}`);
        }
        if (method !== 'get' && method !== 'head') throw new RelayError('method_not_allowed', 'only GET and HEAD are served here');
        const acceptEncoding = req.getHeader('accept-encoding');
        const ifNoneMatch = req.getHeader('if-none-match');
        site.serve(ex, url, method === 'head', acceptEncoding, ifNoneMatch).catch((e) => ex.error(e));
      }),
    );
  }

  // ---------------------------------------------------------------- mesh integration

  /** Ingests a packet from a peer (or anywhere): dedupe by id, validate, commit, fire onCommitted; `cb` as Ingestor.ingestCb. */
  ingest(packet: unknown, source: Source, cb: IngestCallback, known?: KnownId): void {
    this.ingestor.ingestCb(packet, source, cb, known);
  }

  onCommitted(fn: CommittedListener): () => void {
    return this.ingestor.onCommitted(fn);
  }

  /** Valid, new, and queued for the commit (before it): see Ingestor.onAccepted. */
  onAccepted(fn: AcceptedListener): () => void {
    return this.ingestor.onAccepted(fn);
  }

  /** Whether a packet id is already held (or being committed). */
  has(id: string): boolean {
    return this.ingestor.has(id);
  }

  /** The mesh reports its live peer count for /v1/status. */
  setPeers(fn: () => number): void {
    this.peersFn = fn;
  }

  /** Adds a field to /v1/status (e.g. the mesh's peer list, scores and bans). */
  addStatus(name: string, fn: () => unknown): void {
    this.statusExtras.set(name, fn);
  }

  status(): Record<string, unknown> {
    const out: Record<string, unknown> = {
      id: this.identity.id,
      public_key: this.identity.publicKey,
      url: this.config.publicUrl,
      version: RELAY_VERSION,
      protocol: P.PROTOCOL_VERSION,
      load: this.loadMeter.value(),
      uptime_s: Math.floor((performance.now() - this.startedAt) / 1000),
      peers: this.peersFn(),
      time: new Date(this.clock.now()).toISOString(),
      retention_s: Math.round(this.config.retentionMs / 1000),
      stun: this.config.stunPort ? { port: this.config.stunPort } : null,
      turn: Boolean(this.config.turnUrls && this.config.turnSecret),
      messages: this.store.count(),
      subscribers: this.push.size,
      long_polls: this.longPolls.size,
    };
    for (const [k, fn] of this.statusExtras) out[k] = fn();
    return out;
  }

  // ---------------------------------------------------------------- lifecycle

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      // Exclusive: by default uWS sets SO_REUSEPORT, so a second relay started on a
      // port in use would listen too and the kernel would split clients between
      // two relays with different keys. (The host + options overload exists but
      // is not in uWS's typings.)
      const listen = this.app.listen as unknown as (host: string, port: number, options: number, cb: (sock: us_listen_socket | false) => void) => void;
      listen.call(this.app, this.config.host, this.config.port, LISTEN_EXCLUSIVE_PORT, (sock) => {
        if (!sock) {
          reject(new Error(`cannot listen on ${this.config.host}:${this.config.port} (is another relay or program using the port?)`));
          return;
        }
        this.listenSocket = sock;
        this.port = uWS.us_socket_local_port(sock as never);
        this.store.startExpiry();
        resolve(this.port);
      });
    });
  }

  /**
   * Graceful stop: refuse new work, close the listen socket and subscribers,
   * commit what is queued (answering those clients), close the database.
   */
  close(): Promise<void> {
    this.stopping ??= (async () => {
      this.http.draining = true;
      if (this.listenSocket) uWS.us_listen_socket_close(this.listenSocket);
      this.listenSocket = undefined;
      this.push.closeAll();
      this.longPolls.close();
      // Commits what is queued (answering those clients), then closes the database.
      await this.store.close();
      await new Promise((r) => setImmediate(r));
      this.directory.stop();
      this.forwarder.close();
      this.http.stop();
      this.loadMeter.stop();
      this.dataLock.release();
    })();
    return this.stopping;
  }
}
