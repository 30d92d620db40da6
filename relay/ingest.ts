import { hash } from 'node:crypto';
import * as P from '../protocol/index.ts';
import { RelayError } from './errors.ts';
import type { Logger } from './log.ts';
import type { RelayMetrics } from './metrics.ts';
import type { MessageStore } from './store/store.ts';

/** Where a packet came from: `'client'` (POST /v1/messages) or the id of the peer relay that sent it. */
export type Source = 'client' | (string & {});

/**
 * A new packet, durably stored (the "committed" event). The "accepted" event
 * (AcceptedMessage) comes first, when it is valid and queued for the commit;
 * local push and the mesh's flooding hang off that one. `seq` and
 * `receivedAt` are the same in both.
 */
export interface CommittedMessage {
  id: string;
  seq: number;
  receivedAt: number;
  source: Source;
}

/** The accepted event also carries the packet (push and flooding send it on). */
export interface AcceptedMessage extends CommittedMessage {
  packet: P.ClientMessagePacket;
}

export interface IngestResult {
  id: string;
  duplicate: boolean;
}

export type IngestCallback = (err: unknown, result?: IngestResult) => void;
export type CommittedListener = (m: CommittedMessage) => void;
export type AcceptedListener = (m: AcceptedMessage) => void;

/**
 * What a caller already knows about a packet: its id (packetIdOf of the same
 * three strings) and, when `absent`, that has(id) was false in this same
 * synchronous turn. The mesh computes both before ingesting; this spares the
 * hash and the store lookup a second time.
 */
export interface KnownId {
  id: string;
  absent: boolean;
}

function listen<F>(list: F[], fn: F): () => void {
  list.push(fn);
  return () => {
    const i = list.indexOf(fn);
    if (i >= 0) list.splice(i, 1);
  };
}

const MAX_B64 = P.MAX_MESSAGE_B64;

/** Room for the largest base64 field a relay checks, decoded (nativeCheckBase64). */
const scratch = Buffer.allocUnsafeSlow((MAX_B64 >> 2) * 3);

const sextet = (c: number): number =>
  c >= 65 && c <= 90 ? c - 65 : c >= 97 && c <= 122 ? c - 71 : c >= 48 && c <= 57 ? c + 4 : c === 43 ? 62 : c === 47 ? 63 : 64;

/**
 * P.checkBase64 with Node's native decoder, without re-encoding to compare
 * (that cost a 1.7 KB string per envelope and more µs than the decode).
 * Node's decoder is lenient: it skips characters outside the alphabet and
 * stops at an early '=' (either way the output comes out shorter than the
 * length implies), reads a non-Latin-1 character by its low byte (so only
 * ASCII strings are trusted), accepts the URL-safe '-' and '_', and ignores
 * leftover bits in the last character. With those excluded, the exact
 * decoded length means canonical padded base64. Anything else goes to the
 * pure checker, which throws the precise error. Same answers (tested).
 */
export function nativeCheckBase64(s: string, field: string): number {
  return nativeDecode(s) >= 0 ? scratch[0]! : P.checkBase64(s, field);
}

/**
 * Decodes canonical padded base64 into `scratch` and returns its length, or
 * -1 for anything else (which the pure checkers then refuse precisely).
 */
function nativeDecode(s: string): number {
  const n = s.length;
  if (n === 0 || (n & 3) !== 0 || n > MAX_B64) return -1;
  const pad = s.charCodeAt(n - 1) === 61 ? (s.charCodeAt(n - 2) === 61 ? 2 : 1) : 0;
  // Decoded into one reused buffer: a new Buffer per field cost ~5x the time
  // (about 1 µs against 0.2 µs for a 1.9 KB field here) and garbage for the young generation.
  const decoded = scratch.write(s, 0, 'base64');
  if (
    decoded !== (n >> 2) * 3 - pad ||
    Buffer.byteLength(s, 'utf8') !== n ||
    s.indexOf('-') >= 0 ||
    s.indexOf('_') >= 0 ||
    (pad !== 0 && (sextet(s.charCodeAt(n - 1 - pad)) & (pad === 1 ? 3 : 15)) !== 0)
  )
    return -1;
  return decoded;
}

/**
 * P.parsePublicKey's check with Node's decoder (same answers, tested): the
 * pure decode of a key was ~1% of a mesh relay's CPU. Anything that is not
 * a well-formed key goes to the pure check, which throws the precise error.
 */
export function nativeCheckKey(value: unknown, field: string): void {
  if (typeof value === 'string' && value.length === P.SPKI_B64_CHARS && nativeDecode(value) === P.SPKI_BYTES) {
    try {
      P.checkSpki(scratch.subarray(0, P.SPKI_BYTES));
      return;
    } catch {
      // refused below, with the pure check's own error
    }
  }
  P.parsePublicKey(value, field);
}

// Room for the largest preimage a relay accepts, in UTF-8 (at most 3 bytes a character).
const preimage = Buffer.allocUnsafeSlow(3 * (P.SPKI_B64_CHARS + 2 * MAX_B64) + 2);

/**
 * SHA-256 of the packet id preimage via node:crypto (the same value as
 * P.packetId, synchronously). The three strings are written into one
 * reused buffer: the template string would be flattened into a new 4 KB
 * string per packet (garbage for the next scavenge) and cost ~0.8 µs more.
 */
export function packetIdOf(p: P.ClientMessagePacket): string {
  if (3 * (p.recipient.length + p.message.length + p.signature.length) + 2 > preimage.length) return hash('sha256', P.packetIdPreimage(p), 'hex');
  let n = preimage.write(p.recipient, 0, 'utf8');
  preimage[n++] = 10;
  n += preimage.write(p.message, n, 'utf8');
  preimage[n++] = 10;
  n += preimage.write(p.signature, n, 'utf8');
  return hash('sha256', preimage.subarray(0, n), 'hex');
}

/**
 * The one path every packet takes into the relay, from clients and from
 * peers alike: dedupe by id (the store's in-memory index) before anything
 * else, validate, queue for the group commit, and after the commit tell the
 * caller and then every committed-listener.
 */
export class Ingestor {
  private readonly listeners: CommittedListener[] = [];
  private readonly acceptListeners: AcceptedListener[] = [];

  constructor(
    private readonly store: MessageStore,
    private readonly metrics: RelayMetrics,
    private readonly log: Logger,
    /** Packets waiting for the next commit beyond which new ones get 503 `overloaded`. */
    private readonly maxQueue = 20_000,
  ) {}

  /** Registers a listener for committed messages; returns an unsubscribe function. */
  onCommitted(fn: CommittedListener): () => void {
    return listen(this.listeners, fn);
  }

  /**
   * Registers a listener for accepted messages: valid, new, and queued for the
   * group commit, before the commit. Local push and mesh flooding use it so
   * delivery does not wait on fsync; the sender's 202 still waits for the commit.
   */
  onAccepted(fn: AcceptedListener): () => void {
    return listen(this.acceptListeners, fn);
  }

  private emit<E>(listeners: ((e: E) => void)[], event: E): void {
    for (const l of listeners) {
      try {
        l(event);
      } catch (err) {
        this.log.error({ err }, 'message listener threw');
      }
    }
  }

  /**
   * Whether this relay already holds (or is committing) the packet with this
   * id. The store answers from memory; a seen-id Map in front of it cost
   * more than it saved (docs/performance.md, session 19).
   */
  has(id: string): boolean {
    return this.store.has(id);
  }

  /**
   * The HTTP and mesh hot path (a callback, no promise per packet). `input`
   * is untrusted JSON. The callback runs synchronously for duplicates and
   * refusals, after the commit otherwise.
   */
  ingestCb(input: unknown, source: Source, cb: IngestCallback, known?: KnownId): void {
    const kind = source === 'client' ? 'client' : 'peer';
    if (known) {
      this.validated(input, known.id, source, kind, cb, known.absent);
      return;
    }
    // Dedupe before parsing further: the id needs only the three strings.
    const o = input as Record<string, unknown> | null;
    if (
      typeof o === 'object' && o !== null &&
      typeof o.recipient === 'string' && typeof o.message === 'string' && typeof o.signature === 'string' &&
      o.recipient.length <= P.SPKI_B64_CHARS && o.message.length <= MAX_B64 && o.signature.length <= MAX_B64
    ) {
      const id = packetIdOf(o as unknown as P.ClientMessagePacket);
      const state = this.store.idState(id);
      if (state === 'committed' && Object.keys(o).length === 3) {
        this.metrics.duplicate[kind].inc();
        cb(null, { id, duplicate: true });
        return;
      }
      // Unknown in this same turn: validated() need not look again.
      this.validated(o, id, source, kind, cb, state === 'absent');
      return;
    }
    this.validated(input, undefined, source, kind, cb);
  }

  private validated(input: unknown, knownId: string | undefined, source: Source, kind: 'client' | 'peer', cb: IngestCallback, absent = false): void {
    let packet: P.ClientMessagePacket;
    try {
      packet = P.parseClientPacket(input, nativeCheckBase64, nativeCheckKey);
    } catch (e) {
      this.metrics.refused(P.isProtocolError(e) ? e.code : 'internal', kind);
      cb(e);
      return;
    }
    const id = knownId ?? packetIdOf(packet);
    // `absent`: the caller just looked (has() said no, in this same turn), so neither lookup is repeated.
    if (!absent && this.store.isPending(id)) {
      // Same packet twice in one turn: answer the second once the first is committed.
      this.store.afterCommit(id, (err) => {
        if (err) cb(new RelayError('internal', 'could not store the message'));
        else {
          this.metrics.duplicate[kind].inc();
          cb(null, { id, duplicate: true });
        }
      });
      return;
    }
    if (!absent && this.has(id)) {
      this.metrics.duplicate[kind].inc();
      cb(null, { id, duplicate: true });
      return;
    }
    if (this.store.queueDepth >= this.maxQueue) {
      this.metrics.refused('overloaded', kind);
      cb(new RelayError('overloaded', 'relay is busy; retry shortly', 1));
      return;
    }
    const queued = this.store.add(id, packet, (err, seq, receivedAt) => {
      if (err) {
        this.metrics.refused('internal', kind);
        cb(new RelayError('internal', 'could not store the message'));
        return;
      }
      this.metrics.accepted[kind].inc();
      cb(null, { id, duplicate: false });
      if (this.listeners.length) this.emit(this.listeners, { id, seq, receivedAt, source });
      // No one waits on a peer's packet: its commit may share a later transaction.
    }, kind === 'peer');
    if (queued && this.acceptListeners.length) this.emit(this.acceptListeners, { id, seq: queued.seq, receivedAt: queued.receivedAt, packet, source });
  }
}
