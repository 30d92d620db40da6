import type { TemplatedApp } from 'uWebSockets.js';
import * as P from '../../protocol/index.ts';
import type { RetrievalAuth } from '../auth.ts';
import { RelayError } from '../errors.ts';
import type { Exchange, HttpLayer } from '../http.ts';
import type { Ingestor } from '../ingest.ts';
import type { MessageStore } from '../store/store.ts';
import { decodeCursor, pageJson } from '../wire.ts';

export const MAX_PAGE = 500;
export const DEFAULT_PAGE = 100;
const MAX_DELETE_IDS = 500;
const DELETE_BODY_CAP = 64 * 1024;

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new P.ProtocolError('bad_json', 'body is not valid JSON');
  }
}

function parseLimit(text: string): number {
  if (text === '') return DEFAULT_PAGE;
  if (!/^\d{1,4}$/.test(text) || Number(text) < 1 || Number(text) > MAX_PAGE)
    throw new RelayError('bad_limit', `limit: a whole number from 1 to ${MAX_PAGE}`);
  return Number(text);
}

function parseCursor(text: string): number {
  const c = decodeCursor(text);
  if (c === undefined) throw new RelayError('bad_cursor', 'after: not a cursor this relay issued');
  return c;
}

/** Runs an async step for an exchange; errors become error responses. */
function run(ex: Exchange, fn: () => Promise<void>): void {
  fn().catch((e) => ex.error(e));
}

export function messageRoutes(app: TemplatedApp, http: HttpLayer, deps: { ingestor: Ingestor; store: MessageStore; auth: RetrievalAuth }): void {
  const { ingestor, store, auth } = deps;

  app.post(
    '/v1/messages',
    http.handler('post_messages', true, (ex, req) => {
      ex.readBody(req, P.MAX_PACKET_BODY, (body) => {
        let json: unknown;
        try {
          json = parseJson(body);
        } catch (e) {
          ex.error(e);
          return;
        }
        ingestor.ingestCb(json, 'client', (err, r) => {
          if (err) ex.error(err);
          else if (r!.duplicate) ex.send(200, `{"id":"${r!.id}","duplicate":true}`);
          else ex.send(202, `{"id":"${r!.id}"}`);
        });
      });
    }),
  );

  app.get(
    '/v1/messages',
    http.handler('get_messages', true, (ex, req) => {
      const header = req.getHeader('x-retrieval');
      const after = parseCursor(req.getQuery('after') ?? '');
      const limit = parseLimit(req.getQuery('limit') ?? '');
      run(ex, async () => {
        const p = await auth.header(header);
        if (!ex.open) return;
        const { messages, more } = store.page(p.public_key, after, limit);
        const cursor = messages.length ? messages[messages.length - 1]!.seq : after;
        ex.send(200, pageJson(messages, cursor, more), 'application/json', [['Cache-Control', 'no-store']]);
      });
    }),
  );

  app.del(
    '/v1/messages',
    http.handler('delete_messages', true, (ex, req) => {
      const header = req.getHeader('x-retrieval');
      if (header === '') throw new RelayError('auth_required', 'X-Retrieval header required');
      ex.readBody(req, DELETE_BODY_CAP, (body) => {
        run(ex, async () => {
          const o = P.asObject(parseJson(body), 'body');
          P.onlyFields(o, ['ids'], 'body');
          const ids = o.ids;
          if (ids === undefined) throw new P.ProtocolError('missing_field', 'ids: required', 'ids');
          if (!Array.isArray(ids)) throw new P.ProtocolError('bad_type', 'ids: must be an array', 'ids');
          if (ids.length > MAX_DELETE_IDS) throw new P.ProtocolError('too_large', `ids: at most ${MAX_DELETE_IDS}`, 'ids');
          ids.forEach((id, i) => {
            if (!P.isHex64(id)) throw new P.ProtocolError('bad_hex', `ids[${i}]: must be a message id (64 hex digits)`, `ids[${i}]`);
          });
          const p = await auth.header(header);
          if (!ex.open) return;
          const deleted = await store.deleteFor(p.public_key, ids as string[]);
          ex.json(200, { deleted });
        });
      });
    }),
  );
}
