import client from 'prom-client';

/**
 * Prometheus metrics on a registry of the relay's own (not prom-client's
 * global one), so several relays can live in one process (tests, benchmarks)
 * and the mesh can add its metrics to the same /metrics page.
 */
export class RelayMetrics {
  readonly registry = new client.Registry();
  readonly requests: client.Counter<'route' | 'status'>;
  readonly messages: client.Counter<'result' | 'reason' | 'source'>;
  readonly stored: client.Gauge;
  readonly storedBytes: client.Gauge;
  readonly subscribers: client.Gauge;
  readonly pushed: client.Counter;
  readonly subscriberDrops: client.Counter<'reason'>;
  readonly load: client.Gauge;
  /** Pre-bound children for the hot path. */
  readonly accepted: { client: client.Counter.Internal; peer: client.Counter.Internal };
  readonly duplicate: { client: client.Counter.Internal; peer: client.Counter.Internal };

  constructor(sources: { stored: () => number; bytes: () => number; subscribers: () => number; load: () => number }) {
    const r = [this.registry];
    // Includes the event-loop lag (relay_process_nodejs_eventloop_lag_{p50,p90,p99,max}_seconds).
    // Its sampling timer wakes the loop every `precision` ms, idle or not: at
    // prom-client's default of 10 ms that was most of an idle relay's CPU, and a
    // second monitor of our own doubled it. 20 ms still sees any stall worth a page.
    client.collectDefaultMetrics({ register: this.registry, prefix: 'relay_process_', eventLoopMonitoringPrecision: 20 });
    this.requests = new client.Counter({ name: 'relay_http_requests_total', help: 'HTTP requests by route and status', labelNames: ['route', 'status'], registers: r });
    this.messages = new client.Counter({
      name: 'relay_messages_total',
      help: 'Message packets by result (accepted, duplicate, refused), refusal reason and source (client or peer)',
      labelNames: ['result', 'reason', 'source'],
      registers: r,
    });
    this.stored = new client.Gauge({ name: 'relay_messages_stored', help: 'Messages held (not expired or deleted)', registers: r, collect() { this.set(sources.stored()); } });
    this.storedBytes = new client.Gauge({ name: 'relay_messages_stored_bytes', help: 'Payload bytes of messages held', registers: r, collect() { this.set(sources.bytes()); } });
    this.subscribers = new client.Gauge({ name: 'relay_push_subscribers', help: 'Open /v1/subscribe WebSockets', registers: r, collect() { this.set(sources.subscribers()); } });
    this.pushed = new client.Counter({ name: 'relay_push_messages_total', help: 'Messages pushed to subscribers', registers: r });
    this.subscriberDrops = new client.Counter({ name: 'relay_push_disconnects_total', help: 'Subscribers disconnected by the relay, by reason', labelNames: ['reason'], registers: r });
    this.load = new client.Gauge({ name: 'relay_load', help: 'The load figure /v1/status reports (0..1)', registers: r, collect() { this.set(sources.load()); } });
    this.accepted = { client: this.messages.labels('accepted', '', 'client'), peer: this.messages.labels('accepted', '', 'peer') };
    this.duplicate = { client: this.messages.labels('duplicate', '', 'client'), peer: this.messages.labels('duplicate', '', 'peer') };
  }

  refused(reason: string, source: 'client' | 'peer'): void {
    this.messages.labels('refused', reason, source).inc();
  }
}
