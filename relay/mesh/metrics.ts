import client from 'prom-client';

/** Short peer label: 16 hex digits of the relay id are plenty to tell peers apart on a dashboard. */
export const peerLabel = (id: string): string => id.slice(0, 16);

/**
 * prom-client's labels() builds a key from its arguments on every call; on
 * the per-frame path the children are looked up once and kept (label values
 * are bounded: peers by --max-peers and bans, types by the frame schema).
 */
export function children<L extends string>(metric: client.Counter<L>): (...values: string[]) => client.Counter.Internal {
  const cache = new Map<string, client.Counter.Internal>();
  return (...values) => {
    const k = values.join('\u0000');
    let c = cache.get(k);
    if (!c) cache.set(k, (c = metric.labels(...values)));
    return c;
  };
}

/** The mesh's series on the relay's own /metrics registry. */
export class MeshMetrics {
  readonly framesIn: client.Counter<'peer' | 'type'>;
  readonly framesOut: client.Counter<'type'>;
  readonly bytesIn: client.Counter<'peer'>;
  readonly bytesOut: client.Counter<'peer'>;
  /** Payload-carrying frames (msg) received: the "copies per relay per message" numerator. */
  readonly payloadsIn: client.Counter<'peer' | 'result'>;
  readonly payloadBytesIn: client.Counter;
  readonly violations: client.Counter<'peer' | 'reason'>;
  readonly handshakes: client.Counter<'direction' | 'result'>;
  readonly disconnects: client.Counter<'reason'>;
  readonly canaries: client.Counter<'result'>;
  readonly catchupIn: client.Counter;
  /** New payloads that came in answer to our iwant/graft rather than pushed. */
  readonly fetchedIn: client.Counter;
  readonly bans: client.Counter;
  /** Cached children of the per-frame counters. */
  readonly frameIn: (peer: string, type: string) => client.Counter.Internal;
  readonly frameOut: (type: string) => client.Counter.Internal;
  readonly byteIn: (peer: string) => client.Counter.Internal;
  readonly byteOut: (peer: string) => client.Counter.Internal;
  readonly payloadIn: (peer: string, result: string) => client.Counter.Internal;

  constructor(
    registry: client.Registry,
    sources: {
      peers: () => number;
      scores: () => { id: string; score: number; banned: boolean }[];
      eager: () => number;
      graft: () => { timeoutMs: number; spurious: number };
    },
  ) {
    const r = [registry];
    this.framesIn = new client.Counter({ name: 'relay_mesh_frames_received_total', help: 'Peer frames received, by peer and frame type', labelNames: ['peer', 'type'], registers: r });
    this.framesOut = new client.Counter({ name: 'relay_mesh_frames_sent_total', help: 'Peer frames sent, by frame type', labelNames: ['type'], registers: r });
    this.bytesIn = new client.Counter({ name: 'relay_mesh_bytes_received_total', help: 'Peer frame bytes received, by peer', labelNames: ['peer'], registers: r });
    this.bytesOut = new client.Counter({ name: 'relay_mesh_bytes_sent_total', help: 'Peer frame bytes sent, by peer', labelNames: ['peer'], registers: r });
    this.payloadsIn = new client.Counter({
      name: 'relay_mesh_payloads_received_total',
      help: 'Message payloads (msg frames) received from peers, by peer and result (new, duplicate, refused)',
      labelNames: ['peer', 'result'],
      registers: r,
    });
    this.payloadBytesIn = new client.Counter({ name: 'relay_mesh_payload_bytes_received_total', help: 'Bytes of msg frames received from peers', registers: r });
    this.violations = new client.Counter({ name: 'relay_mesh_violations_total', help: 'Misbehaviour seen, by peer and reason', labelNames: ['peer', 'reason'], registers: r });
    this.handshakes = new client.Counter({ name: 'relay_mesh_handshakes_total', help: 'Peer handshakes by direction and result', labelNames: ['direction', 'result'], registers: r });
    this.disconnects = new client.Counter({ name: 'relay_mesh_disconnects_total', help: 'Peer links closed, by reason', labelNames: ['reason'], registers: r });
    this.canaries = new client.Counter({ name: 'relay_mesh_canaries_total', help: 'Canaries by outcome (sent, returned, found, lost, inconclusive)', labelNames: ['result'], registers: r });
    this.catchupIn = new client.Counter({ name: 'relay_mesh_catchup_messages_total', help: 'Messages pulled from peers by catch-up reconciliation', registers: r });
    this.fetchedIn = new client.Counter({
      name: 'relay_mesh_payloads_fetched_total',
      help: 'New payloads that arrived in answer to this relay\'s iwant/graft, not pushed (a relay off the eager tree fetches nearly all)',
      registers: r,
    });
    this.bans = new client.Counter({ name: 'relay_mesh_bans_total', help: 'Peers banned by this relay', registers: r });
    this.frameIn = children(this.framesIn);
    this.frameOut = children(this.framesOut);
    this.byteIn = children(this.bytesIn);
    this.byteOut = children(this.bytesOut);
    this.payloadIn = children(this.payloadsIn);
    new client.Gauge({ name: 'relay_mesh_peers', help: 'Peer links up', registers: r, collect() { this.set(sources.peers()); } });
    new client.Gauge({ name: 'relay_mesh_graft_timeout_seconds', help: 'Plumtree graft timeout now (grows while grafts turn out spurious)', registers: r, collect() { this.set(sources.graft().timeoutMs / 1000); } });
    new client.Counter({ name: 'relay_mesh_spurious_grafts_total', help: 'Grafts whose payload also came from a peer not asked (the eager push was late, not lost)', registers: r, collect() { this.reset(); this.inc(sources.graft().spurious); } });
    new client.Gauge({ name: 'relay_mesh_eager_peers', help: 'Peers in the plumtree eager set', registers: r, collect() { this.set(sources.eager()); } });
    new client.Gauge({
      name: 'relay_mesh_peer_score',
      help: 'Score of each peer relay this relay has scored (ban at -100)',
      labelNames: ['peer'],
      registers: r,
      collect() {
        this.reset();
        for (const s of sources.scores()) this.set({ peer: peerLabel(s.id) }, s.score);
      },
    });
    new client.Gauge({
      name: 'relay_mesh_peer_banned',
      help: '1 for each peer relay currently banned',
      labelNames: ['peer'],
      registers: r,
      collect() {
        this.reset();
        for (const s of sources.scores()) if (s.banned) this.set({ peer: peerLabel(s.id) }, 1);
      },
    });
  }
}
