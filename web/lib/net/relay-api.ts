import type { ClientMessagePacket } from '$protocol/packets.ts';
import type { ForwardRequest } from '$protocol/forward.ts';
import { parseErrorBody, parseMessagePage, parseStatus, type MessagePage, type RelayStatus } from './wire.ts';

/** A failed relay call. `status` 0 means the network (or a timeout), not the relay, failed. */
export class RelayError extends Error {
  override readonly name = 'RelayError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const TIMEOUT_MS = 10_000;
const MAX_BODY = 8 * 1024 * 1024;

/** The code of a RelayError for a call its caller called off (not a failure of anyone's). */
export const ABORTED = 'aborted';

/** The call's deadline, and the caller's signal when it has one. */
const deadline = (ms: number, signal?: AbortSignal): AbortSignal => (signal ? AbortSignal.any([AbortSignal.timeout(ms), signal]) : AbortSignal.timeout(ms));

function networkError(e: unknown, signal?: AbortSignal): RelayError {
  if (signal?.aborted) return new RelayError(0, ABORTED, 'called off');
  return new RelayError(0, 'network', e instanceof Error ? e.message : String(e));
}

async function call(url: string, init: RequestInit = {}, timeoutMs = TIMEOUT_MS, signal?: AbortSignal): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, signal: deadline(timeoutMs, signal), cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' });
  } catch (e) {
    throw networkError(e, signal);
  }
  const text = await res.text();
  if (text.length > MAX_BODY) throw new RelayError(res.status, 'too_large', 'relay answer too large');
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    throw new RelayError(res.status, 'bad_json', `relay answered ${res.status} with non-JSON`);
  }
  if (!res.ok) {
    const e = parseErrorBody(body);
    throw new RelayError(res.status, e?.code ?? 'http_error', e?.message ?? `HTTP ${res.status}`);
  }
  return body;
}

const join = (base: string, path: string): string => base.replace(/\/+$/, '') + path;

/**
 * Runs one request at a destination relay through a proxy relay (dual proxy,
 * web/lib/net/proxy.ts builds it): resolves with the destination's JSON body
 * or throws a RelayError with the destination's (or the proxy's) status.
 */
export type Forward = (req: ForwardRequest, signal?: AbortSignal) => Promise<unknown>;

export async function postMessage(base: string, packet: ClientMessagePacket, forward?: Forward): Promise<{ id: string; duplicate: boolean }> {
  const body = forward
    ? await forward({ method: 'POST', path: '/v1/messages', body: packet })
    : await call(join(base, '/v1/messages'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(packet),
      });
  const o = body as { id?: unknown; duplicate?: unknown } | undefined;
  if (!o || typeof o.id !== 'string') throw new RelayError(200, 'bad_answer', 'relay did not return an id');
  return { id: o.id, duplicate: o.duplicate === true };
}

/**
 * One page after `after`; with `wait` (seconds) the relay may hold an empty
 * page that long (long poll). `signal` calls it off (RelayError ABORTED).
 */
export async function getMessages(base: string, header: string, after?: string, limit = 200, forward?: Forward, wait = 0, signal?: AbortSignal): Promise<MessagePage> {
  const q = new URLSearchParams({ limit: String(limit) });
  if (after) q.set('after', after);
  if (wait > 0) q.set('wait', String(wait));
  const body = forward
    ? await forward({ method: 'GET', path: `/v1/messages?${q}`, retrieval: header }, signal)
    : await call(join(base, `/v1/messages?${q}`), { headers: { 'x-retrieval': header } }, TIMEOUT_MS + wait * 1000, signal);
  const page = parseMessagePage(body);
  if (!page) throw new RelayError(200, 'bad_answer', 'relay returned a malformed message page');
  return page;
}

export async function getStatus(base: string, forward?: Forward): Promise<RelayStatus> {
  const s = parseStatus(forward ? await forward({ method: 'GET', path: '/v1/status' }) : await call(join(base, '/v1/status')));
  if (!s) throw new RelayError(200, 'bad_answer', 'relay returned a malformed status');
  return s;
}

/** Raw server list; the caller verifies each descriptor in the worker. */
export async function getServers(base: string, forward?: Forward): Promise<unknown[]> {
  const body = (forward ? await forward({ method: 'GET', path: '/v1/servers' }) : await call(join(base, '/v1/servers'))) as { type?: unknown; servers?: unknown } | undefined;
  if (!body || body.type !== 'server_list_response' || !Array.isArray(body.servers)) return [];
  return body.servers.slice(0, 256);
}

/**
 * POST /v1/forward on a proxy. `fromDestination` is false when the proxy
 * itself refused (no X-Forward-Origin header), so the caller blames the right relay.
 */
export async function postForward(proxy: string, packet: { to: string; envelope: string }, signal?: AbortSignal): Promise<{ body: unknown; fromDestination: boolean }> {
  let res: Response;
  try {
    res = await fetch(join(proxy, '/v1/forward'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(packet),
      signal: deadline(TIMEOUT_MS * 2, signal),
      cache: 'no-store',
      credentials: 'omit',
      referrerPolicy: 'no-referrer',
    });
  } catch (e) {
    throw networkError(e, signal);
  }
  const text = await res.text();
  if (text.length > MAX_BODY) throw new RelayError(res.status, 'too_large', 'proxy answer too large');
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    throw new RelayError(res.status, 'bad_json', `proxy answered ${res.status} with non-JSON`);
  }
  const fromDestination = res.headers.get('x-forward-origin') === 'destination';
  if (!res.ok) {
    const e = parseErrorBody(body);
    throw new RelayError(res.status, e?.code ?? 'http_error', `${fromDestination ? 'destination' : 'proxy'}: ${e?.message ?? `HTTP ${res.status}`}`);
  }
  return { body, fromDestination };
}
