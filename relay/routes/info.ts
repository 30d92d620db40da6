import type { TemplatedApp } from 'uWebSockets.js';
import * as P from '../../protocol/index.ts';
import { RelayError } from '../errors.ts';
import type { HttpLayer } from '../http.ts';
import type { RelayMetrics } from '../metrics.ts';
import type { ServerDirectory } from '../servers.ts';

const SERVER_LIST_BODY_CAP = 4096;

export function infoRoutes(
  app: TemplatedApp,
  http: HttpLayer,
  deps: { status: () => Record<string, unknown>; directory: ServerDirectory; metrics: RelayMetrics; turn?: () => unknown },
): void {
  app.get('/healthz', http.handler('healthz', false, (ex) => ex.json(200, { ok: true })));

  app.get('/v1/status', http.handler('status', true, (ex) => ex.json(200, deps.status())));

  // Fresh time-limited TURN credentials for each call; never cached (they carry their own expiry).
  app.get(
    '/v1/turn',
    http.handler('turn', true, (ex) => {
      const creds = deps.turn?.();
      if (!creds) throw new RelayError('turn_not_configured', 'this relay offers no TURN server');
      ex.json(200, creds);
    }),
  );

  app.get('/v1/servers', http.handler('servers', true, (ex) => ex.json(200, deps.directory.response())));

  app.post(
    '/v1/servers',
    http.handler('servers', true, (ex, req) => {
      ex.readBody(req, SERVER_LIST_BODY_CAP, (body) => {
        try {
          let json: unknown;
          try {
            json = JSON.parse(body);
          } catch {
            throw new P.ProtocolError('bad_json', 'body is not valid JSON');
          }
          P.parseServerListRequest(json);
          ex.json(200, deps.directory.response());
        } catch (e) {
          ex.error(e);
        }
      });
    }),
  );

  app.get(
    '/metrics',
    http.handler('metrics', false, (ex) => {
      deps.metrics.registry
        .metrics()
        .then((text) => ex.send(200, text, deps.metrics.registry.contentType, [['Cache-Control', 'no-store']]))
        .catch((e) => ex.error(e));
    }),
  );
}
