import type { ForwardRequest } from '$protocol/forward.ts';
import type { CryptoPort } from '../engine/ports.ts';
import { parseErrorBody } from './wire.ts';
import { ABORTED, postForward, RelayError, type Forward } from './relay-api.ts';

/** Codes a Forward throws when the proxy (not the destination) failed, so callers blame the proxy. */
export const PROXY_FAILED = 'proxy_failed';

/**
 * A Forward through `proxy` to the relay `dest` (dual proxy, PROTOCOL.md
 * "Forwarding through a proxy relay"): the request is sealed to the
 * destination's pinned key in the worker, the reply key never leaves it.
 * The proxy sees only {to, envelope}; the destination sees the proxy's address.
 */
export function forwardVia(crypto: CryptoPort, proxy: string, dest: { id: string; publicKey: string }): Forward {
  return async (req: ForwardRequest, signal?: AbortSignal) => {
    const { packet, token } = await crypto.sealForward(dest, req);
    let outer: { body: unknown; fromDestination: boolean };
    try {
      outer = await postForward(proxy, packet, signal);
    } catch (e) {
      await crypto.openForward(token).catch(() => undefined);
      const err = e instanceof RelayError ? e : new RelayError(0, 'network', String(e));
      if (err.code === ABORTED) throw err;
      // Network trouble or a refusal by the proxy itself: the proxy's fault, not the destination's.
      if (err.status === 0 || !/^destination:/.test(err.message)) throw new RelayError(0, PROXY_FAILED, `${proxy}: ${err.code}: ${err.message}`);
      throw err;
    }
    let inner: { status: number; body: unknown };
    try {
      inner = await crypto.openForward(token, outer.body);
    } catch (e) {
      throw new RelayError(200, 'bad_answer', `sealed answer did not open: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (inner.status >= 200 && inner.status < 300) return inner.body;
    const e = parseErrorBody(inner.body);
    throw new RelayError(inner.status, e?.code ?? 'http_error', e?.message ?? `HTTP ${inner.status}`);
  };
}
