import type { TemplatedApp } from 'uWebSockets.js';
import * as P from '../../protocol/index.ts';
import { errorBody } from '../errors.ts';
import type { HttpLayer } from '../http.ts';
import type { RelayIdentity } from '../identity.ts';
import { bodyValue, type Outcome, parseJson, run } from '../routes/messages.ts';
import { type DestinationDeps, errorOutcome, runForwarded } from './destination.ts';
import { Forwarder } from './forwarder.ts';

export interface ProxyRouteDeps extends DestinationDeps {
  engine: P.CryptoEngine;
  identity: RelayIdentity;
  forwarder: Forwarder;
}

/**
 * POST /v1/forward (proxy role) and POST /v1/forwarded (destination role).
 * Both are rate limited per address like every API route and read bodies
 * capped at P.MAX_FORWARD_BODY while streaming. Neither logs envelopes or
 * client addresses.
 */
export function proxyRoutes(app: TemplatedApp, http: HttpLayer, d: ProxyRouteDeps): void {
  app.post(
    '/v1/forward',
    http.handler('forward', true, (ex, req) => {
      ex.readBody(req, P.MAX_FORWARD_BODY, (body) => {
        run(ex, async () => {
          const packet = P.parseForwardPacket(parseJson(body));
          const abort = new AbortController();
          ex.onAbort(() => abort.abort());
          const r = await d.forwarder.forward(packet, abort.signal);
          const status = Forwarder.statusOf(r);
          const headers: [string, string][] = [['Cache-Control', 'no-store'], ['X-Forward-Origin', 'destination']];
          if (status !== r.status) {
            ex.send(502, errorBody('upstream_failed', 'destination answered with an unexpected status'), 'application/json', headers);
            return;
          }
          if (r.retryAfter !== undefined) headers.push(['Retry-After', r.retryAfter]);
          // Verbatim: the body is the sealed envelope (or the destination's plain refusal).
          ex.send(status, r.body, 'application/json', headers);
        });
      });
    }),
  );

  app.post(
    '/v1/forwarded',
    http.handler('forwarded', true, (ex, req) => {
      ex.readBody(req, P.MAX_FORWARD_BODY, (body) => {
        run(ex, async () => {
          // Until the envelope opens, refusals are plain JSON (there is no reply key yet).
          const packet = P.parseForwardPacket(parseJson(body));
          const opened = await P.openForwardRequest(d.engine, { id: d.identity.id, privateKey: d.identity.keys.privateKey }, packet);
          let out: Outcome | undefined;
          try {
            out = await runForwarded(d, opened, ex);
          } catch (e) {
            out = errorOutcome(e, d.log);
          }
          if (!out || !ex.open) return;
          const sealed = await P.sealForwardResponse(d.engine, opened.replyKey, out.status, bodyValue(out.body));
          opened.replyKey.fill(0);
          ex.json(200, sealed);
        });
      });
    }),
  );
}
