import { describe, expect, it } from 'vitest';
import {
  base64DecodedLength,
  bucketFor,
  checkBase64,
  fromBase64,
  fromBase64Url,
  fromHex,
  fromPem,
  fromUtf8,
  hex64,
  isProtocolError,
  padJson,
  relayUrl,
  safetyCode,
  str,
  timestamp,
  toBase64,
  toBase64Url,
  toHex,
  toPem,
  unpadJson,
  uuidV4,
  BUCKETS,
} from '../../protocol/index.ts';

const codeOf = (fn: () => unknown): string => {
  try {
    fn();
    return 'ok';
  } catch (e) {
    if (!isProtocolError(e)) throw e;
    return e.code;
  }
};
const bytes = (n: number, seed = 1): Uint8Array => new Uint8Array(n).map((_, i) => (i * 151 + seed * 7) & 0xff);

describe('bytes: base64', () => {
  it('round trips every length 0..300 and agrees with Buffer (an independent encoder)', () => {
    for (let n = 0; n <= 300; n++) {
      const b = bytes(n, n);
      const s = toBase64(b);
      expect(s).toBe(Buffer.from(b).toString('base64'));
      expect(fromBase64(s)).toEqual(b);
      expect(base64DecodedLength(s)).toBe(n);
      const u = toBase64Url(b);
      expect(u).toBe(Buffer.from(b).toString('base64url'));
      expect(fromBase64Url(u)).toEqual(b);
    }
  });

  it('round trips a 64 KiB envelope', () => {
    const b = bytes(65821);
    expect(fromBase64(toBase64(b))).toEqual(b);
  });

  it.each([
    ['missing padding', 'QQ'],
    ['too much padding', 'QQ==='],
    ['padding in the middle', 'QQ==QQ=='],
    ['non-canonical trailing bits', 'QR=='],
    ['non-canonical trailing bits (one pad)', 'QUJ='],
    ['whitespace', 'QUJD\nREVG'],
    ['url alphabet', 'a-_b'],
    ['non-ASCII', 'QUJDé==='],
    ['length 1 mod 4', 'QUJDR'],
  ])('standard base64 refuses %s', (_n, s) => {
    expect(codeOf(() => fromBase64(s))).toBe('bad_base64');
  });

  it.each([
    ['padding', 'QQ=='],
    ['standard alphabet', 'a+/b'],
    ['impossible length', 'QUJDR'],
    ['non-canonical trailing bits', 'QR'],
  ])('base64url refuses %s', (_n, s) => {
    expect(codeOf(() => fromBase64Url(s))).toBe('bad_base64');
  });

  it('hex is lowercase only and even-length', () => {
    expect(toHex(new Uint8Array([0, 15, 255]))).toBe('000fff');
    expect(fromHex('000fff')).toEqual(new Uint8Array([0, 15, 255]));
    expect(codeOf(() => fromHex('0A'))).toBe('bad_hex');
    expect(codeOf(() => fromHex('abc'))).toBe('bad_hex');
  });

  it('UTF-8 decoding is fatal', () => {
    expect(fromUtf8(new Uint8Array([0xc3, 0xa9]))).toBe('é');
    expect(codeOf(() => fromUtf8(new Uint8Array([0xc3])))).toBe('bad_plaintext');
    expect(codeOf(() => fromUtf8(new Uint8Array([0xed, 0xa0, 0x80])))).toBe('bad_plaintext'); // a UTF-16 surrogate
  });

  it('PEM round trip, and PKCS#1 is pointed at the conversion', () => {
    const der = bytes(300);
    const pem = toPem(der, 'PRIVATE KEY');
    expect(pem.split('\n').every((l) => l.length <= 64)).toBe(true);
    expect(fromPem(pem, 'PRIVATE KEY')).toEqual(der);
    expect(codeOf(() => fromPem(pem.replace(/PRIVATE KEY/g, 'RSA PRIVATE KEY'), 'PRIVATE KEY'))).toBe('bad_key');
    expect(codeOf(() => fromPem('hello', 'PUBLIC KEY'))).toBe('bad_key');
    expect(codeOf(() => fromPem('x'.repeat(20000), 'PUBLIC KEY'))).toBe('too_large');
  });
});

describe('bytes: checkBase64 (validation without decoding)', () => {
  const agree = (s: string): void => {
    const want = codeOf(() => fromBase64(s));
    expect(codeOf(() => checkBase64(s)), JSON.stringify(s)).toBe(want);
    if (want === 'ok') expect(checkBase64(s)).toBe(fromBase64(s)[0]);
  };

  it('accepts exactly what fromBase64 accepts, with the same error codes', () => {
    for (let n = 1; n <= 12; n++) agree(toBase64(bytes(n, n)));
    // Every last-character choice before one and two padding characters (canonical and not).
    const alpha = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    for (const c of alpha) {
      agree(`QUJD${'Q' + 'U' + c}=`);
      agree(`QUJD${'Q' + c}==`);
    }
    for (const bad of ['QUJ', 'QUJ=D===', 'QU-D', 'QU_D', 'QUJD\n', ' QUJD', 'QUJD====', 'Q===', '====', 'QUJ\u00e9', 'QU=D']) agree(bad);
  });

  it('agrees with fromBase64 on random corruptions of an envelope-sized string', () => {
    const good = toBase64(bytes(1500, 3));
    let seed = 7;
    const rnd = (n: number): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
    const chars = 'AQgw+/=-_ .\u00ff9z';
    for (let i = 0; i < 300; i++) {
      const at = rnd(good.length);
      agree(good.slice(0, at) + chars[rnd(chars.length)] + good.slice(at + 1));
    }
  });
});

describe('fields', () => {
  it.each([
    ['2024-06-15T12:34:56.789Z', 'ok'],
    ['2024-06-15T12:34:56Z', 'ok'],
    ['2024-06-15T12:34:56.7Z', 'ok'],
    ['2024-02-29T00:00:00.000Z', 'ok'],
    ['2023-02-29T00:00:00.000Z', 'bad_timestamp'],
    ['2024-06-15T24:00:00.000Z', 'bad_timestamp'],
    ['2024-06-15T12:34:60.000Z', 'bad_timestamp'],
    ['2024-06-15T12:34:56.7891Z', 'bad_timestamp'],
    ['2024-06-15T12:34:56.789+00:00', 'bad_timestamp'],
    ['2024-06-15 12:34:56.789Z', 'bad_timestamp'],
    ['2024-06-15T12:34:56.789z', 'bad_timestamp'],
    ['1718454896789', 'bad_timestamp'],
  ])('timestamp %s → %s', (t, want) => {
    expect(codeOf(() => timestamp({ t }, 't'))).toBe(want);
  });

  it('timestamp can demand milliseconds and returns epoch ms', () => {
    expect(codeOf(() => timestamp({ t: '2024-06-15T12:34:56Z' }, 't', 't', true))).toBe('bad_timestamp');
    expect(timestamp({ t: '2024-06-15T12:34:56.789Z' }, 't', 't', true).ms).toBe(Date.UTC(2024, 5, 15, 12, 34, 56, 789));
  });

  it.each([
    ['123e4567-e89b-42d3-a456-426614174000', 'ok'],
    ['123e4567-e89b-12d3-a456-426614174000', 'bad_uuid'],
    ['123e4567-e89b-42d3-c456-426614174000', 'bad_uuid'],
    ['123E4567-E89B-42D3-A456-426614174000', 'bad_uuid'],
    ['123e4567e89b42d3a456426614174000', 'bad_uuid'],
    ['123e4567-e89b-42d3-a456-4266141740000', 'too_large'],
  ])('uuid %s → %s', (u, want) => {
    expect(codeOf(() => uuidV4({ u }, 'u'))).toBe(want);
  });

  it.each([
    ['https://relay.example.net', 'ok'],
    ['http://127.0.0.1:7001', 'ok'],
    ['https://relay.example.net/mesh', 'ok'],
    ['https://relay.example.net/', 'bad_url'],
    ['https://relay.example.net:443', 'bad_url'],
    ['https://RELAY.example.net', 'bad_url'],
    ['https://relay.example.net?x', 'bad_url'],
    ['https://relay.example.net#x', 'bad_url'],
    ['https://a:b@relay.example.net', 'bad_url'],
    ['ws://relay.example.net', 'bad_url'],
    ['javascript:alert(1)', 'bad_url'],
    ['not a url', 'bad_url'],
  ])('relay url %s → %s', (u, want) => {
    expect(codeOf(() => relayUrl(u))).toBe(want);
  });

  it('string fields report missing, type and size with the field name', () => {
    expect(codeOf(() => str({}, 'a', 3))).toBe('missing_field');
    expect(codeOf(() => str({ a: 1 }, 'a', 3))).toBe('bad_type');
    expect(codeOf(() => str({ a: 'abcd' }, 'a', 3))).toBe('too_large');
    try {
      str({ a: 1 }, 'a', 3, 'packet.a');
    } catch (e) {
      expect(e).toMatchObject({ name: 'ProtocolError', field: 'packet.a' });
    }
    expect(codeOf(() => hex64({ h: 'A'.repeat(64) }, 'h'))).toBe('bad_hex');
  });

  it('safety code: 12 groups of 5 digits from the fingerprint, refusing non-fingerprints', () => {
    const fp = 'f'.repeat(64);
    expect(safetyCode(fp)).toBe(Array(12).fill(String(0xfffff % 100000).padStart(5, '0')).join(' '));
    expect(safetyCode('0'.repeat(64))).toBe(Array(12).fill('00000').join(' '));
    expect(codeOf(() => safetyCode('xyz'))).toBe('bad_hex');
  });
});

describe('padding', () => {
  it('every JSON size lands in the smallest bucket that holds it', () => {
    for (const n of [2, 100, 1023, 1024, 1025, 2048, 2049, 4097, 40000, 65536]) {
      const json = JSON.stringify('x'.repeat(n - 2));
      const p = padJson(json);
      expect(p.length).toBe(bucketFor(n));
      expect(p.length).toBe(BUCKETS.find((b) => b >= n));
      expect(p.subarray(n).every((x) => x === 0x20)).toBe(true);
    }
    expect(codeOf(() => padJson(JSON.stringify('x'.repeat(65535))))).toBe('plaintext_too_large');
  });

  it('multi-byte characters count in bytes, not characters', () => {
    const json = JSON.stringify({ c: '€'.repeat(400) }); // 400 chars, 1200 bytes
    expect(padJson(json).length).toBe(2048);
  });

  it('unpad refuses any other size or filler', () => {
    const ok = padJson('{"a":1}');
    expect(unpadJson(ok, 'm')).toEqual({ a: 1 });
    expect(codeOf(() => unpadJson(ok.subarray(0, 1023), 'm'))).toBe('bad_padding');
    expect(codeOf(() => unpadJson(padJson('{"a":1}', 2048), 'm', 1024))).toBe('bad_padding');
    const tabbed = ok.slice();
    tabbed[7] = 0x09;
    expect(codeOf(() => unpadJson(tabbed, 'm'))).toBe('bad_plaintext');
  });
});

describe('uuidV4From', () => {
  it('makes lowercase version-4, variant-1 UUIDs the validator accepts', async () => {
    const { uuidV4From } = await import('../../protocol/message.ts');
    for (let i = 0; i < 50; i++) {
      const u = uuidV4From(crypto.getRandomValues(new Uint8Array(16)));
      expect(codeOf(() => uuidV4({ u }, 'u'))).toBe('ok');
    }
    expect(uuidV4From(new Uint8Array(16).fill(0xff))).toBe('ffffffff-ffff-4fff-bfff-ffffffffffff');
  });
});
