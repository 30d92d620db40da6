import client from 'prom-client';
import { type Tally, TalliedCounter } from '../metrics.ts';

/** Short peer label: 16 hex digits of the relay id are plenty to tell peers apart on a dashboard. */
export const peerLabel = (id: string): string => id.slice(0, 16);

/** The per-peer series one link bumps for every frame, looked up once per link. */
export interface PeerTallies {
  bytesIn: Tally;
  bytesOut: Tally;
  /** Frames received of one type (the types a peer may send are a fixed set). */
  frameIn(type: string): Tally;
  payloadNew: Tally;
  payloadDuplicate: Tally;
  payloadRefused: Tally;
}

/** The mesh's series on the relay's own /metrics registry. */
export class MeshMetrics {
  private readonly framesIn: TalliedCounter<'peer' | 'type'>;
  private readonly framesOut: TalliedCounter<'type'>;
  private readonly bytesIn: TalliedCounter<'peer'>;
  private readonly bytesOut: TalliedCounter<'peer'>;
  /** Payload-carrying frames (msg) received: the "copies per relay per message" numerator. */
  private readonly payloadsIn: TalliedCounter<'peer' | 'result'>;
  readonly payloadBytesIn: Tally;
  readonly violations: client.Counter<'peer' | 'reason'>;
  readonly handshakes: client.Counter<'direction' | 'result'>;
  readonly disconnects: client.Counter<'reason'>;
  readonly canaries: client.Counter<'result'>;
  readonly catchupIn: client.Counter;
  readonly reconciliations: client.Counter;
  readonly retries: client.Counter;
  /** New payloads that came in answer to our iwant/graft rather than pushed. */
  readonly fetchedIn: client.Counter;
  readonly bans: client.Counter;
  private readonly outByType = new Map<string, Tally>();
  private readonly byPeer = new Map<string, PeerTallies>();

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
    this.framesIn = new TalliedCounter({ name: 'relay_mesh_frames_received_total', help: 'Peer frames received, by peer and frame type', labelNames: ['peer', 'type'], registers: r });
    this.framesOut = new TalliedCounter({ name: 'relay_mesh_frames_sent_total', help: 'Peer frames sent, by frame type', labelNames: ['type'], registers: r });
    this.bytesIn = new TalliedCounter({ name: 'relay_mesh_bytes_received_total', help: 'Peer frame bytes received, by peer', labelNames: ['peer'], registers: r });
    this.bytesOut = new TalliedCounter({ name: 'relay_mesh_bytes_sent_total', help: 'Peer frame bytes sent, by peer', labelNames: ['peer'], registers: r });
    this.payloadsIn = new TalliedCounter({
      name: 'relay_mesh_payloads_received_total',
      help: 'Message payloads (msg frames) received from peers, by peer and result (new, duplicate, refused)',
      labelNames: ['peer', 'result'],
      registers: r,
    });
    this.payloadBytesIn = new TalliedCounter({ name: 'relay_mesh_payload_bytes_received_total', help: 'Bytes of msg frames received from peers', registers: r }).tally();
    this.violations = new client.Counter({ name: 'relay_mesh_violations_total', help: 'Misbehaviour seen, by peer and reason', labelNames: ['peer', 'reason'], registers: r });
    this.handshakes = new client.Counter({ name: 'relay_mesh_handshakes_total', help: 'Peer handshakes by direction and result', labelNames: ['direction', 'result'], registers: r });
    this.disconnects = new client.Counter({ name: 'relay_mesh_disconnects_total', help: 'Peer links closed, by reason', labelNames: ['reason'], registers: r });
    this.canaries = new client.Counter({ name: 'relay_mesh_canaries_total', help: 'Canaries by outcome (sent, returned, found, lost, inconclusive)', labelNames: ['result'], registers: r });
    this.catchupIn = new client.Counter({ name: 'relay_mesh_catchup_messages_total', help: 'Messages pulled from peers by catch-up reconciliation', registers: r });
    this.reconciliations = new client.Counter({ name: 'relay_mesh_reconciliations_total', help: 'Catch-up reconciliations this relay started, by why (link_up, periodic, overflow)', labelNames: ['reason'], registers: r });
    this.retries = new client.Counter({ name: 'relay_mesh_requests_retried_total', help: 'Requested messages asked for again because no usable answer came', registers: r });
    this.fetchedIn = new client.Counter({
      name: 'relay_mesh_payloads_fetched_total',
      help: 'New payloads that arrived in answer to this relay\'s iwant/graft, not pushed (a relay off the eager tree fetches nearly all)',
      registers: r,
    });
    this.bans = new client.Counter({ name: 'relay_mesh_bans_total', help: 'Peers banned by this relay', registers: r });
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

  /** The series of frames sent of one type. */
  frameOut(type: string): Tally {
    let t = this.outByType.get(type);
    if (!t) this.outByType.set(type, (t = this.framesOut.tally(type)));
    return t;
  }

  /** The per-peer series for a relay id (a PeerLink keeps what this returns). */
  peer(id: string): PeerTallies {
    const label = peerLabel(id);
    let p = this.byPeer.get(label);
    if (!p) {
      const frames = this.framesIn;
      const byType = new Map<string, Tally>();
      p = {
        bytesIn: this.bytesIn.tally(label),
        bytesOut: this.bytesOut.tally(label),
        frameIn: (type) => {
          let t = byType.get(type);
          if (!t) byType.set(type, (t = frames.tally(label, type)));
          return t;
        },
        payloadNew: this.payloadsIn.tally(label, 'new'),
        payloadDuplicate: this.payloadsIn.tally(label, 'duplicate'),
        payloadRefused: this.payloadsIn.tally(label, 'refused'),
      };
      this.byPeer.set(label, p);
    }
    return p;
  }
}
