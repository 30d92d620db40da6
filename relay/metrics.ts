import client from 'prom-client';

/**
 * One counter series bumped on a hot path: a plain add. prom-client's inc()
 * checks its argument, hashes the labels and looks the series up on every
 * call (~1–2 µs; under mesh load that was 5% of a relay's main thread for
 * eight calls per message); a Tally's count reaches the Counter only when
 * /metrics is scraped.
 */
export class Tally {
  n = 0;
  reported = 0;
  inc(v = 1): void {
    this.n += v;
  }
}

/**
 * A prom-client Counter whose series may be Tallies. Other code may still
 * inc() the Counter's own series; a scrape adds what each Tally gained since
 * the last scrape.
 */
export class TalliedCounter<L extends string> {
  readonly counter: client.Counter<L>;
  private readonly cells = new Map<string, { values: string[]; tally: Tally }>();

  constructor(config: client.CounterConfiguration<L>) {
    const cells = this.cells;
    this.counter = new client.Counter<L>({
      ...config,
      collect() {
        for (const { values, tally } of cells.values()) {
          const d = tally.n - tally.reported;
          if (d === 0) continue;
          tally.reported = tally.n;
          if (values.length) this.labels(...values).inc(d);
          else this.inc(d);
        }
      },
    });
  }

  /** The series for these label values (in labelNames order). Callers on a hot path keep what this returns. */
  tally(...values: string[]): Tally {
    const k = values.join('\u0000');
    let c = this.cells.get(k);
    if (!c) this.cells.set(k, (c = { values, tally: new Tally() }));
    return c.tally;
  }
}

/**
 * Prometheus metrics on a registry of the relay's own (not prom-client's
 * global one), so several relays can live in one process (tests, benchmarks)
 * and the mesh can add its metrics to the same /metrics page.
 */
export class RelayMetrics {
  readonly registry = new client.Registry();
  readonly messages: client.Counter<'result' | 'reason' | 'source'>;
  private readonly messageTallies: TalliedCounter<'result' | 'reason' | 'source'>;
  private readonly requestTallies: TalliedCounter<'route' | 'status'>;
  readonly stored: client.Gauge;
  readonly storedBytes: client.Gauge;
  readonly subscribers: client.Gauge;
  readonly longPolls: client.Gauge;
  readonly pushed: Tally;
  readonly subscriberDrops: client.Counter<'reason'>;
  readonly load: client.Gauge;
  /** Pre-bound children for the hot path. */
  readonly accepted: { client: Tally; peer: Tally };
  readonly duplicate: { client: Tally; peer: Tally };

  constructor(sources: { stored: () => number; bytes: () => number; logBytes: () => number; subscribers: () => number; longPolls: () => number; load: () => number }) {
    const r = [this.registry];
    // Includes the event-loop lag (relay_process_nodejs_eventloop_lag_{p50,p90,p99,max}_seconds).
    // Its sampling timer wakes the loop every `precision` ms, idle or not: at
    // prom-client's default of 10 ms that was most of an idle relay's CPU, and a
    // second monitor of our own doubled it. 20 ms still sees any stall worth a page.
    client.collectDefaultMetrics({ register: this.registry, prefix: 'relay_process_', eventLoopMonitoringPrecision: 20 });
    this.requestTallies = new TalliedCounter({ name: 'relay_http_requests_total', help: 'HTTP requests by route and status', labelNames: ['route', 'status'], registers: r });
    this.messageTallies = new TalliedCounter({
      name: 'relay_messages_total',
      help: 'Message packets by result (accepted, duplicate, refused), refusal reason and source (client or peer)',
      labelNames: ['result', 'reason', 'source'],
      registers: r,
    });
    this.messages = this.messageTallies.counter;
    this.stored = new client.Gauge({ name: 'relay_messages_stored', help: 'Messages held (not expired or deleted)', registers: r, collect() { this.set(sources.stored()); } });
    this.storedBytes = new client.Gauge({ name: 'relay_messages_stored_bytes', help: 'Payload bytes of messages held', registers: r, collect() { this.set(sources.bytes()); } });
    // Disk used: held messages plus deleted ones and those expired but sharing a segment file with newer ones.
    new client.Gauge({ name: 'relay_store_log_bytes', help: 'Size of the message log files on disk', registers: r, collect() { this.set(sources.logBytes()); } });
    this.subscribers = new client.Gauge({ name: 'relay_push_subscribers', help: 'Open /v1/subscribe WebSockets', registers: r, collect() { this.set(sources.subscribers()); } });
    this.longPolls = new client.Gauge({ name: 'relay_long_polls', help: 'Retrievals held until a message arrives (GET /v1/messages?wait=)', registers: r, collect() { this.set(sources.longPolls()); } });
    this.pushed = new TalliedCounter({ name: 'relay_push_messages_total', help: 'Messages pushed to subscribers', registers: r }).tally();
    this.subscriberDrops = new client.Counter({ name: 'relay_push_disconnects_total', help: 'Subscribers disconnected by the relay, by reason', labelNames: ['reason'], registers: r });
    this.load = new client.Gauge({ name: 'relay_load', help: 'The load figure /v1/status reports (0..1)', registers: r, collect() { this.set(sources.load()); } });
    const m = this.messageTallies;
    this.accepted = { client: m.tally('accepted', '', 'client'), peer: m.tally('accepted', '', 'peer') };
    this.duplicate = { client: m.tally('duplicate', '', 'client'), peer: m.tally('duplicate', '', 'peer') };
  }

  /** The requests series for one route and status (HttpLayer keeps it). */
  request(route: string, status: number): Tally {
    return this.requestTallies.tally(route, String(status));
  }

  refused(reason: string, source: 'client' | 'peer'): void {
    this.messages.labels('refused', reason, source).inc();
  }
}
