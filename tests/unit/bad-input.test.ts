import { describe, expect, it } from 'vitest';
import {
  fromBase64,
  isProtocolError,
  openPacket,
  parseBackup,
  parseClientPacket,
  parseDescriptor,
  parseMessagePlaintext,
  parseRetrievalHeader,
  parseRetrievalPacket,
  parseServerListRequest,
  parseServerListResponse,
  parseSignedMessage,
  parseSignaturePlaintext,
  toBase64,
  verifyDescriptor,
  verifyRetrieval,
  verifySignedMessage,
  decryptBackup,
} from '../../protocol/index.ts';
import { forgeEngine } from '../../protocol/crypto/forge.ts';
import { webCryptoEngine } from '../../protocol/crypto/webcrypto.ts';
import { loadVectors } from './vectors.ts';

const V = loadVectors();
const odd = Object.fromEntries((V.keys.other_keys as { name: string; spki: string }[]).map((k) => [k.name, k.spki]));

/** The error code `fn` gives, 'ok' when it succeeds; fails the test on anything but a ProtocolError. */
async function codeOf(fn: () => unknown): Promise<string> {
  try {
    await fn();
    return 'ok';
  } catch (e) {
    if (!isProtocolError(e)) throw new Error(`non-ProtocolError escaped: ${String(e)}`);
    return e.code;
  }
}

type Mutation = 'missing' | 'number' | 'null' | 'array' | 'object' | 'boolean' | 'truncated' | 'oversized' | 'not_base64' | 'ec' | 'rsa1024' | 'rsa4096' | 'e3';
type Table = Partial<Record<Mutation, string>>;

const TYPES: Table = { missing: 'missing_field', number: 'bad_type', null: 'bad_type', array: 'bad_type', object: 'bad_type', boolean: 'bad_type' };
const KEY: Table = { ...TYPES, truncated: 'bad_key', oversized: 'too_large', not_base64: 'bad_base64', ec: 'key_not_rsa', rsa1024: 'key_size', rsa4096: 'key_size', e3: 'key_exponent' };
const ENVELOPE: Table = { ...TYPES, truncated: 'bad_bucket', oversized: 'too_large', not_base64: 'bad_base64' };
const SIGNATURE: Table = { ...TYPES, truncated: 'bad_signature', oversized: 'too_large', not_base64: 'bad_base64' };
const HEX64: Table = { ...TYPES, truncated: 'bad_hex', oversized: 'too_large', not_base64: 'bad_hex' };
const TIMESTAMP: Table = { ...TYPES, truncated: 'bad_timestamp', oversized: 'too_large' };

function mutate(value: unknown, m: Mutation, oversize: number): unknown {
  const s = typeof value === 'string' ? value : '';
  switch (m) {
    case 'missing': return undefined;
    case 'number': return 1;
    case 'null': return null;
    case 'array': return [s];
    case 'object': return { value: s };
    case 'boolean': return true;
    case 'truncated': return s.slice(0, Math.max(1, Math.floor(s.length * 0.75) & ~3));
    case 'oversized': return 'A'.repeat(oversize);
    case 'not_base64': return '*' + s.slice(1);
    case 'ec': return odd.ec_p256;
    case 'rsa1024': return odd.rsa1024;
    case 'rsa4096': return odd.rsa4096;
    case 'e3': return odd.rsa2048_e3;
  }
}

interface Subject {
  name: string;
  base: Record<string, unknown>;
  fields: Record<string, { table: Table; oversize: number }>;
  /** Every validator and its opener/verifier, each given the mutated input. */
  check: (input: unknown) => Promise<string>[];
}

const bob = {
  web: await webCryptoEngine.importPkcs8(fromBase64(V.keys.keys.bob.pkcs8), false),
  forge: await forgeEngine.importPkcs8(fromBase64(V.keys.keys.bob.pkcs8), false),
};
const retrieval = V.retrieval.valid[0];
const descriptor = V.descriptors.valid[0];
const signed = V.signed_messages.valid[0];
const at = (iso: string): number => Date.parse(iso);

const subjects: Subject[] = [
  {
    name: 'client message packet',
    base: V.packets.valid[0].packet,
    fields: { recipient: { table: KEY, oversize: 4097 }, message: { table: ENVELOPE, oversize: 87768 }, signature: { table: ENVELOPE, oversize: 87768 } },
    check: (p) => [codeOf(() => parseClientPacket(p)), codeOf(() => openPacket(webCryptoEngine, bob.web, p)), codeOf(() => openPacket(forgeEngine, bob.forge, p))],
  },
  {
    name: 'message plaintext',
    base: JSON.parse(V.packets.valid[0].message_json),
    fields: {
      sender: { table: KEY, oversize: 4097 },
      content: { table: { ...TYPES, oversized: 'too_large' }, oversize: 60001 },
      uuid: { table: { ...TYPES, truncated: 'bad_uuid', oversized: 'too_large' }, oversize: 37 },
      timestamp: { table: { ...TIMESTAMP, missing: 'missing_field' }, oversize: 41 },
      kind: { table: { number: 'bad_type', null: 'bad_type', array: 'bad_type', object: 'bad_type', boolean: 'bad_type', oversized: 'too_large' }, oversize: 17 },
    },
    check: (p) => [codeOf(() => parseMessagePlaintext(p))],
  },
  {
    name: 'retrieval packet',
    base: retrieval.packet,
    fields: {
      public_key: { table: KEY, oversize: 4097 },
      relay: { table: HEX64, oversize: 65 },
      timestamp: { table: TIMESTAMP, oversize: 41 },
      nonce: { table: { ...TYPES, truncated: 'bad_nonce', oversized: 'too_large', not_base64: 'bad_base64' }, oversize: 129 },
      signature: { table: SIGNATURE, oversize: 345 },
    },
    check: (p) => [
      codeOf(() => parseRetrievalPacket(p)),
      codeOf(() => parseRetrievalHeader(Buffer.from(JSON.stringify(p) ?? 'null').toString('base64url'))),
      ...[webCryptoEngine, forgeEngine].map((e) => codeOf(async () => verifyRetrieval(e, parseRetrievalPacket(p), retrieval.relay_id, at(retrieval.now)))),
    ],
  },
  {
    name: 'relay descriptor',
    base: descriptor.descriptor,
    fields: {
      id: { table: HEX64, oversize: 65 },
      url: { table: { ...TYPES, oversized: 'too_large', not_base64: 'bad_url' }, oversize: 513 },
      public_key: { table: KEY, oversize: 4097 },
      timestamp: { table: TIMESTAMP, oversize: 41 },
      signature: { table: SIGNATURE, oversize: 345 },
    },
    check: (d) => [codeOf(() => parseDescriptor(d)), ...[webCryptoEngine, forgeEngine].map((e) => codeOf(() => verifyDescriptor(e, d, at(descriptor.now))))],
  },
  {
    name: 'signed_message',
    base: signed.input,
    fields: {
      public_key: { table: KEY, oversize: 4097 },
      signature: { table: SIGNATURE, oversize: 345 },
      // An object is the right type here; {value} is refused for what it holds.
      message: { table: { ...TYPES, object: 'unknown_field' }, oversize: 0 },
    },
    check: (m) => [codeOf(() => parseSignedMessage(m)), ...[webCryptoEngine, forgeEngine].map((e) => codeOf(() => verifySignedMessage(e, m, at(signed.now))))],
  },
  {
    name: 'backup file',
    base: V.backup.valid[0].file,
    fields: {
      salt: { table: { ...TYPES, truncated: 'bad_type', oversized: 'too_large', not_base64: 'bad_base64' }, oversize: 65 },
      iv: { table: { ...TYPES, truncated: 'bad_type', oversized: 'too_large', not_base64: 'bad_base64' }, oversize: 25 },
      ciphertext: { table: { ...TYPES, oversized: 'too_large', not_base64: 'bad_base64' }, oversize: 8193 },
      iterations: { table: { missing: 'bad_type', null: 'bad_type', array: 'bad_type', object: 'bad_type', boolean: 'bad_type' }, oversize: 0 },
    },
    // Only shape failures here: they must be refused before the expensive PBKDF2.
    check: (b) => [codeOf(() => parseBackup(b)), codeOf(() => decryptBackup(webCryptoEngine, b, V.backup.valid[0].passphrase))],
  },
];

describe.each(subjects)('bad input: $name', (s) => {
  const rows: [string, Mutation, string][] = [];
  for (const [field, { table }] of Object.entries(s.fields)) for (const [m, code] of Object.entries(table)) rows.push([field, m as Mutation, code]);

  it('the unmodified input is accepted', async () => {
    for (const c of await Promise.all(s.check(s.base))) expect(c).toBe('ok');
  });

  it.each(rows)('%s %s → %s', async (field, m, code) => {
    const input: Record<string, unknown> = { ...s.base };
    const v = mutate(s.base[field], m, s.fields[field]!.oversize);
    if (v === undefined) delete input[field];
    else input[field] = v;
    const codes = await Promise.all(s.check(JSON.parse(JSON.stringify(input))));
    expect(codes).toEqual(codes.map(() => code));
  });

  it.each([['a string', 'x'], ['a number', 5], ['null', null], ['an array', []], ['true', true]])('the whole input is %s → bad_type', async (_n, v) => {
    // A backup arrives as file text, so a bare string is parsed as JSON first.
    const want = s.name === 'backup file' && typeof v === 'string' ? 'bad_json' : 'bad_type';
    for (const c of await Promise.all(s.check(v))) expect(c).toBe(want);
  });

  it('an unknown field is refused', async () => {
    if (s.name === 'message plaintext') return expect(await codeOf(() => parseMessagePlaintext({ ...s.base, x: 1 }))).toBe('ok'); // extras are allowed there
    for (const c of await Promise.all(s.check({ ...s.base, zzz: 1 }))) expect(c).toBe('unknown_field');
  });
});

/** Deterministic pseudo-random values, so a failure reproduces. */
function rng(seed: number): () => number {
  return () => ((seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32);
}
function randomJson(r: () => number, depth = 0): unknown {
  const k = Math.floor(r() * (depth > 2 ? 5 : 7));
  if (k === 0) return null;
  if (k === 1) return r() < 0.5;
  if (k === 2) return Math.floor(r() * 1e6) - 5e5;
  if (k === 3) return Array.from({ length: Math.floor(r() * 40) }, () => 'AZaz09+/=-_é\u0000{}"'[Math.floor(r() * 17)]).join('');
  if (k === 4) return toBase64(new Uint8Array(Math.floor(r() * 400)).map(() => Math.floor(r() * 256)));
  if (k === 5) return Array.from({ length: Math.floor(r() * 4) }, () => randomJson(r, depth + 1));
  const keys = ['recipient', 'message', 'signature', 'public_key', 'relay', 'timestamp', 'nonce', 'id', 'url', 'type', 'content', 'sender', 'uuid', 'format', 'salt', 'iv', 'iterations', 'known_servers', 'servers'];
  return Object.fromEntries(Array.from({ length: Math.floor(r() * 6) }, () => [keys[Math.floor(r() * keys.length)]!, randomJson(r, depth + 1)]));
}

describe('nothing but a ProtocolError escapes', () => {
  it('validators given 3000 random JSON values', async () => {
    const r = rng(7);
    const validators: ((v: unknown) => unknown)[] = [
      parseClientPacket, parseMessagePlaintext, parseSignaturePlaintext, parseRetrievalPacket, parseDescriptor, parseSignedMessage,
      parseServerListRequest, parseServerListResponse, parseBackup, (v) => parseRetrievalHeader(typeof v === 'string' ? v : JSON.stringify(v)),
    ];
    for (let i = 0; i < 3000; i++) {
      const v = randomJson(r);
      for (const f of validators) await codeOf(() => f(v));
    }
  });

  it.each([['webcrypto', webCryptoEngine, bob.web], ['forge', forgeEngine, bob.forge]] as const)(
    '%s: openPacket with one random bit flipped in either envelope',
    async (_n, engine, me) => {
      const r = rng(11);
      const base = V.packets.valid[0].packet;
      for (let i = 0; i < 24; i++) {
        const field = i % 2 ? 'message' : 'signature';
        const bytes = fromBase64(base[field]).slice();
        const at = Math.floor(r() * bytes.length);
        bytes[at]! ^= 1 << Math.floor(r() * 8);
        const code = await codeOf(() => openPacket(engine, me, { ...base, [field]: toBase64(bytes) }));
        expect([at === 0 ? 'bad_envelope_version' : 'decrypt_failed']).toContain(code);
      }
    },
  );
});
