import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as P from '../../protocol/index.ts';
import {
  cleanup,
  engine,
  getAll,
  getMessages,
  idOf,
  keyPair,
  type KeyPair,
  post,
  publicKeyOf,
  type RelayProcess,
  retrievalHeader,
  sealed,
  shaped,
  startRelay,
  tempDir,
} from './harness.ts';

let relay: RelayProcess;
let alice: KeyPair;
let bob: KeyPair;
let staticDir: string;

const INLINE = 'window.__boot = 1;';

beforeAll(async () => {
  [alice, bob] = await Promise.all([keyPair(), keyPair()]);
  staticDir = tempDir('relay-static-');
  mkdirSync(join(staticDir, '_app', 'immutable'), { recursive: true });
  writeFileSync(
    join(staticDir, 'index.html'),
    `<!doctype html><html><head><meta http-equiv="content-security-policy" content="script-src 'self' 'sha256-abc123abc123abc123abc123abc123abc123abc123a='"></head><body><script>${INLINE}</script></body></html>`,
  );
  writeFileSync(join(staticDir, '_app', 'immutable', 'app.abc123.js'), 'console.log(1);'.repeat(200));
  writeFileSync(join(staticDir, 'service-worker.js'), 'self.addEventListener("fetch", () => {});');
  writeFileSync(join(staticDir, 'manifest.webmanifest'), '{"name":"meshchat"}');
  relay = await startRelay({ args: ['--static', staticDir, '--rate-limit', '0'] });
});

afterAll(() => cleanup(relay));

describe('POST /v1/messages', () => {
  it('answers 202 with the packet id when new, 200 duplicate when held', async () => {
    const p = await sealed(alice, bob, 'hi bob');
    const first = await post(relay.url, p);
    expect(first.status).toBe(202);
    expect(first.json).toEqual({ id: await idOf(p) });
    expect(first.headers.get('access-control-allow-origin')).toBe('*');
    const again = await post(relay.url, p);
    expect(again.status).toBe(200);
    expect(again.json).toEqual({ id: await idOf(p), duplicate: true });
  });

  it('dedupes the same packet sent concurrently', async () => {
    const p = shaped(bob);
    const rs = await Promise.all([post(relay.url, p), post(relay.url, p), post(relay.url, p)]);
    expect(rs.map((r) => r.status).sort()).toEqual([200, 200, 202]);
  });

  it('accepts every bucket size and text/plain bodies (no CORS preflight needed)', async () => {
    for (const b of P.BUCKETS) expect((await post(relay.url, shaped(bob, b))).status).toBe(202);
    const r = await fetch(`${relay.url}/v1/messages`, { method: 'POST', body: JSON.stringify(shaped(bob)), headers: { 'content-type': 'text/plain' } });
    expect(r.status).toBe(202);
  });

  it('refuses a recipient that is not an RSA-2048 key', async () => {
    const p = shaped(bob);
    const r = await post(relay.url, { ...p, recipient: p.recipient.slice(0, -8) + 'AAAAAAAA' });
    expect(r.status).toBe(400);
    expect(r.json.error.code).toMatch(/^(bad_key|key_exponent|bad_base64)$/);
  });

  it('refuses envelopes that are not a bucket size or have the wrong version', async () => {
    const p = shaped(bob);
    const short = Buffer.from(p.message, 'base64').subarray(0, 1000).toString('base64');
    expect((await post(relay.url, { ...p, message: short })).json.error.code).toBe('bad_bucket');
    const wrongVersion = Buffer.from(p.message, 'base64');
    wrongVersion[0] = 2;
    const r = await post(relay.url, { ...p, message: wrongVersion.toString('base64') });
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('bad_envelope_version');
  });
});

describe('GET /v1/messages', () => {
  it('returns a key its messages oldest first, pages with the cursor, and keeps them for other devices', async () => {
    const carol = await keyPair();
    const sent: string[] = [];
    for (let i = 0; i < 7; i++) {
      const p = i === 0 ? await sealed(alice, carol, 'first') : shaped(carol);
      expect((await post(relay.url, p)).status).toBe(202);
      sent.push(await idOf(p));
    }
    const page1 = await getMessages(relay.url, await retrievalHeader(carol, relay.id), '?limit=3');
    expect(page1.status).toBe(200);
    expect(page1.json.messages.map((m: { id: string }) => m.id)).toEqual(sent.slice(0, 3));
    expect(page1.json.more).toBe(true);
    expect(typeof page1.json.cursor).toBe('string');
    const m0 = page1.json.messages[0];
    expect(Object.keys(m0).sort()).toEqual(['id', 'message', 'received_at', 'recipient', 'signature']);
    expect(m0.recipient).toBe(publicKeyOf(carol));
    expect(Date.parse(m0.received_at)).toBeGreaterThan(Date.now() - 60_000);
    // The first one is a real sealed packet: it opens with carol's key.
    const opened = await P.openPacket(engine, carol, { recipient: m0.recipient, message: m0.message, signature: m0.signature });
    expect(opened.content).toBe('first');
    expect(opened.id).toBe(sent[0]);

    const page2 = await getMessages(relay.url, await retrievalHeader(carol, relay.id), `?limit=3&after=${page1.json.cursor}`);
    expect(page2.json.messages.map((m: { id: string }) => m.id)).toEqual(sent.slice(3, 6));
    const page3 = await getMessages(relay.url, await retrievalHeader(carol, relay.id), `?limit=3&after=${page2.json.cursor}`);
    expect(page3.json.messages.map((m: { id: string }) => m.id)).toEqual(sent.slice(6));
    expect(page3.json.more).toBe(false);
    const empty = await getMessages(relay.url, await retrievalHeader(carol, relay.id), `?after=${page3.json.cursor}`);
    expect(empty.json).toEqual({ messages: [], cursor: page3.json.cursor, more: false });
    // A second device with the same key still gets everything.
    expect((await getAll(relay.url, carol, relay.id)).map((m) => m.id)).toEqual(sent);
  });

  it('streams a full 500-message page intact to a client that stops reading mid-way (backpressure)', async () => {
    const erin = await keyPair();
    // 500 packets of the 4 KiB bucket: a ~4 MB page, far more than a socket buffer holds.
    const want: string[] = [];
    for (let i = 0; i < 500; i += 50) {
      const batch = Array.from({ length: 50 }, () => shaped(erin, 4096));
      const ids = await Promise.all(batch.map(async (p) => (expect((await post(relay.url, p)).status).toBe(202), idOf(p))));
      want.push(...ids);
    }
    const u = new URL(relay.url);
    const header = await retrievalHeader(erin, relay.id);
    const socket = net.connect(Number(u.port), u.hostname);
    await new Promise((r) => socket.once('connect', r));
    socket.write(`GET /v1/messages?limit=500 HTTP/1.1\r\nHost: x\r\nX-Retrieval: ${header}\r\n\r\n`);
    socket.pause(); // the relay must wait for onWritable, not drop or duplicate bytes
    await new Promise((r) => setTimeout(r, 500));
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.resume();
    const text = await new Promise<string>((resolve, reject) => {
      const done = (): void => {
        const all = Buffer.concat(chunks).toString('latin1');
        const head = all.indexOf('\r\n\r\n');
        const length = Number(/content-length: (\d+)/i.exec(all.slice(0, head))?.[1]);
        if (head > 0 && all.length >= head + 4 + length) resolve(all.slice(head + 4, head + 4 + length));
      };
      socket.on('data', done);
      socket.once('error', reject);
    });
    socket.destroy();
    const page = JSON.parse(text) as { messages: { id: string }[]; more: boolean };
    expect(page.messages.map((m) => m.id)).toEqual(want);
    expect(page.more).toBe(false);
  });

  it('never returns another key its messages', async () => {
    const dave = await keyPair();
    expect((await getAll(relay.url, dave, relay.id)).length).toBe(0);
  });

  it('refuses bad cursors and limits with 400', async () => {
    for (const q of ['?after=abc', '?after=-1', '?after=1e5', '?after=99999999999999999']) {
      const r = await getMessages(relay.url, await retrievalHeader(bob, relay.id), q);
      expect([r.status, r.json.error.code]).toEqual([400, 'bad_cursor']);
    }
    for (const q of ['?limit=0', '?limit=501', '?limit=x']) {
      const r = await getMessages(relay.url, await retrievalHeader(bob, relay.id), q);
      expect([r.status, r.json.error.code]).toEqual([400, 'bad_limit']);
    }
  });

  it('refuses each bad retrieval with 401 and its own code', async () => {
    const missing = await getMessages(relay.url, undefined);
    expect([missing.status, missing.json.error.code]).toEqual([401, 'auth_required']);

    const wrongRelay = await getMessages(relay.url, await retrievalHeader(bob, 'a'.repeat(64)));
    expect([wrongRelay.status, wrongRelay.json.error.code]).toEqual([401, 'wrong_relay']);

    const stale = await getMessages(relay.url, await retrievalHeader(bob, relay.id, { now: Date.now() - 10 * 60_000 }));
    expect([stale.status, stale.json.error.code]).toEqual([401, 'stale_timestamp']);
    const future = await getMessages(relay.url, await retrievalHeader(bob, relay.id, { now: Date.now() + 10 * 60_000 }));
    expect([future.status, future.json.error.code]).toEqual([401, 'stale_timestamp']);

    // Signed by alice but claiming bob's key.
    const forged = await P.signRetrieval(engine, alice, relay.id);
    forged.public_key = publicKeyOf(bob);
    const bad = await getMessages(relay.url, P.encodeRetrievalHeader(forged));
    expect([bad.status, bad.json.error.code]).toEqual([401, 'bad_signature']);

    const header = await retrievalHeader(bob, relay.id);
    expect((await getMessages(relay.url, header)).status).toBe(200);
    const replay = await getMessages(relay.url, header);
    expect([replay.status, replay.json.error.code]).toEqual([401, 'nonce_reused']);

    const garbage = await getMessages(relay.url, '!!!');
    expect(garbage.status).toBe(400);
    expect(garbage.json.error.code).toBe('bad_base64');
  });
});

describe('DELETE /v1/messages', () => {
  it('lets the recipient remove its messages, and only its own', async () => {
    const erin = await keyPair();
    const p1 = shaped(erin);
    const p2 = shaped(erin);
    const other = shaped(bob);
    for (const p of [p1, p2, other]) expect((await post(relay.url, p)).status).toBe(202);
    const ids = [await idOf(p1), await idOf(other)];
    const del = async (k: KeyPair, body: unknown, header?: string): Promise<Response> =>
      fetch(`${relay.url}/v1/messages`, { method: 'DELETE', body: JSON.stringify(body), headers: { 'x-retrieval': header ?? (await retrievalHeader(k, relay.id)) } });
    const r = await del(erin, { ids });
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ deleted: 1 });
    expect((await getAll(relay.url, erin, relay.id)).map((m) => m.id)).toEqual([await idOf(p2)]);
    expect((await getAll(relay.url, bob, relay.id)).map((m) => m.id)).toContain(await idOf(other));
    // Deleted stays deleted: posting it again is a duplicate, not a resurrection.
    expect((await post(relay.url, p1)).status).toBe(200);
    expect((await getAll(relay.url, erin, relay.id)).length).toBe(1);

    expect((await del(erin, { ids: ['nothex'] })).status).toBe(400);
    expect((await del(erin, { nope: [] })).status).toBe(400);
    expect((await del(erin, { ids: Array(501).fill('a'.repeat(64)) })).status).toBe(400);
    const noAuth = await fetch(`${relay.url}/v1/messages`, { method: 'DELETE', body: '{"ids":[]}' });
    expect(noAuth.status).toBe(401);
    const wrong = await del(erin, { ids: [] }, await retrievalHeader(erin, 'b'.repeat(64)));
    expect(wrong.status).toBe(401);
  });
});

describe('status, servers, health, metrics', () => {
  it('GET /v1/status describes the relay', async () => {
    const s = (await (await fetch(`${relay.url}/v1/status`)).json()) as Record<string, unknown>;
    expect(s.id).toBe(relay.id);
    expect(await P.fingerprint(engine, s.public_key as string)).toBe(relay.id);
    expect(s.url).toBe(relay.url);
    expect(typeof s.version).toBe('string');
    expect(s.load).toBeGreaterThanOrEqual(0);
    expect(s.load).toBeLessThanOrEqual(1);
    expect(typeof s.uptime_s).toBe('number');
    expect(s.peers).toBe(0);
  });

  it('GET and POST /v1/servers give a server_list_response with a valid signed descriptor', async () => {
    const get = (await (await fetch(`${relay.url}/v1/servers`)).json()) as P.ServerListResponse;
    const { response, rejected } = P.parseServerListResponse(get);
    expect(rejected).toEqual([]);
    expect(response.known_servers).toEqual([relay.id]);
    const d = await P.verifyDescriptor(engine, response.servers[0], Date.now());
    expect(d.url).toBe(relay.url);

    const req: P.ServerListRequest = { type: 'server_list_request', requester_id: 'client-1', timestamp: new Date().toISOString() };
    const r = await fetch(`${relay.url}/v1/servers`, { method: 'POST', body: JSON.stringify(req) });
    expect(r.status).toBe(200);
    expect(((await r.json()) as P.ServerListResponse).known_servers).toEqual([relay.id]);
    const bad = await fetch(`${relay.url}/v1/servers`, { method: 'POST', body: JSON.stringify({ ...req, type: 'nope' }) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('bad_type');
  });

  it('GET /healthz and /metrics', async () => {
    expect((await fetch(`${relay.url}/healthz`)).status).toBe(200);
    const m = await (await fetch(`${relay.url}/metrics`)).text();
    for (const name of ['relay_http_requests_total', 'relay_messages_total', 'relay_messages_stored', 'relay_messages_stored_bytes', 'relay_store_log_bytes', 'relay_push_subscribers', 'relay_process_nodejs_eventloop_lag_p99_seconds'])
      expect(m).toContain(name);
    expect(m).toMatch(/relay_messages_total\{result="accepted",reason="",source="client"\} \d+/);
    expect(m).toMatch(/relay_messages_total\{result="refused",reason="bad_bucket",source="client"\} \d+/);
  });

  it('answers CORS preflights and refuses unknown paths and methods', async () => {
    const pre = await fetch(`${relay.url}/v1/messages`, { method: 'OPTIONS', headers: { origin: 'https://example.org', 'access-control-request-headers': 'x-retrieval' } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('*');
    expect(pre.headers.get('access-control-allow-headers')).toMatch(/X-Retrieval/i);
    expect(pre.headers.get('access-control-allow-methods')).toMatch(/DELETE/);
    const nf = await fetch(`${relay.url}/v1/nope`);
    expect([nf.status, ((await nf.json()) as { error: { code: string } }).error.code]).toEqual([404, 'not_found']);
    const put = await fetch(`${relay.url}/v1/messages`, { method: 'PUT', body: '{}' });
    expect(put.status).toBe(405);
    const plain = await fetch(`${relay.url}/v1/subscribe`);
    expect(plain.status).toBe(426);
  });
});

describe('static PWA', () => {
  it('serves index.html revalidated, with a CSP carrying the inline script and meta hashes', async () => {
    const r = await fetch(`${relay.url}/`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/text\/html/);
    expect(r.headers.get('cache-control')).toBe('no-cache');
    const csp = r.headers.get('content-security-policy')!;
    const hash = `'sha256-${(await import('node:crypto')).createHash('sha256').update(INLINE).digest('base64')}'`;
    expect(csp).toContain(`script-src 'self'`);
    expect(csp).toContain(hash);
    expect(csp).toContain(`'sha256-abc123abc123abc123abc123abc123abc123abc123a='`);
    expect(csp).toContain("default-src 'self'");
    expect(csp).toMatch(/connect-src [^;]*https: [^;]*wss:/);
    expect(csp).toContain("img-src 'self' data: blob:");
    expect(csp).toContain("worker-src 'self' blob:");
    const etag = r.headers.get('etag')!;
    const again = await fetch(`${relay.url}/`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
  });

  it('caches hashed assets for a year, revalidates the service worker and manifest', async () => {
    const a = await fetch(`${relay.url}/_app/immutable/app.abc123.js`);
    expect(a.status).toBe(200);
    expect(a.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(a.headers.get('content-type')).toMatch(/javascript/);
    expect(await a.text()).toBe('console.log(1);'.repeat(200));
    expect((await fetch(`${relay.url}/service-worker.js`)).headers.get('cache-control')).toBe('no-cache');
    expect((await fetch(`${relay.url}/manifest.webmanifest`)).headers.get('cache-control')).toBe('no-cache');
  });

  it('falls back to index.html for app routes, 404 for missing files, and never leaves the build folder', async () => {
    const spa = await fetch(`${relay.url}/chat/some-contact`);
    expect(spa.status).toBe(200);
    expect(await spa.text()).toContain('__boot');
    expect((await fetch(`${relay.url}/_app/immutable/missing.js`)).status).toBe(404);
    expect((await fetch(`${relay.url}/%2e%2e/%2e%2e/etc/passwd`)).status).not.toBe(500);
    const esc = await fetch(`${relay.url}/..%2f..%2fetc%2fpasswd.txt`);
    expect(esc.status).toBe(404);
  });
});

describe('rate limits', () => {
  let limited: RelayProcess | undefined;
  afterAll(() => cleanup(limited));
  it('answers 429 with Retry-After when an address exceeds its bucket', async () => {
    limited = await startRelay({ args: ['--rate-limit', '1', '--rate-burst', '3'] });
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 6; i++) {
      const r = await post(limited.url, shaped(bob));
      statuses.push(r.status);
      if (r.status === 429) {
        retryAfter = r.headers.get('retry-after');
        expect(r.json.error.code).toBe('rate_limited');
      }
    }
    // The readiness probe used one token.
    expect(statuses.filter((s) => s === 202).length).toBeLessThanOrEqual(3);
    expect(statuses).toContain(429);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    expect((await fetch(`${limited.url}/healthz`)).status).toBe(200);
  });
});
