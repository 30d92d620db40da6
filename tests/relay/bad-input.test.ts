import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as P from '../../protocol/index.ts';
import { cleanup, engine, getAll, idOf, keyPair, type KeyPair, post, publicKeyOf, type RelayProcess, retrievalHeader, serving, shaped, startRelay, WsClient } from './harness.ts';

let relay: RelayProcess;
let bob: KeyPair;
const accepted: string[] = [];

beforeAll(async () => {
  bob = await keyPair();
  relay = await startRelay({ args: ['--rate-limit', '0', '--body-timeout', '1s'] });
});

afterAll(() => cleanup(relay));

/** After every bad input: the relay still serves and still accepts a good packet. */
async function stillServing(): Promise<void> {
  expect(await serving(relay.url)).toBe(true);
  const p = shaped(bob);
  const r = await post(relay.url, p);
  expect(r.status).toBe(202);
  accepted.push(r.json.id);
}

/** Opens a raw TCP connection and collects what the relay writes back. */
function raw(): { sock: Socket; received: () => string; closed: Promise<void>; until: (re: RegExp, ms?: number) => Promise<string> } {
  const sock = connect(relay.port, '127.0.0.1');
  let buf = '';
  sock.on('data', (d) => (buf += d.toString('latin1')));
  sock.on('error', () => {});
  const closed = new Promise<void>((r) => sock.on('close', () => r()));
  return {
    sock,
    received: () => buf,
    closed,
    async until(re, ms = 5000) {
      const deadline = Date.now() + ms;
      while (!re.test(buf)) {
        if (Date.now() > deadline) throw new Error(`no ${re} in ${JSON.stringify(buf.slice(0, 300))}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return buf;
    },
  };
}

describe('bad packets get 400 with the validator code and leave the relay serving', () => {
  const cases: [string, () => unknown, number, string | RegExp][] = [
    ['broken JSON', () => '{"recipient": "abc', 400, 'bad_json'],
    ['empty body', () => '', 400, 'bad_json'],
    ['JSON array', () => '[1,2,3]', 400, 'bad_type'],
    ['JSON null', () => 'null', 400, 'bad_type'],
    ['JSON number', () => '42', 400, 'bad_type'],
    ['recipient not a string', () => JSON.stringify({ ...shaped(bob), recipient: 5 }), 400, 'bad_type'],
    ['message an array', () => JSON.stringify({ ...shaped(bob), message: [] }), 400, 'bad_type'],
    ['signature null', () => JSON.stringify({ ...shaped(bob), signature: null }), 400, 'bad_type'],
    ['missing recipient', () => JSON.stringify({ message: shaped(bob).message, signature: shaped(bob).signature }), 400, 'missing_field'],
    ['missing message', () => JSON.stringify({ recipient: publicKeyOf(bob), signature: shaped(bob).signature }), 400, 'missing_field'],
    ['missing signature', () => JSON.stringify({ recipient: publicKeyOf(bob), message: shaped(bob).message }), 400, 'missing_field'],
    ['extra field', () => JSON.stringify({ ...shaped(bob), extra: 1 }), 400, 'unknown_field'],
    ['huge message field', () => JSON.stringify({ ...shaped(bob), message: 'A'.repeat(P.MAX_MESSAGE_B64 + 4) }), 400, 'too_large'],
    ['huge recipient field', () => JSON.stringify({ ...shaped(bob), recipient: 'A'.repeat(5000) }), 400, 'too_large'],
    ['non-base64 message', () => { const p = shaped(bob); return JSON.stringify({ ...p, message: '*' + p.message.slice(1) }); }, 400, 'bad_base64'],
    ['non-base64 recipient', () => JSON.stringify({ ...shaped(bob), recipient: '%'.repeat(392) }), 400, 'bad_base64'],
    ['recipient garbage base64', () => JSON.stringify({ ...shaped(bob), recipient: Buffer.alloc(294, 7).toString('base64') }), 400, /^(bad_key|key_not_rsa)$/],
    ['truncated envelope', () => JSON.stringify({ ...shaped(bob), message: Buffer.alloc(100, 1).toString('base64') }), 400, 'bad_bucket'],
    ['non-canonical base64', () => { const p = shaped(bob); return JSON.stringify({ ...p, signature: p.signature.replace(/=*$/, (pad) => pad.replace(/^=/, '=')).slice(0, -1) + '!' }); }, 400, 'bad_base64'],
  ];
  for (const [name, body, status, code] of cases) {
    it(name, async () => {
      const r = await post(relay.url, body(), true);
      expect(r.status).toBe(status);
      expect(Object.keys(r.json)).toEqual(['error']);
      expect(Object.keys(r.json.error).sort()).toEqual(['code', 'message']);
      if (typeof code === 'string') expect(r.json.error.code).toBe(code);
      else expect(r.json.error.code).toMatch(code);
      await stillServing();
    });
  }

  it('a 4096-bit recipient key is key_size', async () => {
    const pair = await globalThis.crypto.subtle.generateKey(
      { name: 'RSA-OAEP', hash: 'SHA-256', modulusLength: 4096, publicExponent: new Uint8Array([1, 0, 1]) },
      true,
      ['encrypt', 'decrypt'],
    );
    const spki = Buffer.from(await globalThis.crypto.subtle.exportKey('spki', pair.publicKey)).toString('base64');
    const r = await post(relay.url, { ...shaped(bob), recipient: spki });
    expect([r.status, r.json.error.code]).toEqual([400, 'key_size']);
    await stillServing();
  });
});

describe('bodies', () => {
  it('refuses a declared oversized body with 413 before reading it', async () => {
    const c = raw();
    c.sock.write(`POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\n\r\n`);
    c.sock.write('{"recipient":"');
    const text = await c.until(/\r\n\r\n[\s\S]*\}/);
    expect(text).toMatch(/^HTTP\/1\.1 413/);
    expect(text).toContain('"payload_too_large"');
    c.sock.destroy();
    await stillServing();
  });

  it('takes a body that arrives in pieces, with a declared length or chunked', async () => {
    // Content-Length, the body in three writes far enough apart to arrive as separate chunks.
    const p = shaped(bob);
    const body = Buffer.from(JSON.stringify(p));
    const c = raw();
    c.sock.write(`POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`);
    for (const [from, to] of [[0, 100], [100, 2000], [2000, body.length]] as const) {
      c.sock.write(body.subarray(from, to));
      await new Promise((r) => setTimeout(r, 50));
    }
    const text = await c.until(/\r\n\r\n\{[^}]*\}/);
    expect(text).toMatch(/^HTTP\/1\.1 202/);
    expect(text).toContain(await idOf(p));
    c.sock.destroy();

    // Chunked transfer encoding, three chunks.
    const q = shaped(bob);
    const qb = Buffer.from(JSON.stringify(q));
    const d = raw();
    d.sock.write(`POST /v1/messages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`);
    for (const part of [qb.subarray(0, 10), qb.subarray(10, 3000), qb.subarray(3000)]) {
      d.sock.write(`${part.length.toString(16)}\r\n`);
      d.sock.write(part);
      d.sock.write('\r\n');
      await new Promise((r) => setTimeout(r, 50));
    }
    d.sock.write('0\r\n\r\n');
    const answer = await d.until(/\r\n\r\n[\s\S]*\}/);
    expect(answer).toMatch(/^HTTP\/1\.1 202/);
    expect(answer).toContain(await idOf(q));
    d.sock.destroy();
    await stillServing();
  });

  it('refuses a chunked body with 413 as soon as it passes the cap', async () => {
    const c = raw();
    c.sock.write(`POST /v1/messages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`);
    const chunk = 'A'.repeat(16384);
    let sent = 0;
    while (!/HTTP\/1\.1 413/.test(c.received()) && sent < 4_000_000 && !c.sock.destroyed) {
      c.sock.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
      sent += chunk.length;
      await new Promise((r) => setTimeout(r, 2));
    }
    await c.until(/HTTP\/1\.1 413/);
    expect(sent).toBeLessThan(P.MAX_PACKET_BODY + 1_000_000);
    c.sock.destroy();
    await stillServing();
  });

  it('times out a slow body with 408 while serving others meanwhile', async () => {
    const c = raw();
    c.sock.write(`POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"recip`);
    const started = Date.now();
    await stillServing();
    c.sock.write('ient');
    const text = await c.until(/HTTP\/1\.1 408/, 6000);
    expect(text).toContain('"body_timeout"');
    expect(Date.now() - started).toBeLessThan(5000);
    c.sock.destroy();
    await stillServing();
  });

  it('survives a client that disconnects mid-body', async () => {
    for (let i = 0; i < 5; i++) {
      const c = raw();
      c.sock.write(`POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{"recipient":"`);
      await new Promise((r) => setTimeout(r, 10));
      c.sock.destroy();
    }
    await stillServing();
  });

  it('survives garbage that is not HTTP', async () => {
    const c = raw();
    c.sock.write(Buffer.from([0, 1, 2, 3, 255, 254, 13, 10, 13, 10]));
    c.sock.write('GET /\x00\x01 HTTP/9.9\r\n\r\n');
    await Promise.race([c.closed, new Promise((r) => setTimeout(r, 1000))]);
    c.sock.destroy();
    await stillServing();
  });

  it('survives a huge header', async () => {
    const r = await fetch(`${relay.url}/v1/messages`, { headers: { 'x-retrieval': 'A'.repeat(60_000) } }).catch(() => undefined);
    if (r) expect(r.status).toBeGreaterThanOrEqual(400);
    await stillServing();
  });
});

describe('garbage WebSocket frames', () => {
  async function expectClosed(send: (ws: WebSocket) => void, code: number | number[]): Promise<WsClient> {
    const c = new WsClient(relay.url);
    await c.opened;
    send(c.ws);
    await c.until(() => c.closed !== undefined);
    expect([code].flat()).toContain(c.closed!.code);
    await stillServing();
    return c;
  }

  it('binary frame', async () => {
    await expectClosed((ws) => ws.send(Buffer.from([1, 2, 3])), 4400);
  });
  it('text that is not JSON', async () => {
    const c = await expectClosed((ws) => ws.send('hello?'), 4400);
    expect(c.frames.at(-1)).toEqual({ type: 'error', error: { code: 'bad_json', message: expect.any(String) } });
  });
  it('JSON that is not a retrieval packet', async () => {
    await expectClosed((ws) => ws.send('{"type":"subscribe"}'), 4400);
  });
  it('a frame over the size cap', async () => {
    await expectClosed((ws) => ws.send('x'.repeat(100_000)), [1006, 1009]);
  });
  it('a retrieval packet for another relay', async () => {
    const p = await P.signRetrieval(engine, bob, 'c'.repeat(64));
    const c = await expectClosed((ws) => ws.send(JSON.stringify(p)), 4401);
    expect(c.frames.at(-1).error.code).toBe('wrong_relay');
  });
  it('a bad cursor', async () => {
    const p = await P.signRetrieval(engine, bob, relay.id, { after: 'zzz' });
    await expectClosed((ws) => ws.send(JSON.stringify(p)), 4400);
  });
  it('a replayed retrieval packet', async () => {
    const p = await P.signRetrieval(engine, bob, relay.id);
    const ok = new WsClient(relay.url);
    await ok.opened;
    ok.ws.send(JSON.stringify(p));
    await ok.until(() => ok.frames.some((f) => f.type === 'synced'));
    ok.close();
    const c = await expectClosed((ws) => ws.send(JSON.stringify(p)), 4401);
    expect(c.frames.at(-1).error.code).toBe('nonce_reused');
  });
  it('garbage after a good retrieval packet', async () => {
    const p = await P.signRetrieval(engine, bob, relay.id);
    await expectClosed((ws) => {
      ws.send(JSON.stringify(p));
      ws.send('garbage');
    }, 4400);
  });
  it('the same header as a GET replayed on the socket', async () => {
    const header = await retrievalHeader(bob, relay.id);
    const r = await fetch(`${relay.url}/v1/messages`, { headers: { 'x-retrieval': header } });
    expect(r.status).toBe(200);
    const packet = JSON.parse(Buffer.from(header, 'base64url').toString());
    await expectClosed((ws) => ws.send(JSON.stringify(packet)), 4401);
  });
});

describe('nothing accepted is lost', () => {
  it('every packet that got 202 above is retrievable', async () => {
    const held = new Set((await getAll(relay.url, bob, relay.id)).map((m) => m.id));
    expect(accepted.length).toBeGreaterThan(30);
    for (const id of accepted) expect(held.has(id)).toBe(true);
    expect(await idOf(shaped(bob))).toMatch(/^[0-9a-f]{64}$/);
  });
});
