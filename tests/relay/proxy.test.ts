// Dual proxy on real relays: the client (this test, on 127.0.0.1) sends through
// proxy A to TX relay B and reads through proxy C from RX relay D, with B
// flooding to D over the mesh. Proxies send from their own loopback addresses
// (--outbound-address), and every relay records the address of each request
// it serves (--debug-record-addresses), so the test can check who saw whom.
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as P from '../../protocol/index.ts';
import {
  cleanup,
  engine,
  freePort,
  idOf,
  type Json,
  keyPair,
  type KeyPair,
  publicKeyOf,
  type RelayProcess,
  retrievalHeader,
  sealed,
  shaped,
  startRelay,
  tempDir,
} from './harness.ts';

const CLIENT = '127.0.0.1';
const A_OUT = '127.0.0.2';
const C_OUT = '127.0.0.3';
const FAST = ['--target-peers', '0', '--canary-interval', '0', '--gossip-interval', '1s', '--rate-limit', '0', '--sync', 'normal'];

type Node = RelayProcess & { record: string };
let A: Node, B: Node, C: Node, D: Node, E: Node;
let alice: KeyPair, bob: KeyPair, carol: KeyPair;
const recordDir = tempDir('proxy-records-');

async function until(pred: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const status = async (n: RelayProcess): Promise<Json> => (await fetch(`${n.url}/v1/status`)).json();

/** What a relay recorded, as {route, remote_address}; IPv4-mapped forms are unwrapped. */
function recorded(n: Node): { route: string; remote_address: string }[] {
  return readFileSync(n.record, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .map((r) => ({ route: r.route, remote_address: String(r.remote_address).replace(/^::ffff:/, '') }));
}

async function descriptorOf(via: RelayProcess, id: string): Promise<P.RelayDescriptor> {
  const list = (await (await fetch(`${via.url}/v1/servers`)).json()) as P.ServerListResponse;
  const d = list.servers.find((s) => s.id === id);
  if (!d) throw new Error(`${id.slice(0, 8)} not in ${via.url}'s list`);
  return P.verifyDescriptor(engine, d, Date.now());
}

async function postRaw(url: string, path: string, body: string): Promise<{ status: number; json: Json; headers: Headers }> {
  const r = await fetch(`${url}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  const text = await r.text();
  let json: Json;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: r.status, json, headers: r.headers };
}

/** Seals `req` to `dest`, posts it to `proxy`'s /v1/forward, opens the answer. */
async function viaProxy(proxy: RelayProcess, dest: P.RelayDescriptor, req: P.ForwardRequest): Promise<{ status: number; body: Json; outer: number; packet: P.ForwardPacket; replyKey: Uint8Array }> {
  const key = await P.importPublicKey(engine, dest.public_key);
  const { packet, replyKey } = await P.sealForwardRequest(engine, { id: dest.id, key }, req);
  const r = await postRaw(proxy.url, '/v1/forward', JSON.stringify(packet));
  if (r.status !== 200) return { status: r.status, body: r.json, outer: r.status, packet, replyKey };
  expect(r.headers.get('x-forward-origin')).toBe('destination');
  const opened = await P.openForwardResponse(engine, replyKey, r.json);
  return { ...opened, body: opened.body as Json, outer: 200, packet, replyKey };
}

/** A request declaring a body one byte over the forward cap: answered 413 before the body is read. */
function declaredOversized(relay: RelayProcess, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(relay.port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer: ${text}`));
    }, 5000);
    sock.on('data', (d) => {
      text += d;
      if (/\r\n\r\n[\s\S]*\}/.test(text)) {
        clearTimeout(timer);
        sock.destroy();
        resolve(text);
      }
    });
    sock.on('error', () => {});
    sock.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${P.MAX_FORWARD_BODY + 1}\r\n\r\n{"to":"`);
  });
}

async function start(port: number, name: string, args: string[]): Promise<Node> {
  const record = join(recordDir, `${name}.jsonl`);
  const r = await startRelay({ port, args: [...FAST, '--debug-record-addresses', record, ...args] });
  return Object.assign(r, { record });
}

beforeAll(async () => {
  [alice, bob, carol] = await Promise.all([keyPair(), keyPair(), keyPair()]);
  const ports: number[] = [];
  while (ports.length < 5) {
    const p = await freePort();
    if (!ports.includes(p)) ports.push(p);
  }
  const url = (i: number): string => `http://127.0.0.1:${ports[i]}`;
  // A→B, C→D and B→D are links the first relay dials (so A and C have proven B's and D's keys at their URLs).
  [B, D] = await Promise.all([start(ports[1]!, 'B', ['--peer', url(3)]), start(ports[3]!, 'D', [])]);
  [A, C, E] = await Promise.all([
    start(ports[0]!, 'A', ['--peer', url(1), '--outbound-address', A_OUT, '--log-level', 'debug']),
    start(ports[2]!, 'C', ['--peer', url(3), '--outbound-address', C_OUT, '--log-level', 'debug']),
    // E claims B's URL as its own and dials A: A lists it (a valid signed descriptor), but B's URL does not prove E's key.
    start(ports[4]!, 'E', ['--peer', url(0), '--public-url', url(1)]),
  ]);
  await until(async () => (await status(A)).peers >= 2 && (await status(C)).peers >= 1 && (await status(D)).peers >= 2, 20_000, 'peer links');
  // A hears of D from B's server list: a listed relay on loopback that A neither dialed nor was given with --peer.
  await until(async () => ((await (await fetch(`${A.url}/v1/servers`)).json()) as P.ServerListResponse).known_servers.includes(D.id), 20_000, 'A to learn D');
  // Start the records from here: setup polled every relay's /v1/status from the test's own address.
  for (const n of [A, B, C, D]) writeFileSync(n.record, '');
}, 90_000);

afterAll(async () => {
  await cleanup(A, B, C, D, E);
});

describe('dual proxy', () => {
  it('sends through A to B and reads through C from D; B and D never see the client address', async () => {
    const [dB, dD] = await Promise.all([descriptorOf(A, B.id), descriptorOf(C, D.id)]);
    const packet = await sealed(alice, bob, 'through two proxies');
    const id = await idOf(packet);

    const sent = await viaProxy(A, dB, { method: 'POST', path: '/v1/messages', body: packet });
    expect(sent).toMatchObject({ status: 202, body: { id } });
    const again = await viaProxy(A, dB, { method: 'POST', path: '/v1/messages', body: packet });
    expect(again).toMatchObject({ status: 200, body: { id, duplicate: true } });

    let got: Json[] = [];
    await until(
      async () => {
        const r = await viaProxy(C, dD, { method: 'GET', path: '/v1/messages?limit=100', retrieval: await retrievalHeader(bob, D.id) });
        expect(r.status).toBe(200);
        got = r.body.messages;
        return got.length > 0;
      },
      15_000,
      'the message to reach D',
    );
    expect(got.map((m) => m.id)).toEqual([id]);
    const { recipient, message, signature } = got[0];
    const opened = await P.openPacket(engine, bob, { recipient, message, signature });
    expect(opened.content).toBe('through two proxies');

    // Status and server list through a proxy too.
    expect((await viaProxy(C, dD, { method: 'GET', path: '/v1/status' })).body.id).toBe(D.id);
    expect((await viaProxy(A, dB, { method: 'GET', path: '/v1/servers' })).body.known_servers).toContain(B.id);

    // Delete through the proxy, then the page is empty.
    const del = await viaProxy(C, dD, { method: 'DELETE', path: '/v1/messages', retrieval: await retrievalHeader(bob, D.id), body: { ids: [id] } });
    expect(del).toMatchObject({ status: 200, body: { deleted: 1 } });
    const after = await viaProxy(C, dD, { method: 'GET', path: '/v1/messages', retrieval: await retrievalHeader(bob, D.id) });
    expect(after.body.messages).toEqual([]);

    const rb = recorded(B);
    const rd = recorded(D);
    expect(rb.filter((r) => r.route === 'forwarded').map((r) => r.remote_address)).toContain(A_OUT);
    expect(rd.filter((r) => r.route === 'forwarded').map((r) => r.remote_address)).toContain(C_OUT);
    expect(rb.map((r) => r.remote_address)).not.toContain(CLIENT);
    expect(rd.map((r) => r.remote_address)).not.toContain(CLIENT);
    // The proxies did see the client (that is what they are for), on /v1/forward only.
    expect(recorded(A)).toContainEqual({ route: 'forward', remote_address: CLIENT });
    expect(recorded(C)).toContainEqual({ route: 'forward', remote_address: CLIENT });
  });

  it('holds a retrieval through the proxy until the message arrives through the mesh (long poll)', async () => {
    const [dB, dD] = await Promise.all([descriptorOf(A, B.id), descriptorOf(C, D.id)]);
    const erin = await keyPair();
    const held = viaProxy(C, dD, { method: 'GET', path: '/v1/messages?limit=200&wait=10', retrieval: await retrievalHeader(erin, D.id) });
    await until(async () => (await status(D)).long_polls === 1, 10_000, 'D to hold the retrieval');
    const packet = await sealed(alice, erin, 'woken');
    expect((await viaProxy(A, dB, { method: 'POST', path: '/v1/messages', body: packet })).status).toBe(202);
    const r = await held;
    expect(r.status).toBe(200);
    expect(r.body.messages.map((m: Json) => m.id)).toEqual([await idOf(packet)]);
  });

  it('a client hanging up on the proxy ends the held retrieval at the destination at once', async () => {
    const dD = await descriptorOf(C, D.id);
    const key = await P.importPublicKey(engine, dD.public_key);
    const { packet } = await P.sealForwardRequest(engine, { id: dD.id, key }, { method: 'GET', path: '/v1/messages?wait=10', retrieval: await retrievalHeader(await keyPair(), D.id) });
    const gone = new AbortController();
    const held = fetch(`${C.url}/v1/forward`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(packet), signal: gone.signal }).catch((e: unknown) => e);
    await until(async () => (await status(D)).long_polls === 1, 10_000, 'D to hold the retrieval');
    gone.abort();
    expect(await held).toMatchObject({ name: 'AbortError' });
    // Well inside the 10 s the destination would otherwise hold it.
    await until(async () => (await status(D)).long_polls === 0, 5000, 'D to let the retrieval go');
  });

  it('the proxy learns neither the recipient nor the content', async () => {
    const dB = await descriptorOf(A, B.id);
    const marker = `secret-${Date.now()}`;
    const packet = await sealed(alice, carol, marker);
    expect((await viaProxy(A, dB, { method: 'POST', path: '/v1/messages', body: packet })).status).toBe(202);
    const carolKey = publicKeyOf(carol);
    // A runs at debug level here: not even debug logs or its record hold the key or the content.
    for (const text of [A.output(), readFileSync(A.record, 'utf8')]) {
      expect(text).not.toContain(carolKey.slice(0, 60));
      expect(text).not.toContain(marker);
      expect(text).not.toContain(packet.message.slice(0, 60));
    }
    // B, the destination, stored it for carol.
    expect((await viaProxy(A, dB, { method: 'GET', path: '/v1/messages', retrieval: await retrievalHeader(carol, B.id) })).body.messages).toHaveLength(1);
  });

  it('refuses targets outside the verified list, or whose URL does not prove the key, or internal ones it has not verified', async () => {
    const someone = (await descriptorOf(A, B.id)).public_key;
    const key = await P.importPublicKey(engine, someone);
    const forTarget = async (to: string): Promise<string> => (await P.sealForwardRequest(engine, { id: to, key }, { method: 'GET', path: '/v1/status' })).packet.envelope;

    const unknown = P.toHex(engine.randomBytes(32));
    const r1 = await postRaw(A.url, '/v1/forward', JSON.stringify({ to: unknown, envelope: await forTarget(unknown) }));
    expect(r1.status).toBe(404);
    expect(r1.json.error.code).toBe('unknown_relay');

    // E is listed (A holds its signed descriptor) but its URL is B's, which answers with B's key.
    expect(((await (await fetch(`${A.url}/v1/servers`)).json()) as P.ServerListResponse).known_servers).toContain(E.id);
    const r2 = await postRaw(A.url, '/v1/forward', JSON.stringify({ to: E.id, envelope: await forTarget(E.id) }));
    expect(r2.status).toBe(403);
    expect(r2.json.error).toMatchObject({ code: 'forward_refused', message: expect.stringContaining('did not prove') });

    // D is listed and real, but on loopback and neither dialed by A nor one of A's --peer URLs: no SSRF.
    const r3 = await postRaw(A.url, '/v1/forward', JSON.stringify({ to: D.id, envelope: await forTarget(D.id) }));
    expect(r3.status).toBe(403);
    expect(r3.json.error.code).toBe('forward_refused');

    const r4 = await postRaw(A.url, '/v1/forward', JSON.stringify({ to: A.id, envelope: await forTarget(A.id) }));
    expect(r4.status).toBe(403);
    expect(r4.json.error.code).toBe('forward_refused');

    // Nothing from these reached B or D.
    expect(recorded(D).filter((r) => r.remote_address === A_OUT)).toEqual([]);
  });

  it('refuses bad shapes and oversized bodies with 4xx, and keeps serving', async () => {
    const dB = await descriptorOf(A, B.id);
    const key = await P.importPublicKey(engine, dB.public_key);
    const good = (await P.sealForwardRequest(engine, { id: B.id, key }, { method: 'GET', path: '/v1/status' })).packet;
    const cases: [string, string, number, string][] = [
      ['not json', '{"to":', 400, 'bad_json'],
      ['array', '[1,2]', 400, 'bad_type'],
      ['bad id', JSON.stringify({ ...good, to: 'B' }), 400, 'bad_hex'],
      ['extra field', JSON.stringify({ ...good, url: 'http://127.0.0.1:22' }), 400, 'unknown_field'],
      ['no envelope', JSON.stringify({ to: B.id }), 400, 'missing_field'],
      ['wrong bucket', JSON.stringify({ ...good, envelope: good.envelope.slice(0, 1000) }), 400, 'bad_bucket'],
    ];
    for (const [what, body, code, err] of cases) {
      for (const [relay, path] of [[A, '/v1/forward'], [B, '/v1/forwarded']] as const) {
        const r = await postRaw(relay.url, path, body);
        expect({ what, path, status: r.status, code: r.json?.error?.code }).toEqual({ what, path, status: code, code: err });
      }
    }
    for (const [relay, path] of [[A, '/v1/forward'], [B, '/v1/forwarded']] as const) expect(await declaredOversized(relay, path)).toMatch(/^HTTP\/1\.1 413[\s\S]*"payload_too_large"/);
    expect((await fetch(`${A.url}/v1/forward`)).status).toBe(405);

    // Destination refusals before the envelope opens are plain JSON.
    const wrong = await postRaw(D.url, '/v1/forwarded', JSON.stringify(good));
    expect([wrong.status, wrong.json.error.code]).toEqual([401, 'wrong_relay']);
    const bytes = P.fromBase64(good.envelope);
    bytes[bytes.length - 1]! ^= 1;
    const tampered = await postRaw(A.url, '/v1/forward', JSON.stringify({ to: B.id, envelope: P.toBase64(bytes) }));
    expect([tampered.status, tampered.json.error.code, tampered.headers.get('x-forward-origin')]).toEqual([400, 'decrypt_failed', 'destination']);

    // Refusals after it opens are sealed: a retrieval signed for another relay, then a replayed one.
    const dD = await descriptorOf(C, D.id);
    const misdirected = await viaProxy(C, dD, { method: 'GET', path: '/v1/messages', retrieval: await retrievalHeader(bob, B.id) });
    expect(misdirected).toMatchObject({ outer: 200, status: 401, body: { error: { code: 'wrong_relay' } } });
    const first = await viaProxy(C, dD, { method: 'GET', path: '/v1/messages', retrieval: await retrievalHeader(bob, D.id) });
    expect(first.status).toBe(200);
    const replay = await postRaw(C.url, '/v1/forward', JSON.stringify(first.packet));
    expect(await P.openForwardResponse(engine, first.replyKey, replay.json)).toMatchObject({ status: 401, body: { error: { code: 'nonce_reused' } } });

    for (const n of [A, B, C, D]) expect((await fetch(`${n.url}/healthz`)).status).toBe(200);
    expect((await viaProxy(A, dB, { method: 'GET', path: '/v1/status' })).status).toBe(200);
  });

  it('caps a page fetched through a proxy so its sealed answer fits the largest bucket', async () => {
    const dD = await descriptorOf(C, D.id);
    const n = 30; // 30 × ~90 KB of the largest packets would not fit 2 MiB
    for (let i = 0; i < n; i++) {
      const r = await fetch(`${D.url}/v1/messages`, { method: 'POST', body: JSON.stringify(shaped(carol, P.MAX_PLAINTEXT)) });
      expect(r.status).toBe(202);
    }
    const seen: string[] = [];
    let after = '';
    let pages = 0;
    for (;;) {
      const r = await viaProxy(C, dD, { method: 'GET', path: `/v1/messages?limit=500${after ? `&after=${after}` : ''}`, retrieval: await retrievalHeader(carol, D.id) });
      expect(r.status).toBe(200);
      pages++;
      seen.push(...r.body.messages.filter((m: Json) => m.message.length > 80_000).map((m: Json) => m.id));
      after = r.body.cursor;
      if (!r.body.more) break;
      expect(r.body.messages.length).toBeGreaterThan(0);
    }
    expect(pages).toBeGreaterThan(1);
    expect(new Set(seen).size).toBe(n);
  });
});
