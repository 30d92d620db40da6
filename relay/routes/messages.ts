import type { TemplatedApp } from 'uWebSockets.js';
import * as P from '../../protocol/index.ts';
import type { RetrievalAuth } from '../auth.ts';
import { RelayError } from '../errors.ts';
import type { Exchange, HttpLayer } from '../http.ts';
import type { Ingestor } from '../ingest.ts';
import type { MessageStore } from '../store/store.ts';
import { type LongPolls, MAX_WAIT_S } from './long-poll.ts';
import { decodeCursor, messageJson, pageJsonParts } from '../wire.ts';

export const MAX_PAGE = 500;
export const DEFAULT_PAGE = 100;
const MAX_DELETE_IDS = 500;
const DELETE_BODY_CAP = 64 * 1024;

/** JSON text built by hand (the page hot path), in parts: sent as is, joined or parsed only when it must be re-serialised. */
export class RawJson {
  readonly parts: readonly string[];
  constructor(text: string | readonly string[]) {
    this.parts = typeof text === 'string' ? [text] : text;
  }

  get text(): string {
    return this.parts.length === 1 ? this.parts[0]! : this.parts.join('');
  }
}

/**
 * What a message operation answers, whoever asked: the HTTP routes below send
 * it, the forward dispatcher (relay/proxy/destination.ts) seals it. Refusals
 * are thrown as ProtocolError/RelayError.
 */
export interface Outcome {
  status: number;
  body: unknown;
}

export interface MessageDeps {
  ingestor: Ingestor;
  store: MessageStore;
  auth: RetrievalAuth;
  longPolls: LongPolls;
}

export const bodyValue = (body: unknown): unknown => (body instanceof RawJson ? JSON.parse(body.text) : body);

export function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
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

function parseWait(text: string): number {
  if (text === '') return 0;
  if (!/^\d{1,2}$/.test(text) || Number(text) > MAX_WAIT_S) throw new RelayError('bad_wait', `wait: a whole number of seconds from 0 to ${MAX_WAIT_S}`);
  return Number(text);
}

function parseCursor(text: string): number {
  const c = decodeCursor(text);
  if (c === undefined) throw new RelayError('bad_cursor', 'after: not a cursor this relay issued');
  return c;
}

export function requireRetrieval(header: string): void {
  if (header === '') throw new RelayError('auth_required', 'X-Retrieval header required');
}

/** POST /v1/messages: 202 {id} when new, 200 {id, duplicate} when held. Callback form: this is the hot path. */
export function postMessage(d: MessageDeps, json: unknown, cb: (err: unknown, out?: Outcome) => void): void {
  d.ingestor.ingestCb(json, 'client', (err, r) => {
    if (err) cb(err);
    else if (r!.duplicate) cb(null, { status: 200, body: new RawJson(`{"id":"${r!.id}","duplicate":true}`) });
    else cb(null, { status: 202, body: new RawJson(`{"id":"${r!.id}"}`) });
  });
}

/** Whoever a handler answers (an Exchange, or a proxy's forward): whether it still listens, and a hook for when it stops. */
export interface Asker {
  readonly open: boolean;
  onAbort(fn: () => void): void;
}

/** An asker that never goes away (tests, internal callers). */
const STAYS: Asker = { open: true, onAbort: () => {} };

export const postMessageAsync = (d: MessageDeps, json: unknown): Promise<Outcome> =>
  new Promise((resolve, reject) => postMessage(d, json, (err, out) => (err ? reject(err) : resolve(out!))));

/**
 * GET /v1/messages: one page of the authenticated key's messages after the
 * cursor. `maxBytes` bounds the page JSON (forwarded pages must fit the
 * largest sealed response bucket): messages that do not fit are left for the
 * next page (`more: true`, cursor at the last one included).
 * With `wait` (seconds), an empty page is held until a message for the key
 * is accepted or the wait runs out (long-poll.ts), or the asker hangs up.
 * An asker gone (`open` false) skips the read.
 */
export async function getPage(
  d: MessageDeps,
  query: { header: string; after: string; limit: string; wait?: string },
  maxBytes = Infinity,
  asker: Asker = STAYS,
): Promise<Outcome | undefined> {
  const after = parseCursor(query.after);
  const limit = parseLimit(query.limit);
  const wait = parseWait(query.wait ?? '');
  const p = await d.auth.header(query.header);
  if (!asker.open) return undefined;
  let { messages, more } = d.store.page(p.public_key, after, limit);
  if (messages.length === 0 && wait > 0) {
    // No await between the read and registering: a message accepted meanwhile would be missed.
    // A held retrieval whose asker hangs up gives its slot back at once, not when the wait ends.
    const woken = await d.longPolls.wait(p.public_key, wait * 1000, (cancel) => asker.onAbort(cancel));
    if (!asker.open) return undefined;
    if (woken) ({ messages, more } = d.store.page(p.public_key, after, limit));
  }
  if (maxBytes === Infinity) {
    const cursor = messages.length ? messages[messages.length - 1]!.seq : after;
    return { status: 200, body: new RawJson(pageJsonParts(messages, cursor, more)) };
  }
  // Room for the page's own fields: {"messages":[…],"cursor":"<16 digits>","more":false}.
  let room = maxBytes - 64;
  const parts: string[] = [];
  let cursor = after;
  for (const m of messages) {
    const j = messageJson(m);
    if (j.length + 1 > room && parts.length > 0) break;
    room -= j.length + 1;
    parts.push(j);
    cursor = m.seq;
  }
  const truncated = parts.length < messages.length;
  return { status: 200, body: new RawJson(`{"messages":[${parts.join(',')}],"cursor":"${cursor}","more":${more || truncated}}`) };
}

/** DELETE /v1/messages: deletes the authenticated key's messages among `ids`. */
export async function deleteMessages(d: MessageDeps, header: string, json: unknown, asker: Asker = STAYS): Promise<Outcome | undefined> {
  requireRetrieval(header);
  const o = P.asObject(json, 'body');
  P.onlyFields(o, ['ids'], 'body');
  const ids = o.ids;
  if (ids === undefined) throw new P.ProtocolError('missing_field', 'ids: required', 'ids');
  if (!Array.isArray(ids)) throw new P.ProtocolError('bad_type', 'ids: must be an array', 'ids');
  if (ids.length > MAX_DELETE_IDS) throw new P.ProtocolError('too_large', `ids: at most ${MAX_DELETE_IDS}`, 'ids');
  ids.forEach((id, i) => {
    if (!P.isHex64(id)) throw new P.ProtocolError('bad_hex', `ids[${i}]: must be a message id (64 hex digits)`, `ids[${i}]`);
  });
  const p = await d.auth.header(header);
  if (!asker.open) return undefined;
  const deleted = await d.store.deleteFor(p.public_key, ids as string[]);
  return { status: 200, body: { deleted } };
}

/** Sends an outcome on an exchange. */
export function sendOutcome(ex: Exchange, out: Outcome | undefined): void {
  if (!out) return;
  if (out.body instanceof RawJson) ex.sendParts(out.status, out.body.parts, 'application/json', NO_STORE);
  else ex.json(out.status, out.body);
}

const NO_STORE: readonly (readonly [string, string])[] = [['Cache-Control', 'no-store']];

/** Runs an async step for an exchange; errors become error responses. */
export function run(ex: Exchange, fn: () => Promise<void>): void {
  fn().catch((e) => ex.error(e));
}

export function messageRoutes(app: TemplatedApp, http: HttpLayer, deps: MessageDeps): void {
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
        postMessage(deps, json, (err, out) => {
          if (err) ex.error(err);
          else ex.send(out!.status, (out!.body as RawJson).text);
        });
      });
    }),
  );

  app.get(
    '/v1/messages',
    http.handler('get_messages', true, (ex, req) => {
      const query = { header: req.getHeader('x-retrieval'), after: req.getQuery('after') ?? '', limit: req.getQuery('limit') ?? '', wait: req.getQuery('wait') ?? '' };
      run(ex, async () => sendOutcome(ex, await getPage(deps, query, Infinity, ex)));
    }),
  );

  app.del(
    '/v1/messages',
    http.handler('delete_messages', true, (ex, req) => {
      const header = req.getHeader('x-retrieval');
      // Before reading the body: no point receiving it without credentials.
      requireRetrieval(header);
      ex.readBody(req, DELETE_BODY_CAP, (body) => {
        run(ex, async () => sendOutcome(ex, await deleteMessages(deps, header, parseJson(body), ex)));
      });
    }),
  );
}
