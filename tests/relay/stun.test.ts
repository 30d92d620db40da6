// The relay's STUN server against independent implementations: Debian's
// classic `stun` client (RFC 3489), coturn's turnutils_stunclient (RFC 5389),
// the RFC 5769 test vectors, zlib's CRC-32, openssl's HMAC, and a real coturn
// accepting the TURN credentials the relay hands out.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { answerDatagram } from '../../relay/stun/binding.ts';
import {
  Attr,
  MAGIC_COOKIE,
  StunClass,
  StunMethod,
  crc32,
  decodeAddress,
  decodeErrorCode,
  decodeMessage,
  encodeMessage,
  formatIPv6,
  parseIPv6,
  textAttribute,
  type StunAttribute,
  type StunMessage,
} from '../../relay/stun/codec.ts';
import { SourceRateLimiter } from '../../relay/stun/rate-limit.ts';
import { startStunServer, type StunServer } from '../../relay/stun/server.ts';
import { makeTurnCredentials, parseTurnUrls, turnCredential } from '../../relay/stun/turn-credentials.ts';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

// RFC 5769 section 2: sample messages, short-term password below.
const RFC5769_PASSWORD = 'VOkJxbRl1RmTxUk/WvJxBt';
const RFC5769_REQUEST = hex(`
  000100582112a442b7e7a701bc34d686fa87dfae
  802200105354554e207465737420636c69656e74
  002400046e0001ff80290008932ff9b151263b36
  000600096576746a3a68367659202020
  000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a2
  80280004e57a3bcf`);
const RFC5769_IPV4_RESPONSE = hex(`
  0101003c2112a442b7e7a701bc34d686fa87dfae
  8022000b7465737420766563746f7220
  002000080001a147e112a643
  000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7
  80280004c07d4c96`);
const RFC5769_IPV6_RESPONSE = hex(`
  010100482112a442b7e7a701bc34d686fa87dfae
  8022000b7465737420766563746f7220
  002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d9
  00080014a382954e4be67bf11784c97c8292c275bfe3ed41
  80280004c8fb0b4c`);

// --- helpers --------------------------------------------------------------------

function newTxId(legacy = false): Uint8Array {
  const id = randomBytes(16);
  if (!legacy) id.writeUInt32BE(MAGIC_COOKIE, 0);
  else if (id.readUInt32BE(0) === MAGIC_COOKIE) id[0]! ^= 0xff;
  return Uint8Array.from(id);
}

function bindingRequest(opts: { legacy?: boolean; attributes?: StunAttribute[]; fingerprint?: boolean } = {}): Uint8Array {
  return encodeMessage(
    { method: StunMethod.binding, cls: StunClass.request, transactionId: newTxId(opts.legacy), attributes: opts.attributes ?? [] },
    { fingerprint: opts.fingerprint ?? false },
  );
}

/** A UDP client that keeps every datagram it receives, in order. */
class Client {
  readonly received: Buffer[] = [];
  #waiters: (() => void)[] = [];
  private constructor(readonly sock: dgram.Socket) {
    sock.on('message', (m) => {
      this.received.push(m);
      for (const w of this.#waiters.splice(0)) w();
    });
  }
  static async open(address = '127.0.0.1', type: 'udp4' | 'udp6' = 'udp4'): Promise<Client> {
    const sock = dgram.createSocket(type);
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(0, address, () => resolve());
    });
    return new Client(sock);
  }
  get port(): number {
    return this.sock.address().port;
  }
  send(bytes: Uint8Array, port: number, host = '127.0.0.1'): Promise<void> {
    return new Promise((resolve, reject) => this.sock.send(bytes, port, host, (err) => (err ? reject(err) : resolve())));
  }
  /** Resolves once `count` datagrams have arrived in total. */
  async waitFor(count: number, timeoutMs = 3000): Promise<Buffer[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${count} datagrams, got ${this.received.length}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.received.slice(0, count);
  }
  async request(bytes: Uint8Array, port: number, host = '127.0.0.1'): Promise<StunMessage> {
    const before = this.received.length;
    await this.send(bytes, port, host);
    const [reply] = (await this.waitFor(before + 1)).slice(before);
    const decoded = decodeMessage(reply!);
    if (!decoded.ok) throw new Error(`bad response: ${decoded.error}`);
    expect(Buffer.from(decoded.message.transactionId)).toEqual(Buffer.from(bytes.subarray(4, 20)));
    return decoded.message;
  }
  close(): Promise<void> {
    return new Promise((resolve) => this.sock.close(() => resolve()));
  }
}

async function freeUdpPort(address = '127.0.0.1'): Promise<number> {
  const c = await Client.open(address);
  const port = c.port;
  await c.close();
  return port;
}

const attr = (m: StunMessage, type: number) => m.attributes.find((a) => a.type === type);

function run(cmd: string, args: string[], timeoutMs = 8000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

const servers: StunServer[] = [];
const clients: Client[] = [];
async function server(opts: Partial<Parameters<typeof startStunServer>[0]> = {}): Promise<StunServer> {
  const s = await startStunServer({ host: '127.0.0.1', port: 0, ...opts });
  servers.push(s);
  return s;
}
async function client(address?: string, type?: 'udp4' | 'udp6'): Promise<Client> {
  const c = await Client.open(address, type);
  clients.push(c);
  return c;
}
afterEach(async () => {
  await Promise.all([...servers.splice(0).map((s) => s.close()), ...clients.splice(0).map((c) => c.close())]);
});

// --- codec against independent references ----------------------------------------

describe('STUN codec', () => {
  it('computes CRC-32 exactly as zlib does', () => {
    for (const len of [0, 1, 3, 20, 57, 1500]) {
      const data = randomBytes(len);
      expect(crc32(data)).toBe(zlibCrc32(data));
    }
  });

  it('decodes the RFC 5769 sample responses: FINGERPRINT, MESSAGE-INTEGRITY and XOR-MAPPED-ADDRESS', () => {
    for (const [bytes, expected] of [
      [RFC5769_IPV4_RESPONSE, { family: 4, address: '192.0.2.1', port: 32853 }],
      [RFC5769_IPV6_RESPONSE, { family: 6, address: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853 }],
    ] as const) {
      const d = decodeMessage(bytes);
      if (!d.ok) throw new Error(d.error);
      expect(d.fingerprint).toBe(true);
      expect(d.message).toMatchObject({ method: StunMethod.binding, cls: StunClass.success, hasCookie: true });
      const xma = attr(d.message, Attr.XOR_MAPPED_ADDRESS)!;
      expect(decodeAddress(xma.value, d.message.transactionId, true)).toEqual(expected);
      // Re-encoding with our MESSAGE-INTEGRITY placement and length adjustment
      // reproduces the RFC's HMAC. The RFC pads SOFTWARE with a space where we
      // pad with zero, and the HMAC covers that byte, so patch it in.
      const PAD = 20 + 4 + 11;
      expect(bytes[PAD]).toBe(0x20);
      const body = d.message.attributes.filter((a) => a.type !== Attr.MESSAGE_INTEGRITY && a.type !== Attr.FINGERPRINT);
      const again = encodeMessage(
        { ...d.message, attributes: body },
        {
          integrity: (data) => {
            const copy = Uint8Array.from(data);
            copy[PAD] = 0x20;
            return createHmac('sha1', RFC5769_PASSWORD).update(copy).digest();
          },
          fingerprint: true,
        },
      );
      again[PAD] = 0x20;
      // Everything but the CRC value, which our zero padding changes.
      expect(Buffer.from(again.subarray(0, again.length - 4))).toEqual(Buffer.from(bytes.subarray(0, bytes.length - 4)));
    }
  });

  it('decodes the RFC 5769 sample request and the server answers its PRIORITY with 420', () => {
    const d = decodeMessage(RFC5769_REQUEST);
    if (!d.ok) throw new Error(d.error);
    expect(d.fingerprint).toBe(true);
    expect(new TextDecoder().decode(attr(d.message, Attr.USERNAME)!.value)).toBe('evtj:h6vY');
    const out = answerDatagram(RFC5769_REQUEST, { family: 4, address: '192.0.2.1', port: 32853 });
    if (out.kind !== 'reply') throw new Error('no reply');
    expect(out.status).toBe(420);
    const r = decodeMessage(out.response);
    if (!r.ok) throw new Error(r.error);
    expect(r.fingerprint).toBe(true);
    expect(decodeErrorCode(attr(r.message, Attr.ERROR_CODE)!.value)?.code).toBe(420);
    // Only PRIORITY (0x0024) is unknown and comprehension-required; ICE-CONTROLLED is optional.
    expect(Buffer.from(attr(r.message, Attr.UNKNOWN_ATTRIBUTES)!.value).readUInt16BE(0)).toBe(0x0024);
    expect(attr(r.message, Attr.UNKNOWN_ATTRIBUTES)!.value.length).toBe(2);
  });

  it('rejects a FINGERPRINT that does not match and one that is not last', () => {
    const req = bindingRequest({ fingerprint: true });
    expect(decodeMessage(req).ok).toBe(true);
    const bad = Uint8Array.from(req);
    bad[bad.length - 1]! ^= 1;
    expect(decodeMessage(bad)).toEqual({ ok: false, error: 'fingerprint-mismatch' });
    // Append an attribute after FINGERPRINT and fix the header length.
    const after = new Uint8Array(req.length + 8);
    after.set(req);
    new DataView(after.buffer).setUint16(2, req.length + 8 - 20);
    new DataView(after.buffer).setUint16(req.length, 0x8123);
    expect(decodeMessage(after).ok).toBe(false);
  });

  it('parses and formats IPv6 text like node does', () => {
    for (const a of ['::1', '::', '2001:db8::1', 'fe80::1:2:3:4', '1:2:3:4:5:6:7:8', '::ffff:192.0.2.1', '2001:db8:0:0:1::1']) {
      const b = parseIPv6(a);
      expect(b).not.toBeNull();
      // WHATWG URL serialises IPv6 the RFC 5952 way: an independent reference.
      expect(formatIPv6(b!)).toBe(new URL(`http://[${a}]/`).hostname.slice(1, -1));
    }
    for (const a of ['1::2::3', '1:2:3:4:5:6:7', '12345::', 'g::1', '1:2:3:4:5:6:7:8:9']) expect(parseIPv6(a)).toBeNull();
  });
});

// --- against Debian's stun client ---------------------------------------------------

describe('STUN server', () => {
  it('gives Debian stun-client (RFC 3489, an independent implementation) its mapped address', async () => {
    const s = await server();
    const srcPort = await freeUdpPort();
    // Test 1 of the classic client: one Binding request from -p's port, with -v printing the parsed response.
    const r = await run('/usr/bin/stun', [`127.0.0.1:${s.port}`, '1', '-v', '-p', String(srcPort)]);
    const out = r.stdout + r.stderr;
    expect(out).toContain('Got a response');
    expect(out).toMatch(new RegExp(`MappedAddress = 127\\.0\\.0\\.1:${srcPort}\\b`));
    expect(out).toMatch(new RegExp(`mappedAddr=127\\.0\\.0\\.1:${srcPort}\\b`));
    expect(s.stats()).toMatchObject({ requests: 1, responses: 1, malformed: 0, rateLimited: 0 });
  });

  it('answers a raw RFC 8489 Binding request with XOR-MAPPED-ADDRESS, SOFTWARE and a valid FINGERPRINT', async () => {
    const s = await server();
    const c = await client();
    for (const fingerprint of [false, true]) {
      const before = c.received.length;
      const res = await c.request(bindingRequest({ fingerprint }), s.port);
      expect(res).toMatchObject({ method: StunMethod.binding, cls: StunClass.success, hasCookie: true });
      expect(decodeAddress(attr(res, Attr.XOR_MAPPED_ADDRESS)!.value, res.transactionId, true)).toEqual({ family: 4, address: '127.0.0.1', port: c.port });
      expect(attr(res, Attr.MAPPED_ADDRESS)).toBeUndefined();
      expect(new TextDecoder().decode(attr(res, Attr.SOFTWARE)!.value)).toMatch(/meshchat/);
      // FINGERPRINT checked by hand with zlib's CRC-32, independent of the codec.
      const raw = c.received[before]!;
      expect(raw.readUInt16BE(raw.length - 8)).toBe(Attr.FINGERPRINT);
      expect(raw.readUInt16BE(2)).toBe(raw.length - 20);
      expect(raw.readUInt32BE(raw.length - 4)).toBe((zlibCrc32(raw.subarray(0, raw.length - 8)) ^ 0x5354554e) >>> 0);
    }
    expect(s.stats()).toEqual({ requests: 2, responses: 2, malformed: 0, rateLimited: 0 });
  });

  it('answers an RFC 3489 request (no cookie) with MAPPED-ADDRESS only, echoing the 128-bit id', async () => {
    const s = await server();
    const c = await client();
    const req = bindingRequest({ legacy: true, attributes: [{ type: Attr.CHANGE_REQUEST, value: new Uint8Array(4) }] });
    const res = await c.request(req, s.port);
    expect(res.hasCookie).toBe(false);
    expect(res.attributes.map((a) => a.type)).toEqual([Attr.MAPPED_ADDRESS]);
    expect(decodeAddress(res.attributes[0]!.value, res.transactionId, false)).toEqual({ family: 4, address: '127.0.0.1', port: c.port });
  });

  it('answers unknown comprehension-required attributes with 420 and UNKNOWN-ATTRIBUTES, ignores optional ones', async () => {
    const s = await server();
    const c = await client();
    const res = await c.request(bindingRequest({ attributes: [textAttribute(0x7f01, 'x'), textAttribute(0x8f01, 'y'), textAttribute(0x0002, 'zzzzzzzz')] }), s.port);
    expect(res.cls).toBe(StunClass.error);
    expect(decodeErrorCode(attr(res, Attr.ERROR_CODE)!.value)).toEqual({ code: 420, reason: 'Unknown Attribute' });
    const list = Buffer.from(attr(res, Attr.UNKNOWN_ATTRIBUTES)!.value);
    expect([list.readUInt16BE(0), list.readUInt16BE(2)]).toEqual([0x7f01, 0x0002]);
    // Comprehension-optional only: a normal answer.
    const ok = await c.request(bindingRequest({ attributes: [textAttribute(0x8f01, 'y')], fingerprint: true }), s.port);
    expect(ok.cls).toBe(StunClass.success);
    // Asking to answer from another address/port (RFC 5780) cannot be honoured with one socket.
    const change = await c.request(bindingRequest({ attributes: [{ type: Attr.CHANGE_REQUEST, value: Uint8Array.of(0, 0, 0, 6) }] }), s.port);
    expect(decodeErrorCode(attr(change, Attr.ERROR_CODE)!.value)?.code).toBe(420);
  });

  it('ignores malformed datagrams, counts them, and still answers afterwards', async () => {
    const s = await server();
    const c = await client();
    // Deterministic "random" junk: a seeded xorshift so a failure reproduces.
    let x = 0x9e3779b9;
    const junk = (n: number) =>
      Uint8Array.from({ length: n }, () => {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        return x & 0xff;
      });
    const good = bindingRequest({ fingerprint: true });
    const hugeLength = Uint8Array.from(good);
    new DataView(hugeLength.buffer).setUint16(2, 0xfffc);
    const overflow = bindingRequest({ attributes: [textAttribute(0x8f01, 'abcd')] });
    new DataView(overflow.buffer).setUint16(22, 200);
    const badFingerprint = Uint8Array.from(good);
    badFingerprint[badFingerprint.length - 1]! ^= 0x55;
    const typeBits = Uint8Array.from(good);
    typeBits[0]! |= 0xc0;
    const indication = encodeMessage({ method: StunMethod.binding, cls: StunClass.indication, transactionId: newTxId(), attributes: [] });
    const response = encodeMessage({ method: StunMethod.binding, cls: StunClass.success, transactionId: newTxId(), attributes: [] });
    const allocate = encodeMessage({ method: StunMethod.allocate, cls: StunClass.request, transactionId: newTxId(), attributes: [] });
    const oddLength = Uint8Array.from([...good.subarray(0, 20), 1, 2]);
    new DataView(oddLength.buffer).setUint16(2, 2);
    const shortLength = Uint8Array.from([...good.subarray(0, 20), 1, 2, 3, 4]);
    // Bytes past the header's length that would parse as an attribute.
    const trailing = Uint8Array.from([...bindingRequest(), 0x80, 0x01, 0, 0]);
    const malformed = [
      junk(1), junk(19), junk(20), junk(64), junk(548), junk(1400),
      good.subarray(0, 10), good.subarray(0, good.length - 4), new Uint8Array(0),
      hugeLength, overflow, badFingerprint, typeBits, indication, response, allocate, oddLength, shortLength, trailing,
    ];
    for (const m of malformed) await c.send(m, s.port);
    const res = await c.request(good, s.port);
    expect(res.cls).toBe(StunClass.success);
    // UDP on loopback keeps order and the server handles one datagram at a
    // time, so any answer to the junk would have arrived before this one.
    expect(c.received).toHaveLength(1);
    expect(s.stats()).toEqual({ requests: 1, responses: 1, malformed: malformed.length, rateLimited: 0 });
  });

  it('rate-limits a burst from one address but not another, and refills with the clock', async () => {
    let now = 1_000_000;
    const s = await server({ ratePerSecond: 2, burst: 5, now: () => now });
    const a = await client('127.0.0.1');
    const b = await client('127.0.0.2');
    for (let i = 0; i < 20; i++) await a.send(bindingRequest(), s.port);
    // b's answer proves a's 20 were handled (one socket, in order).
    expect((await b.request(bindingRequest(), s.port)).cls).toBe(StunClass.success);
    expect(s.stats()).toEqual({ requests: 6, responses: 6, malformed: 0, rateLimited: 15 });
    await a.waitFor(5);
    now += 1000; // two more tokens
    for (let i = 0; i < 4; i++) await a.send(bindingRequest(), s.port);
    await b.request(bindingRequest(), s.port);
    expect(s.stats()).toMatchObject({ requests: 9, rateLimited: 17 });
    await a.waitFor(7);
    await new Promise((r) => setTimeout(r, 50));
    expect(a.received).toHaveLength(7);
  });

  it('keeps rate-limit state bounded under many sources, forgetting the least recently seen', () => {
    let now = 0;
    const rl = new SourceRateLimiter({ ratePerSecond: 1, burst: 2, maxSources: 100, now: () => now });
    expect(rl.take('victim')).toBe(true);
    expect(rl.take('victim')).toBe(true);
    expect(rl.take('victim')).toBe(false);
    for (let i = 0; i < 99; i++) rl.take(`spoof-${i}`);
    // 'victim' is the oldest of exactly 100 and still limited.
    expect(rl.take('victim')).toBe(false);
    for (let i = 0; i < 100_000; i++) rl.take(`spoof-${i}`);
    expect(rl.size).toBe(100);
    // Evicted, so it starts again with a full bucket; a fresh one behaves the same.
    expect(rl.take('victim')).toBe(true);
    now += 500;
    expect(rl.take('spoof-99999')).toBe(true);
  });

  it('never logs client addresses and survives socket errors', async () => {
    const lines: string[] = [];
    const log = { debug: (o: object, m?: string) => lines.push(JSON.stringify(o) + m), warn: (o: object, m?: string) => lines.push(JSON.stringify(o) + m) };
    const s = await server({ log });
    const c = await client('127.0.0.3');
    await c.send(Uint8Array.of(1, 2, 3), s.port);
    await c.request(bindingRequest(), s.port);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join('\n')).not.toMatch(/127\.0\.0\.3|"port"|\b\d{4,5}\b/);
  });

  it('closes idempotently and frees its port', async () => {
    const s = await startStunServer({ host: '127.0.0.1', port: 0 });
    await Promise.all([s.close(), s.close()]);
    const again = await server({ port: s.port });
    expect(again.port).toBe(s.port);
  });
});

// --- TURN credentials --------------------------------------------------------------

describe('TURN REST credentials', () => {
  it('match openssl HMAC-SHA1 and a hand-computed constant', () => {
    const creds = makeTurnCredentials({ secret: 'north', urls: ['turns:turn.example.org:5349'], ttlSeconds: 3600, now: 1_700_000_000_123, random: 'abc' });
    expect(creds.username).toBe('1700003600:abc');
    expect(creds.expiresAt).toBe(1_700_003_600);
    const openssl = spawnSync('openssl', ['dgst', '-sha1', '-hmac', 'north', '-binary'], { input: creds.username });
    expect(openssl.status).toBe(0);
    expect(creds.credential).toBe(openssl.stdout.toString('base64'));
    // Computed once with: printf %s 1700003600:abc | openssl dgst -sha1 -hmac north -binary | base64
    expect(turnCredential('north', '1700003600:abc')).toBe(HAND_VECTOR);
    expect(makeTurnCredentials({ secret: 'north', urls: [] }).username).toMatch(/^\d{10}:[A-Za-z0-9_-]{16}$/);
  });

  it('validates --turn-url values', () => {
    expect(parseTurnUrls('turns:turn.example.org:5349?transport=tcp, turn:[2001:db8::1]:3478')).toEqual([
      'turns:turn.example.org:5349?transport=tcp',
      'turn:[2001:db8::1]:3478',
    ]);
    for (const bad of ['', 'stun:x', 'https://x', 'turn:x:3478?transport=sctp', 'turn:a b']) expect(() => parseTurnUrls(bad)).toThrow();
  });
});
const HAND_VECTOR = 'IMSPYGMI9e0aXDFcZousOwkA8N0=';

// --- coturn: the independent RFC 5389 client and the TURN server itself ------------------

// coturn ships turnserver and turnutils_stunclient; `npm test` (tests/run.js)
// installs it with the other Debian packages. When vitest runs alone on a
// machine without it these tests are not defined rather than installing
// anything from inside a test.
const HAVE_COTURN = existsSync('/usr/bin/turnserver') && existsSync('/usr/bin/turnutils_stunclient');
if (HAVE_COTURN) {
  describe('with coturn', () => {
    it('gives turnutils_stunclient (RFC 5389, independent) its XOR-mapped address over IPv4 and IPv6', async () => {
      const s = await server({ host: '::' });
      expect(s.address).toBe('::');
      for (const [host, re] of [
        ['127.0.0.1', /IPv4\. UDP reflexive addr: 127\.0\.0\.1:(\d+)/],
        ['::1', /IPv6\. UDP reflexive addr: ::1:(\d+)/],
      ] as const) {
        const r = await run('/usr/bin/turnutils_stunclient', ['-p', String(s.port), host]);
        expect(r.code).toBe(0);
        const port = Number(re.exec(r.stdout + r.stderr)?.[1]);
        expect(port).toBeGreaterThan(0);
        expect(port).toBeLessThan(65536);
      }
      expect(s.stats()).toMatchObject({ malformed: 0, rateLimited: 0 });
      expect(s.stats().responses).toBeGreaterThanOrEqual(2);
    });

    describe('turnserver with use-auth-secret', () => {
      const secret = randomBytes(16).toString('hex');
      const realm = 'meshchat.test';
      let proc: ChildProcess | undefined;
      let port = 0;
      let dir = '';
      let log = '';

      beforeAll(async () => {
        dir = mkdtempSync(join(tmpdir(), 'coturn-'));
        port = await freeUdpPort();
        const relayBase = 40000 + Math.floor(Math.random() * 200) * 100;
        proc = spawn('/usr/bin/turnserver', [
          '-n', '--listening-ip=127.0.0.1', `--listening-port=${port}`, '--relay-ip=127.0.0.1',
          `--min-port=${relayBase}`, `--max-port=${relayBase + 99}`,
          '--use-auth-secret', `--static-auth-secret=${secret}`, `--realm=${realm}`,
          '--no-tls', '--no-dtls', '--no-cli', '--no-tcp-relay',
          `--userdb=${join(dir, 'turndb')}`, `--pidfile=${join(dir, 'pid')}`, '--log-file=stdout', '--simple-log',
        ], { stdio: ['ignore', 'pipe', 'pipe'] });
        proc.stdout!.on('data', (d) => (log += d));
        proc.stderr!.on('data', (d) => (log += d));
        // Ready when it answers a Binding request.
        const c = await Client.open();
        try {
          for (let i = 0; ; i++) {
            await c.send(bindingRequest(), port);
            try {
              await c.waitFor(1, 200);
              break;
            } catch (err) {
              if (i > 40 || proc.exitCode !== null) throw new Error(`turnserver did not start: ${log}`, { cause: err });
            }
          }
        } finally {
          await c.close();
        }
      });

      afterAll(async () => {
        if (proc && proc.exitCode === null) {
          const exited = new Promise((r) => proc!.once('exit', r));
          proc.kill('SIGTERM');
          await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
          if (proc.exitCode === null) proc.kill('SIGKILL');
        }
        rmSync(dir, { recursive: true, force: true });
      });

      /** RFC 8656 Allocate with long-term credentials: 401 challenge, then the authenticated request. */
      async function allocate(username: string, password: string): Promise<StunMessage> {
        const c = await client();
        const transport = { type: Attr.REQUESTED_TRANSPORT, value: Uint8Array.of(17, 0, 0, 0) };
        const first = await c.request(
          encodeMessage({ method: StunMethod.allocate, cls: StunClass.request, transactionId: newTxId(), attributes: [transport] }, { fingerprint: true }),
          port,
        );
        expect(decodeErrorCode(attr(first, Attr.ERROR_CODE)!.value)?.code).toBe(401);
        expect(new TextDecoder().decode(attr(first, Attr.REALM)!.value)).toBe(realm);
        const nonce = attr(first, Attr.NONCE)!;
        const key = createHash('md5').update(`${username}:${realm}:${password}`).digest();
        const second = encodeMessage(
          {
            method: StunMethod.allocate,
            cls: StunClass.request,
            transactionId: newTxId(),
            attributes: [transport, textAttribute(Attr.USERNAME, username), textAttribute(Attr.REALM, realm), nonce],
          },
          { integrity: (data) => createHmac('sha1', key).update(data).digest(), fingerprint: true },
        );
        return c.request(second, port);
      }

      it('accepts credentials from makeTurnCredentials in a real Allocate', async () => {
        const creds = makeTurnCredentials({ secret, urls: [`turn:127.0.0.1:${port}`], ttlSeconds: 600 });
        const res = await allocate(creds.username, creds.credential);
        expect(res.cls, log).toBe(StunClass.success);
        const relayed = decodeAddress(attr(res, Attr.XOR_RELAYED_ADDRESS)!.value, res.transactionId, true);
        expect(relayed?.address).toBe('127.0.0.1');
        const mapped = decodeAddress(attr(res, Attr.XOR_MAPPED_ADDRESS)!.value, res.transactionId, true);
        expect(mapped?.address).toBe('127.0.0.1');
      });

      it('refuses a wrong secret and an expired username', async () => {
        const wrong = makeTurnCredentials({ secret: secret + 'x', urls: [], ttlSeconds: 600 });
        const r1 = await allocate(wrong.username, wrong.credential);
        expect(decodeErrorCode(attr(r1, Attr.ERROR_CODE)!.value)?.code).toBe(401);
        const expired = makeTurnCredentials({ secret, urls: [], ttlSeconds: 60, now: Date.now() - 3600_000 });
        const r2 = await allocate(expired.username, expired.credential);
        expect(decodeErrorCode(attr(r2, Attr.ERROR_CODE)!.value)?.code).toBe(401);
      });
    });
  });
}
