import * as P from '../../protocol/index.ts';
import { toWireError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { type Asker, deleteMessages, getPage, type MessageDeps, type Outcome, postMessageAsync } from '../routes/messages.ts';
import type { ServerDirectory } from '../servers.ts';

/**
 * Page JSON budget for a GET run on a proxied client's behalf: the sealed
 * answer {"status":200,"body":<page>} must fit the largest forward response
 * bucket (2 MiB). getPage stops adding messages before the page would pass
 * this (the rest follow with more:true); one message is at most ~90 KB, so a
 * page holds at least 23 of the largest and up to `limit` (≤ 500) small ones.
 */
export const FORWARD_PAGE_BYTES = P.FORWARD_RESPONSE_BUCKETS[5] - 256;

export interface DestinationDeps extends MessageDeps {
  status: () => Record<string, unknown>;
  directory: ServerDirectory;
  log: Logger;
}

/**
 * Runs an opened forward request exactly as the direct endpoint would: the
 * same functions (routes/messages.ts), the same ingest path, retrieval auth,
 * paging and delete. An asker gone (the proxy hung up) skips reads/deletes
 * and ends a held retrieval.
 */
export async function runForwarded(d: DestinationDeps, req: P.ForwardRequest, asker: Asker): Promise<Outcome | undefined> {
  const q = req.path.indexOf('?');
  const path = q < 0 ? req.path : req.path.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : req.path.slice(q + 1));
  const route = `${req.method} ${path}`;
  switch (route) {
    case 'GET /v1/messages':
      return getPage(d, { header: req.retrieval ?? '', after: query.get('after') ?? '', limit: query.get('limit') ?? '', wait: query.get('wait') ?? '' }, FORWARD_PAGE_BYTES, asker);
    case 'POST /v1/messages':
      return postMessageAsync(d, req.body);
    case 'DELETE /v1/messages':
      return deleteMessages(d, req.retrieval ?? '', req.body, asker);
    case 'GET /v1/status':
      return { status: 200, body: d.status() };
    case 'GET /v1/servers':
      return { status: 200, body: d.directory.response() };
    default:
      // openForwardRequest already refuses anything else; kept total for the type checker.
      throw new P.ProtocolError('unsupported', `cannot run ${req.method} ${path.slice(0, 60)} forwarded`, 'path');
  }
}

/** A refusal as the sealed answer carries it: {status, body:{error:{code,message}}}. */
export function errorOutcome(e: unknown, log: Logger): Outcome {
  const w = toWireError(e);
  if (w.status === 500) log.error({ err: e, route: 'forwarded' }, 'forwarded request failed');
  return { status: w.status, body: { error: { code: w.code, message: w.message } } };
}
