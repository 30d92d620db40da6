import * as P from '../protocol/index.ts';
import type { Clock } from './clock.ts';
import type { RelayIdentity } from './identity.ts';
import type { Logger } from './log.ts';

/** Re-sign well inside P.DESCRIPTOR_MAX_AGE_MS so a cached copy never goes stale for long. */
const RESIGN_MS = 60 * 60_000;

/**
 * The relays this relay knows, as signed descriptors: its own (re-signed
 * hourly) first, then those the mesh verified and put here. `/v1/servers`
 * serves list(); the mesh decides what goes in (verifyDescriptor first) and
 * what comes out (bans).
 */
export class ServerDirectory {
  private own!: P.RelayDescriptor;
  private readonly others = new Map<string, P.RelayDescriptor>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly engine: P.CryptoEngine,
    private readonly identity: RelayIdentity,
    readonly url: string,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    await this.resign();
    this.timer = setInterval(() => {
      this.resign().catch((err) => this.log.error({ err }, 'descriptor re-signing failed'));
    }, RESIGN_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  async resign(): Promise<void> {
    this.own = await P.signDescriptor(this.engine, this.identity.keys, this.url, this.clock.now());
  }

  get descriptor(): P.RelayDescriptor {
    return this.own;
  }

  /** Adds or replaces a verified descriptor (newer timestamps win). Own id is ignored. */
  put(d: P.RelayDescriptor): void {
    if (d.id === this.identity.id) return;
    const cur = this.others.get(d.id);
    if (cur && Date.parse(cur.timestamp) >= Date.parse(d.timestamp)) return;
    if (!cur && this.others.size >= P.MAX_KNOWN_SERVERS - 1) return;
    this.others.set(d.id, d);
  }

  delete(id: string): void {
    this.others.delete(id);
  }

  get(id: string): P.RelayDescriptor | undefined {
    return id === this.identity.id ? this.own : this.others.get(id);
  }

  /** Own descriptor first, then the others whose signatures have not gone stale. */
  list(): P.RelayDescriptor[] {
    const now = this.clock.now();
    const fresh = [...this.others.values()].filter((d) => now - Date.parse(d.timestamp) <= P.DESCRIPTOR_MAX_AGE_MS);
    return [this.own, ...fresh];
  }

  response(): P.ServerListResponse {
    const servers = this.list();
    return { type: 'server_list_response', known_servers: servers.map((d) => d.id), timestamp: new Date(this.clock.now()).toISOString(), servers };
  }
}
