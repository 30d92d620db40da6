import * as P from '../protocol/index.ts';
import type { Clock } from './clock.ts';
import { RelayError } from './errors.ts';

/**
 * Checks retrieval packets (X-Retrieval header, first WebSocket frame):
 * P.verifyRetrieval for the relay id, clock window and signature, then the
 * nonce against the set of nonces seen within the window, so a captured
 * packet cannot be replayed. The set is bounded; when full of live nonces
 * the relay answers 503 rather than forget one early.
 */
export class RetrievalAuth {
  /** Nonce key → expiry (ms). Insertion order is expiry order: every entry lives 2 × the window. */
  private readonly nonces = new Map<string, number>();

  constructor(
    private readonly engine: P.CryptoEngine,
    private readonly relayId: string,
    private readonly clock: Clock,
    private readonly maxNonces = 500_000,
  ) {}

  /** Decodes and checks an X-Retrieval header; throws a ProtocolError/RelayError on refusal. */
  async header(value: string): Promise<P.RetrievalPacket & { timestampMs: number }> {
    if (value === '') throw new RelayError('auth_required', 'X-Retrieval header required');
    const p = P.parseRetrievalHeader(value);
    await this.check(p);
    return p;
  }

  async check(p: P.RetrievalPacket & { timestampMs: number }): Promise<void> {
    const now = this.clock.now();
    await P.verifyRetrieval(this.engine, p, this.relayId, now);
    this.useNonce(p, now);
  }

  private useNonce(p: P.RetrievalPacket, now: number): void {
    for (const [k, exp] of this.nonces) {
      if (exp > now) break;
      this.nonces.delete(k);
    }
    // Nonces are random per request; scoping them by key means one client cannot burn another's.
    const key = `${p.nonce}:${p.public_key.slice(44, 76)}`;
    if (this.nonces.has(key)) throw new P.ProtocolError('nonce_reused', 'retrieval nonce already used', 'nonce');
    if (this.nonces.size >= this.maxNonces) throw new RelayError('overloaded', 'too many retrievals in flight; retry shortly', 5);
    this.nonces.set(key, now + 2 * P.RETRIEVAL_WINDOW_MS);
  }

  get size(): number {
    return this.nonces.size;
  }
}
