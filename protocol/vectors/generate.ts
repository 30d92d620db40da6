/**
 * Regenerates protocol/vectors/*.json (`npm run vectors`).
 *
 * Three implementations meet here so a vector is never just one library
 * agreeing with itself: node:crypto (OpenSSL) makes the keys and the primitive
 * vectors, node-forge driven by a seeded DRBG builds every packet (so a rerun
 * with the same keys gives byte-identical files), and the tests then check it
 * all with WebCrypto and forge. Keys are kept from the existing keys.json so
 * fingerprints stay stable; delete it (or pass --new-keys) to mint new ones.
 *
 * This script may use node: modules; protocol/*.ts itself may not.
 */
/* eslint-disable no-restricted-imports -- a Node-only build script beside the vectors it writes; never imported by protocol code */
import { createCipheriv, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject, pbkdf2Sync, publicEncrypt, sign as nodeSign, constants } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import forge from 'node-forge';
import { encodeRetrievalHeader, signRetrieval, signDescriptor, signMessage } from '../auth.ts';
import { encryptBackup } from '../backup.ts';
import { fromBase64, toBase64, toBase64Url, toHex, utf8, concat } from '../bytes.ts';
import type { CryptoEngine, PrivateKeyHandle, PublicKeyHandle } from '../crypto/engine.ts';
import { forgeEngine, type ForgePrivateKey, type ForgePublicKey } from '../crypto/forge.ts';
import { webCryptoEngine } from '../crypto/webcrypto.ts';
import { padJson, sealBytes } from '../envelope.ts';
import { fingerprint, safetyCode } from '../identity.ts';
import { MAX_MESSAGE_B64, SIGNATURE_BUCKET } from '../limits.ts';
import { messagePlaintextJson, packetId, packetIdPreimage, retrievalSigningInput, descriptorSigningInput, type ClientMessagePacket, type MessagePlaintext } from '../packets.ts';

const here = dirname(fileURLToPath(import.meta.url));
const T0 = Date.parse('2024-06-15T12:34:56.789Z');
const iso = (ms: number): string => new Date(ms).toISOString();

// ---------------------------------------------------------------- keys (node:crypto)

type KeyName = 'alice' | 'bob' | 'mallory' | 'relay' | 'relay2';
const KEY_NAMES: KeyName[] = ['alice', 'bob', 'mallory', 'relay', 'relay2'];
interface StoredKeys {
  pkcs8: Record<KeyName, string>;
  odd: { rsa1024: { spki: string; pkcs8: string }; rsa4096: { spki: string; pkcs8: string }; rsa2048_e3: { spki: string; pkcs8: string }; ec_p256: { spki: string; pkcs8: string } };
}

function nodeRsa(bits: number, e = 65537): { spki: string; pkcs8: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: bits, publicExponent: e });
  return { spki: (publicKey.export({ type: 'spki', format: 'der' }) as Buffer).toString('base64'), pkcs8: (privateKey.export({ type: 'pkcs8', format: 'der' }) as Buffer).toString('base64') };
}

function loadOrMakeKeys(): StoredKeys {
  const file = join(here, 'keys.json');
  if (existsSync(file) && !process.argv.includes('--new-keys')) {
    const k = JSON.parse(readFileSync(file, 'utf8'));
    const pkcs8 = Object.fromEntries(KEY_NAMES.map((n) => [n, k.keys[n].pkcs8])) as Record<KeyName, string>;
    const odd = Object.fromEntries(k.other_keys.map((o: { name: string; spki: string; pkcs8: string }) => [o.name, { spki: o.spki, pkcs8: o.pkcs8 }]));
    return { pkcs8, odd: odd as StoredKeys['odd'] };
  }
  console.log('minting new keys');
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    pkcs8: Object.fromEntries(KEY_NAMES.map((n) => [n, nodeRsa(2048).pkcs8])) as Record<KeyName, string>,
    odd: {
      rsa1024: nodeRsa(1024),
      rsa4096: nodeRsa(4096),
      rsa2048_e3: nodeRsa(2048, 3),
      ec_p256: { spki: (ec.publicKey.export({ type: 'spki', format: 'der' }) as Buffer).toString('base64'), pkcs8: (ec.privateKey.export({ type: 'pkcs8', format: 'der' }) as Buffer).toString('base64') },
    },
  };
}

// ---------------------------------------------------------------- deterministic engine (forge + DRBG)

let counter = 0;
/** SHA-256 counter-mode DRBG from a fixed seed: reproducible "randomness" for vectors only. */
function drbg(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let o = 0; o < n; ) {
    const block = createHash('sha256').update(`meshchat test vectors v1/${counter++}`).digest();
    out.set(block.subarray(0, Math.min(32, n - o)), o);
    o += 32;
  }
  return out;
}
const bin = (u: Uint8Array): string => forge.util.binary.raw.encode(u);
const unbin = (s: string): Uint8Array => forge.util.binary.raw.decode(s);
const sha = (): forge.md.MessageDigest => forge.md.sha256.create();

const det: CryptoEngine = {
  ...forgeEngine,
  randomBytes: drbg,
  async oaepEncrypt(key, data) {
    return unbin((key as ForgePublicKey).key.encrypt(bin(data), 'RSA-OAEP', { md: sha(), mgf1: { md: sha() }, seed: bin(drbg(32)) }));
  },
  async pssSign(key, data) {
    const md = sha();
    md.update(bin(data));
    const pss = forge.pss.create({ md: sha(), mgf: forge.mgf.mgf1.create(sha()), saltLength: 32, prng: { getBytesSync: (n: number) => bin(drbg(n)) } });
    return unbin((key as ForgePrivateKey).key.sign(md, pss));
  },
  // Only speed: PBKDF2 is deterministic, and OpenSSL-backed WebCrypto is 15x faster than forge.
  pbkdf2: webCryptoEngine.pbkdf2,
};

// ---------------------------------------------------------------- helpers

type Pair = { privateKey: PrivateKeyHandle; publicKey: PublicKeyHandle };
const flip = (b64: string, at: number): string => {
  const b = fromBase64(b64).slice();
  b[at < 0 ? b.length + at : at]! ^= 0x01;
  return toBase64(b);
};
const withByte = (b64: string, at: number, v: number): string => {
  const b = fromBase64(b64).slice();
  b[at] = v;
  return toBase64(b);
};
const sha256hex = (u: Uint8Array | string): string => createHash('sha256').update(u).digest('hex');

async function main(): Promise<void> {
  const stored = loadOrMakeKeys();
  const pairs = {} as Record<KeyName, Pair>;
  const spki = {} as Record<KeyName, string>;
  for (const n of KEY_NAMES) {
    pairs[n] = await forgeEngine.importPkcs8(fromBase64(stored.pkcs8[n]), true);
    spki[n] = toBase64(pairs[n].publicKey.spki);
  }
  const fp = async (n: KeyName): Promise<string> => fingerprint(webCryptoEngine, spki[n]);
  const odd = stored.odd;

  // ------------------------------------------------------------ keys.json
  const keysOut = {
    description:
      'Fixed keys. pkcs8/spki are standard base64 of DER. fingerprint = lowercase hex SHA-256 of the SPKI DER; safety_code per PROTOCOL.md §1. ' +
      'invalid_public: each `spki` value must be refused by the public-key validator (and by an engine importing the decoded DER, when it decodes) with `expect`. ' +
      'invalid_private: each `pkcs8` must be refused by an engine import with `expect`.',
    keys: Object.fromEntries(
      await Promise.all(
        KEY_NAMES.map(async (n) => [n, { pkcs8: stored.pkcs8[n], spki: spki[n], fingerprint: await fp(n), safety_code: safetyCode(await fp(n)) }]),
      ),
    ),
    other_keys: Object.entries(odd).map(([name, k]) => ({ name, ...k })),
    invalid_public: [
      { name: 'EC P-256 key', spki: odd.ec_p256.spki, expect: 'key_not_rsa' },
      { name: 'RSA 1024-bit', spki: odd.rsa1024.spki, expect: 'key_size' },
      { name: 'RSA 4096-bit', spki: odd.rsa4096.spki, expect: 'key_size' },
      { name: 'RSA 2048-bit with e=3', spki: odd.rsa2048_e3.spki, expect: 'key_exponent' },
      { name: 'truncated DER', spki: toBase64(fromBase64(spki.alice).subarray(0, 200)), expect: 'bad_key' },
      { name: 'trailing byte after the DER', spki: toBase64(concat(fromBase64(spki.alice), new Uint8Array([0]))), expect: 'bad_key' },
      { name: 'modulus top bit clear (2040-bit key in 2048 layout)', spki: withByte(spki.alice, 33, 0x01), expect: 'key_size' },
      { name: 'not base64', spki: spki.alice.slice(0, -4) + '!!!=', expect: 'bad_base64' },
      { name: 'base64url alphabet', spki: spki.alice.replace(/\+/g, '-').replace(/\//g, '_'), expect: spki.alice.match(/[+/]/) ? 'bad_base64' : 'none' },
      { name: 'missing padding', spki: spki.alice.replace(/=+$/, ''), expect: spki.alice.endsWith('=') ? 'bad_base64' : 'none' },
      { name: 'empty string', spki: '', expect: 'bad_key' },
      { name: 'a number', spki: 42, expect: 'bad_type' },
      { name: 'null', spki: null, expect: 'bad_type' },
      { name: 'over 4096 characters', spki: { $repeat: 'A', $count: 4100 }, expect: 'too_large' },
      { name: 'a PKCS#8 private key instead', spki: stored.pkcs8.alice, expect: 'bad_key' },
    ].filter((c) => c.expect !== 'none'),
    invalid_private: [
      { name: 'EC P-256 PKCS#8', pkcs8: odd.ec_p256.pkcs8, expect: 'key_not_rsa' },
      { name: 'RSA 1024-bit', pkcs8: odd.rsa1024.pkcs8, expect: 'key_size' },
      { name: 'RSA 4096-bit', pkcs8: odd.rsa4096.pkcs8, expect: 'key_size' },
      { name: 'RSA 2048-bit with e=3', pkcs8: odd.rsa2048_e3.pkcs8, expect: 'key_exponent' },
      { name: 'an SPKI public key instead', pkcs8: spki.alice, expect: 'bad_key' },
      { name: 'truncated', pkcs8: toBase64(fromBase64(stored.pkcs8.alice).subarray(0, 600)), expect: 'bad_key' },
      { name: 'random bytes', pkcs8: toBase64(drbg(64)), expect: 'bad_key' },
    ],
  };

  // ------------------------------------------------------------ primitives.json (node:crypto / OpenSSL)
  const nodePub = (n: KeyName): KeyObject => createPublicKey({ key: Buffer.from(spki[n], 'base64'), format: 'der', type: 'spki' });
  const nodePriv = (n: KeyName): KeyObject => createPrivateKey({ key: Buffer.from(stored.pkcs8[n], 'base64'), format: 'der', type: 'pkcs8' });
  const [aliceNodePub, aliceNodePriv, bobNodePub, mallNodePriv] = [nodePub('alice'), nodePriv('alice'), nodePub('bob'), nodePriv('mallory')];
  const oaep = (pub: KeyObject, data: Uint8Array): string =>
    publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, data).toString('base64');
  const pssSig = (priv: KeyObject, data: Uint8Array): string =>
    nodeSign('sha256', data, { key: priv, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }).toString('base64');
  const gcm = (key: Uint8Array, iv: Uint8Array, pt: Uint8Array): string => {
    const c = createCipheriv('aes-256-gcm', key, iv);
    return Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]).toString('base64');
  };
  const aesCases = [
    { key: drbg(32), iv: drbg(12), pt: new Uint8Array(0) },
    { key: drbg(32), iv: drbg(12), pt: utf8('hello, mesh') },
    { key: drbg(32), iv: drbg(12), pt: drbg(1000) },
  ];
  const pssMsg = utf8('I AM WHO I SAY I AM');
  const oaepKey = drbg(32);
  const primitivesOut = {
    description:
      'Primitive vectors computed with node:crypto (OpenSSL). sha256: hex digest of base64 input. aes_gcm: AES-256-GCM, ciphertext = ct || 16-byte tag, no AAD. ' +
      'pbkdf2: PBKDF2-HMAC-SHA-256 to 32 bytes, passphrase UTF-8. oaep: RSA-OAEP SHA-256/MGF1-SHA-256/empty label ciphertexts that `key` must decrypt to `plaintext` ' +
      '(or, with expect "fail", must refuse). pss: RSA-PSS SHA-256/MGF1-SHA-256/salt 32 signatures over `message`, `valid` says whether `key` verifies it.',
    sha256: [new Uint8Array(0), utf8('abc'), drbg(300)].map((d) => ({ input: toBase64(d), hex: sha256hex(d) })),
    aes_gcm: aesCases.map((c) => ({ key: toBase64(c.key), iv: toBase64(c.iv), plaintext: toBase64(c.pt), ciphertext: gcm(c.key, c.iv, c.pt) })),
    aes_gcm_invalid: [
      { name: 'tampered tag', key: toBase64(aesCases[1]!.key), iv: toBase64(aesCases[1]!.iv), ciphertext: flip(gcm(aesCases[1]!.key, aesCases[1]!.iv, aesCases[1]!.pt), -1) },
      { name: 'tampered ciphertext', key: toBase64(aesCases[1]!.key), iv: toBase64(aesCases[1]!.iv), ciphertext: flip(gcm(aesCases[1]!.key, aesCases[1]!.iv, aesCases[1]!.pt), 0) },
      { name: 'wrong IV', key: toBase64(aesCases[1]!.key), iv: toBase64(aesCases[0]!.iv), ciphertext: gcm(aesCases[1]!.key, aesCases[1]!.iv, aesCases[1]!.pt) },
      { name: 'shorter than a tag', key: toBase64(aesCases[1]!.key), iv: toBase64(aesCases[1]!.iv), ciphertext: toBase64(drbg(8)) },
    ],
    pbkdf2: [
      { passphrase: 'passwd', salt: toBase64(utf8('salt')), iterations: 1, key: pbkdf2Sync('passwd', 'salt', 1, 32, 'sha256').toString('hex') },
      { passphrase: 'correct horse battery staple', salt: toBase64(drbg(16)), iterations: 4096, key: '' },
    ].map((c) => (c.key ? c : { ...c, key: pbkdf2Sync(c.passphrase, fromBase64(c.salt), c.iterations, 32, 'sha256').toString('hex') })),
    oaep: [
      { key: 'alice', plaintext: toBase64(oaepKey), ciphertext: oaep(aliceNodePub, oaepKey) },
      { key: 'alice', plaintext: toBase64(utf8('x')), ciphertext: oaep(aliceNodePub, utf8('x')) },
    ],
    oaep_invalid: [
      { name: 'encrypted to another key', key: 'alice', ciphertext: oaep(bobNodePub, oaepKey), expect: 'fail' },
      { name: 'tampered', key: 'alice', ciphertext: flip(oaep(aliceNodePub, oaepKey), 100), expect: 'fail' },
      { name: 'PKCS#1 v1.5 padding instead of OAEP', key: 'alice', ciphertext: publicEncrypt({ key: aliceNodePub, padding: constants.RSA_PKCS1_PADDING }, oaepKey).toString('base64'), expect: 'fail' },
    ],
    pss: [
      { name: 'valid', key: 'alice', message: toBase64(pssMsg), signature: pssSig(aliceNodePriv, pssMsg), valid: true },
      { name: 'another key signed it', key: 'alice', message: toBase64(pssMsg), signature: pssSig(mallNodePriv, pssMsg), valid: false },
      { name: 'tampered signature', key: 'alice', message: toBase64(pssMsg), signature: flip(pssSig(aliceNodePriv, pssMsg), 5), valid: false },
      { name: 'different message', key: 'alice', message: toBase64(utf8('I AM WHO I SAY I AM!')), signature: pssSig(aliceNodePriv, pssMsg), valid: false },
      {
        name: 'salt length 20 instead of 32',
        key: 'alice',
        message: toBase64(pssMsg),
        signature: nodeSign('sha256', pssMsg, { key: aliceNodePriv, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 20 }).toString('base64'),
        valid: false,
      },
      { name: 'all-zero signature', key: 'alice', message: toBase64(pssMsg), signature: toBase64(new Uint8Array(256)), valid: false },
      { name: 'all-0xff signature (larger than the modulus)', key: 'alice', message: toBase64(pssMsg), signature: toBase64(new Uint8Array(256).fill(0xff)), valid: false },
    ],
  };

  // ------------------------------------------------------------ envelopes.json
  const padCases = [
    '{"a":1}',
    JSON.stringify({ content: 'é'.repeat(600) }), // 1200 UTF-8 bytes: the 2048 bucket
    JSON.stringify({ content: 'x'.repeat(1014) }), // exactly 1024 bytes: no padding at all
    JSON.stringify({ content: 'x'.repeat(1015) }), // one byte over: next bucket
  ];
  const sealCases = [
    { text: messagePlaintextJson({ sender: spki.alice, content: 'Hello, this is a test message!', uuid: '123e4567-e89b-42d3-a456-426614174000', timestamp: iso(T0) }) },
    { text: JSON.stringify({ signature: toBase64(new Uint8Array(256).fill(7)) }), exact: SIGNATURE_BUCKET },
  ];
  const seals = [];
  for (const c of sealCases) {
    const plaintext = padJson(c.text, c.exact);
    const aesKey = drbg(32);
    const iv = drbg(12);
    const env = await sealBytes(det, pairs.bob.publicKey, plaintext, { aesKey, iv });
    seals.push({
      recipient: 'bob',
      aes_key: toBase64(aesKey),
      iv: toBase64(iv),
      json: c.text,
      plaintext_length: plaintext.length,
      gcm_part: toBase64(env.subarray(257)),
      envelope: toBase64(env),
    });
  }
  const goodEnv = seals[0]!.envelope;
  const sealTo = async (who: KeyName, pt: Uint8Array): Promise<string> => toBase64(await sealBytes(det, pairs[who].publicKey, pt));
  const wrapShort = toBase64(concat(new Uint8Array([1]), fromBase64(await sealTo('bob', drbg(16))).subarray(1, 257), drbg(12 + 1024 + 16)));
  const envelopesOut = {
    description:
      'Envelope = 0x01 || RSA-OAEP(recipient, aes_key) (256) || iv (12) || AES-256-GCM(aes_key, iv, plaintext) || tag (16). ' +
      'padding: `json` padded with 0x20 to `bucket` bytes; `padded_sha256` is the SHA-256 of the result (or expect names the refusal; $repeat/$count builds a long string). ' +
      'seal: with the fixed aes_key and iv, bytes 257.. of the envelope (iv || ct || tag) are exactly gcm_part; the full envelope opens with the recipient key to `json` padded to plaintext_length. ' +
      'open_invalid: openBytes with the recipient key must refuse with expect. unpad_invalid: utf8(text) followed by `fill` bytes up to `length`; unpadding (to a message bucket, or exactly `exact`) must refuse with expect.',
    padding: [
      ...padCases.map((json) => {
        const p = padJson(json);
        return { json, bucket: p.length, padded_sha256: sha256hex(p) };
      }),
      { json: JSON.stringify({ content: 'x'.repeat(65522) }), bucket: 65536, padded_sha256: sha256hex(padJson(JSON.stringify({ content: 'x'.repeat(65522) }))) },
      { json: JSON.stringify({ signature: 'A'.repeat(344) }), exact: 1024, bucket: 1024, padded_sha256: sha256hex(padJson(JSON.stringify({ signature: 'A'.repeat(344) }), 1024)) },
    ].map((c) => (c.json.length > 2000 ? { ...c, json: { $repeat_json_content: 'x', $count: 65522 } } : c)),
    padding_invalid: [
      { name: 'message JSON of 65537 bytes', json: { $repeat_json_content: 'x', $count: 65523 }, expect: 'plaintext_too_large' },
      { name: 'signature JSON over 1024 bytes', json: { $repeat_json_content: 'x', $count: 1100 }, exact: 1024, expect: 'plaintext_too_large' },
    ],
    seal: seals,
    open_invalid: [
      { name: 'truncated below the envelope overhead', envelope: toBase64(fromBase64(goodEnv).subarray(0, 200)), expect: 'bad_envelope' },
      { name: 'version byte 0x02', envelope: withByte(goodEnv, 0, 2), expect: 'bad_envelope_version' },
      { name: 'version byte 0x00', envelope: withByte(goodEnv, 0, 0), expect: 'bad_envelope_version' },
      { name: 'tampered wrapped key', envelope: flip(goodEnv, 100), expect: 'decrypt_failed' },
      { name: 'tampered IV', envelope: flip(goodEnv, 257), expect: 'decrypt_failed' },
      { name: 'tampered ciphertext', envelope: flip(goodEnv, 400), expect: 'decrypt_failed' },
      { name: 'tampered tag', envelope: flip(goodEnv, -1), expect: 'decrypt_failed' },
      { name: 'tag cut off (ciphertext shortened by one byte)', envelope: toBase64(fromBase64(goodEnv).subarray(0, fromBase64(goodEnv).length - 1)), expect: 'decrypt_failed' },
      { name: 'sealed to another key (alice)', envelope: await sealTo('alice', padJson('{"a":1}')), expect: 'decrypt_failed' },
      { name: 'wrapped key is 16 bytes, not 32', envelope: wrapShort, expect: 'decrypt_failed' },
    ],
    unpad_invalid: [
      { name: 'length 1000 is not a bucket', text: '{"a":1}', fill: '20', length: 1000, expect: 'bad_padding' },
      { name: 'signature plaintext of 2048 bytes', text: '{"signature":"x"}', fill: '20', length: 2048, exact: 1024, expect: 'bad_padding' },
      { name: 'padded with NUL bytes', text: '{"a":1}', fill: '00', length: 1024, expect: 'bad_plaintext' },
      { name: 'padded with newlines', text: '{"a":1}', fill: '0a', length: 1024, expect: 'bad_plaintext' },
      { name: 'leading whitespace', text: '\n{"a":1}', fill: '20', length: 1024, expect: 'bad_plaintext' },
      { name: 'only spaces', text: '', fill: '20', length: 1024, expect: 'bad_plaintext' },
      { name: 'not JSON', text: '{hello}', fill: '20', length: 1024, expect: 'bad_plaintext' },
      { name: 'two JSON objects', text: '{"a":1} {"b":2}', fill: '20', length: 1024, expect: 'bad_plaintext' },
      { name: 'invalid UTF-8', text: '{"a":"\udcff"}', fill: '20', length: 1024, expect: 'bad_plaintext', raw_hex: '7b2261223a22ff227d' },
    ],
  };

  // ------------------------------------------------------------ packets.json
  interface Build {
    to: KeyName;
    signer: KeyName;
    message?: string; // exact message JSON (before padding)
    messageBytes?: Uint8Array; // exact padded plaintext
    sigJson?: (sigB64: string) => string;
    signOver?: Uint8Array; // sign these bytes instead of the message envelope
    sealTo?: KeyName; // seal envelopes to this key instead of `to`
  }
  const msg = (o: Partial<MessagePlaintext> & Record<string, unknown>, from: KeyName = 'alice'): string =>
    JSON.stringify({ sender: spki[from], content: 'hi', uuid: toUuid(drbg(16)), timestamp: iso(T0), ...o });
  function toUuid(b: Uint8Array): string {
    const x = b.slice();
    x[6] = (x[6]! & 0x0f) | 0x40;
    x[8] = (x[8]! & 0x3f) | 0x80;
    const h = toHex(x);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
  async function build(b: Build): Promise<ClientMessagePacket & { keys: { mk: Uint8Array; miv: Uint8Array; sk: Uint8Array; siv: Uint8Array } }> {
    const target = pairs[b.sealTo ?? b.to].publicKey;
    const mk = drbg(32), miv = drbg(12), sk = drbg(32), siv = drbg(12);
    const mEnv = await sealBytes(det, target, b.messageBytes ?? padJson(b.message ?? msg({})), { aesKey: mk, iv: miv });
    const sig = toBase64(await det.pssSign(pairs[b.signer].privateKey, b.signOver ?? mEnv));
    const sEnv = await sealBytes(det, target, padJson(b.sigJson ? b.sigJson(sig) : JSON.stringify({ signature: sig }), SIGNATURE_BUCKET), { aesKey: sk, iv: siv });
    return { recipient: spki[b.to], message: toBase64(mEnv), signature: toBase64(sEnv), keys: { mk, miv, sk, siv } };
  }
  const strip = (p: ClientMessagePacket): ClientMessagePacket => ({ recipient: p.recipient, message: p.message, signature: p.signature });

  const validSpecs: { name: string; to: KeyName; from: KeyName; plain: MessagePlaintext }[] = [
    { name: 'text, 1024 bucket', to: 'bob', from: 'alice', plain: { sender: spki.alice, content: 'Hello, this is a test message!', uuid: '123e4567-e89b-42d3-a456-426614174000', timestamp: iso(T0) } },
    { name: 'unicode content, 2048 bucket', to: 'bob', from: 'alice', plain: { sender: spki.alice, content: 'Grüße 👋 '.repeat(90), uuid: toUuid(drbg(16)), timestamp: iso(T0 + 1) } },
    { name: 'receipt kind with an extra field', to: 'bob', from: 'mallory', plain: { sender: spki.mallory, content: '{"uuids":["123e4567-e89b-42d3-a456-426614174000"],"state":"read"}', uuid: toUuid(drbg(16)), timestamp: iso(T0 + 2), kind: 'receipt', extra: { device: 'phone' } } },
    { name: 'self-addressed sync', to: 'alice', from: 'alice', plain: { sender: spki.alice, content: 'note to self', uuid: toUuid(drbg(16)), timestamp: iso(T0 + 3), kind: 'sync' } },
    { name: '8192 bucket', to: 'bob', from: 'alice', plain: { sender: spki.alice, content: 'z'.repeat(5000), uuid: toUuid(drbg(16)), timestamp: iso(T0 + 4) } },
  ];
  const validPackets = [];
  for (const v of validSpecs) {
    const json = messagePlaintextJson(v.plain);
    const p = await build({ to: v.to, signer: v.from, message: json });
    const packet = strip(p);
    const opened: Record<string, unknown> = { ...v.plain };
    validPackets.push({
      name: v.name,
      opener: v.to,
      packet,
      id: await packetId(packet, (d) => webCryptoEngine.sha256(d)),
      id_preimage_sha256: sha256hex(packetIdPreimage(packet)),
      message_json: json,
      message_json_sha256: sha256hex(json),
      message_aes_key: toBase64(p.keys.mk),
      message_iv: toBase64(p.keys.miv),
      signature_aes_key: toBase64(p.keys.sk),
      signature_iv: toBase64(p.keys.siv),
      opened,
    });
  }
  const base = validPackets[0]!.packet;
  const other = validPackets[1]!.packet;
  const oddB64 = (k: keyof StoredKeys['odd']): string => odd[k].spki;
  const sigEnvOfSize = toBase64(await sealBytes(det, pairs.bob.publicKey, padJson('{"signature":"x"}', 2048)));
  const nonB64 = (s: string): string => '*' + s.slice(1);

  const shape = (name: string, packet: unknown, expect: string): { name: string; packet: unknown; expect: string } => ({ name, packet, expect });
  const shapeInvalid = [
    shape('a string', 'hello', 'bad_type'),
    shape('an array', [base], 'bad_type'),
    shape('null', null, 'bad_type'),
    shape('missing recipient', { message: base.message, signature: base.signature }, 'missing_field'),
    shape('missing message', { recipient: base.recipient, signature: base.signature }, 'missing_field'),
    shape('missing signature', { recipient: base.recipient, message: base.message }, 'missing_field'),
    shape('unknown field', { ...base, sender: spki.alice }, 'unknown_field'),
    shape('recipient is a number', { ...base, recipient: 7 }, 'bad_type'),
    shape('recipient not base64', { ...base, recipient: nonB64(base.recipient) }, 'bad_base64'),
    shape('recipient truncated', { ...base, recipient: base.recipient.slice(0, 300) }, 'bad_key'),
    shape('recipient over 4096 characters', { ...base, recipient: { $repeat: 'A', $count: 4100 } }, 'too_large'),
    shape('recipient EC P-256', { ...base, recipient: oddB64('ec_p256') }, 'key_not_rsa'),
    shape('recipient RSA-1024', { ...base, recipient: oddB64('rsa1024') }, 'key_size'),
    shape('recipient RSA-4096', { ...base, recipient: oddB64('rsa4096') }, 'key_size'),
    shape('recipient e=3', { ...base, recipient: oddB64('rsa2048_e3') }, 'key_exponent'),
    shape('message is an object', { ...base, message: { b64: base.message } }, 'bad_type'),
    shape('message empty', { ...base, message: '' }, 'bad_bucket'),
    shape('message truncated', { ...base, message: base.message.slice(0, 1000) }, 'bad_bucket'),
    shape('message oversized', { ...base, message: { $repeat: 'A', $count: MAX_MESSAGE_B64 + 4 } }, 'too_large'),
    shape('message not base64 (right length)', { ...base, message: nonB64(base.message) }, 'bad_base64'),
    shape('message envelope version 2', { ...base, message: withByte(base.message, 0, 2) }, 'bad_envelope_version'),
    shape('signature envelope of a message bucket size', { ...base, signature: sigEnvOfSize }, 'bad_bucket'),
    shape('signature not base64', { ...base, signature: nonB64(base.signature) }, 'bad_base64'),
    shape('signature is null', { ...base, signature: null }, 'bad_type'),
  ];

  const mEnvOf = (p: ClientMessagePacket): Uint8Array => fromBase64(p.message);
  const pk = async (b: Build): Promise<ClientMessagePacket> => strip(await build(b));
  const open = (name: string, packet: ClientMessagePacket, expect: string, extra: Record<string, unknown> = {}) => ({ name, opener: 'bob', packet, expect, ...extra });
  const openInvalid = [
    open('addressed to another key (mallory)', await pk({ to: 'mallory', signer: 'alice' }), 'wrong_recipient'),
    open('tampered wrapped key in message', { ...base, message: flip(base.message, 50) }, 'decrypt_failed'),
    open('tampered IV in message', { ...base, message: flip(base.message, 260) }, 'decrypt_failed'),
    open('tampered ciphertext in message', { ...base, message: flip(base.message, 600) }, 'decrypt_failed'),
    open('tampered tag in message', { ...base, message: flip(base.message, -3) }, 'decrypt_failed'),
    open('tampered wrapped key in signature', { ...base, signature: flip(base.signature, 50) }, 'decrypt_failed'),
    open('tampered ciphertext in signature', { ...base, signature: flip(base.signature, 700) }, 'decrypt_failed'),
    open('envelopes sealed to mallory, recipient field says bob', await pk({ to: 'bob', signer: 'alice', sealTo: 'mallory' }), 'decrypt_failed'),
    open('signature envelope from another packet', { ...base, signature: other.signature }, 'bad_signature'),
    open('signed by another key (mallory) while sender says alice', await pk({ to: 'bob', signer: 'mallory' }), 'bad_signature'),
    open('swapped sender: sender says mallory, alice signed', await pk({ to: 'bob', signer: 'alice', message: msg({}, 'mallory') }), 'bad_signature'),
    open('signature over the message plaintext instead of the envelope', await pk({ to: 'bob', signer: 'alice', signOver: padJson(msg({})) }), 'bad_signature'),
    open('sender is not the one expected', base, 'sender_mismatch', { expected_sender: spki.mallory }),
    open('signature of 255 bytes', await pk({ to: 'bob', signer: 'alice', sigJson: (s) => JSON.stringify({ signature: toBase64(fromBase64(s).subarray(1)) }) }), 'bad_signature'),
    open('signature not base64', await pk({ to: 'bob', signer: 'alice', sigJson: (s) => JSON.stringify({ signature: nonB64(s) }) }), 'bad_base64'),
    open('signature plaintext has an extra field', await pk({ to: 'bob', signer: 'alice', sigJson: (s) => JSON.stringify({ signature: s, by: 'alice' }) }), 'unknown_field'),
    open('message padded with NUL bytes', await pk({ to: 'bob', signer: 'alice', messageBytes: (() => { const b = new Uint8Array(1024); b.set(utf8(msg({}))); return b; })() }), 'bad_plaintext'),
    open('message padded with newlines', await pk({ to: 'bob', signer: 'alice', messageBytes: (() => { const b = new Uint8Array(1024).fill(10); b.set(utf8(msg({}))); return b; })() }), 'bad_plaintext'),
    open('message plaintext not JSON', await pk({ to: 'bob', signer: 'alice', message: '{sender: alice}' }), 'bad_plaintext'),
    open('message plaintext a JSON array', await pk({ to: 'bob', signer: 'alice', message: `["${spki.alice}"]` }), 'bad_plaintext'),
    open('missing uuid', await pk({ to: 'bob', signer: 'alice', message: msg({ uuid: undefined }) }), 'missing_field'),
    open('uuid is version 1', await pk({ to: 'bob', signer: 'alice', message: msg({ uuid: '123e4567-e89b-12d3-a456-426614174000' }) }), 'bad_uuid'),
    open('timestamp without milliseconds', await pk({ to: 'bob', signer: 'alice', message: msg({ timestamp: '2024-06-15T12:34:56Z' }) }), 'bad_timestamp'),
    open('timestamp not a real date', await pk({ to: 'bob', signer: 'alice', message: msg({ timestamp: '2024-02-30T12:34:56.789Z' }) }), 'bad_timestamp'),
    open('unknown kind', await pk({ to: 'bob', signer: 'alice', message: msg({ kind: 'shout' as 'text' }) }), 'bad_plaintext'),
    open('content is a number', await pk({ to: 'bob', signer: 'alice', message: msg({ content: 5 as unknown as string }) }), 'bad_type'),
    open('sender is an RSA-1024 key', await pk({ to: 'bob', signer: 'alice', message: msg({ sender: oddB64('rsa1024') }) }), 'key_size'),
    open('sender is an EC key', await pk({ to: 'bob', signer: 'alice', message: msg({ sender: oddB64('ec_p256') }) }), 'key_not_rsa'),
    open('sender has e=3', await pk({ to: 'bob', signer: 'alice', message: msg({ sender: oddB64('rsa2048_e3') }) }), 'key_exponent'),
    open('sender not base64', await pk({ to: 'bob', signer: 'alice', message: msg({ sender: nonB64(spki.alice) }) }), 'bad_base64'),
  ];
  void mEnvOf;
  const packetsOut = {
    description:
      'Client message packets. valid: `opener` opens `packet` to `opened` (sender, content, uuid, timestamp, kind?, extra?); `id` = hex SHA-256 of recipient\\nmessage\\nsignature. ' +
      'message_aes_key/message_iv (and signature_*) are the AES key and IV inside each envelope, so the AES-GCM part is checkable without RSA. ' +
      'invalid_shape: the packet validator (and opening, as bob) refuse with expect. invalid_open: opening as `opener` (with expected_sender when given) refuses with expect. ' +
      'A value {"$repeat": s, "$count": n} stands for s repeated n times.',
    valid: validPackets,
    invalid_shape: shapeInvalid,
    invalid_open: openInvalid,
  };

  // ------------------------------------------------------------ retrieval.json
  const relayId = await fp('relay');
  const relay2Id = await fp('relay2');
  const retr = async (who: KeyName, signer: KeyName = who, now = T0) => {
    const p = await signRetrieval(det, { privateKey: pairs[signer].privateKey, publicKey: pairs[who].publicKey }, relayId, { now });
    return p;
  };
  const r0 = await retr('alice');
  const r1 = await retr('bob', 'bob', T0 + 5000);
  const r2 = { ...(await retr('alice', 'alice', T0 + 7000)), after: 'cursor-42' };
  const resign = async (p: typeof r0, changes: Partial<typeof r0>) => {
    const q = { ...p, ...changes };
    return { ...q, signature: toBase64(await det.pssSign(pairs.alice.privateKey, retrievalSigningInput(q.relay, q.timestamp, q.nonce))) };
  };
  const nowIso = iso(T0 + 10_000);
  const rv = (name: string, packet: unknown, expect: string, extra: Record<string, unknown> = {}) => ({ name, packet, relay_id: relayId, now: nowIso, expect, ...extra });
  const hv = (name: string, header: unknown, expect: string) => ({ name, header, relay_id: relayId, now: nowIso, expect });
  const retrievalOut = {
    description:
      'Retrieval packets. Signature: RSA-PSS over utf8("I AM WHO I SAY I AM\\n" + relay + "\\n" + timestamp + "\\n" + nonce). header = base64url (no padding) of JSON.stringify(packet). ' +
      'valid: parses, signing_input matches, the header encodes and decodes back, and the relay `relay_id` accepts it at clock `now`. ' +
      'invalid: parsing `packet` (or decoding `header`) then verifying as relay `relay_id` at `now` refuses with expect. Nonce replay is stateful and left to the relay tests.',
    relay_id: relayId,
    valid: [r0, r1, r2].map((p) => ({
      packet: p,
      signing_input: `I AM WHO I SAY I AM\n${p.relay}\n${p.timestamp}\n${p.nonce}`,
      header: encodeRetrievalHeader(p),
      relay_id: relayId,
      now: nowIso,
    })),
    invalid: [
      rv('signed for another relay', r0, 'wrong_relay', { relay_id: relay2Id }),
      rv('121 s old', r0, 'stale_timestamp', { now: iso(T0 + 121_000) }),
      rv('121 s in the future', r0, 'stale_timestamp', { now: iso(T0 - 121_000) }),
      rv('tampered signature', { ...r0, signature: flip(r0.signature, 10) }, 'bad_signature'),
      rv('signed by bob, public_key says alice', { ...r1, public_key: spki.alice }, 'bad_signature'),
      rv('nonce changed after signing', { ...r0, nonce: toBase64Url(drbg(16)) }, 'bad_signature'),
      rv('timestamp changed after signing', { ...r0, timestamp: iso(T0 + 1) }, 'bad_signature'),
      rv('signature from another retrieval packet', { ...r0, signature: r2.signature }, 'bad_signature'),
      rv('relay id changed after signing (relay id is ours)', { ...(await resign(r0, { relay: relay2Id })), relay: relayId }, 'bad_signature'),
      rv('nonce of 8 bytes', await resign(r0, { nonce: toBase64Url(drbg(8)) }), 'bad_nonce'),
      rv('nonce not base64url', await resign(r0, { nonce: 'abc+def/ghijklmnopqrstuv' }), 'bad_base64'),
      rv('nonce over 128 characters', { ...r0, nonce: 'A'.repeat(129) }, 'too_large'),
      rv('relay not hex', { ...r0, relay: 'Z'.repeat(64) }, 'bad_hex'),
      rv('relay uppercase hex', { ...r0, relay: relayId.toUpperCase() }, 'bad_hex'),
      rv('timestamp not ISO 8601', { ...r0, timestamp: 'yesterday' }, 'bad_timestamp'),
      rv('timestamp with offset instead of Z', { ...r0, timestamp: '2024-06-15T14:34:56.789+02:00' }, 'bad_timestamp'),
      rv('signature of 255 bytes', { ...r0, signature: toBase64(fromBase64(r0.signature).subarray(1)) }, 'bad_signature'),
      rv('signature not base64', { ...r0, signature: nonB64(r0.signature) }, 'bad_base64'),
      rv('missing signature', { ...r0, signature: undefined }, 'missing_field'),
      rv('missing nonce', { ...r0, nonce: undefined }, 'missing_field'),
      rv('unknown field', { ...r0, phrase: 'I AM WHO I SAY I AM' }, 'unknown_field'),
      rv('public_key RSA-4096', { ...r0, public_key: oddB64('rsa4096') }, 'key_size'),
      rv('public_key RSA-1024', { ...r0, public_key: oddB64('rsa1024') }, 'key_size'),
      rv('public_key e=3', { ...r0, public_key: oddB64('rsa2048_e3') }, 'key_exponent'),
      rv('public_key EC', { ...r0, public_key: oddB64('ec_p256') }, 'key_not_rsa'),
      rv('public_key is a number', { ...r0, public_key: 1 }, 'bad_type'),
      rv('an array', [r0], 'bad_type'),
      hv('header empty', '', 'missing_field'),
      hv('header not base64url', '***', 'bad_base64'),
      hv('header standard base64 with padding', toBase64(utf8(JSON.stringify(r0))) + '==', 'bad_base64'),
      hv('header not JSON', toBase64Url(utf8('I AM WHO I SAY I AM')), 'bad_json'),
      hv('header not UTF-8', toBase64Url(new Uint8Array([0x7b, 0xff, 0x7d])), 'bad_plaintext'),
      hv('header over 2048 characters', { $repeat: 'A', $count: 2052 }, 'too_large'),
    ],
  };

  // ------------------------------------------------------------ descriptors.json
  const url = 'https://relay.example.net:8443/mesh';
  const d0 = await signDescriptor(det, pairs.relay, url, T0);
  const d1 = await signDescriptor(det, pairs.relay2, 'http://127.0.0.1:7001', T0 - 3600_000);
  const resignD = async (d: typeof d0, changes: Partial<typeof d0>, signer: KeyName = 'relay') => {
    const q = { ...d, ...changes };
    return { ...q, signature: toBase64(await det.pssSign(pairs[signer].privateKey, descriptorSigningInput(q))) };
  };
  const dv = (name: string, descriptor: unknown, expect: string, now = nowIso) => ({ name, descriptor, now, expect });
  const descriptorsOut = {
    description:
      'Relay descriptors. Signature: RSA-PSS over utf8("RELAY\\n" + id + "\\n" + url + "\\n" + public_key + "\\n" + timestamp); id = fingerprint(public_key). ' +
      'valid: verifies at `now` and signing_input matches. invalid: verification at `now` refuses with expect. ' +
      'server_list_requests / server_list_responses: shape-only parsing; `expect` names a refusal, else `servers` and `rejected` give how many descriptors are kept and the codes of those dropped.',
    valid: [d0, d1].map((d) => ({ descriptor: d, signing_input: `RELAY\n${d.id}\n${d.url}\n${d.public_key}\n${d.timestamp}`, now: nowIso })),
    invalid: [
      dv('id is another relay\'s fingerprint', await resignD(d0, { id: relay2Id }), 'bad_descriptor'),
      dv('tampered signature', { ...d0, signature: flip(d0.signature, 20) }, 'bad_signature'),
      dv('url changed after signing', { ...d0, url: 'https://evil.example.net' }, 'bad_signature'),
      dv('signed by relay2 over relay\'s key and id', await resignD(d0, {}, 'relay2'), 'bad_signature'),
      dv('public key and id swapped to relay2 after signing', { ...d0, public_key: spki.relay2, id: relay2Id }, 'bad_signature'),
      dv('older than 24 h', d0, 'stale_timestamp', iso(T0 + 24 * 3600_000 + 1000)),
      dv('more than 120 s in the future', d0, 'stale_timestamp', iso(T0 - 121_000)),
      dv('url with a trailing slash', await resignD(d0, { url: url + '/' }), 'bad_url'),
      dv('url with a query', await resignD(d0, { url: url + '?x=1' }), 'bad_url'),
      dv('url with credentials', await resignD(d0, { url: 'https://u:p@relay.example.net' }), 'bad_url'),
      dv('ftp url', await resignD(d0, { url: 'ftp://relay.example.net' }), 'bad_url'),
      dv('uppercase host (not normalised)', await resignD(d0, { url: 'https://Relay.example.net' }), 'bad_url'),
      dv('url not a URL', await resignD(d0, { url: 'relay.example.net' }), 'bad_url'),
      dv('url missing', { ...d0, url: undefined }, 'missing_field'),
      dv('url over 512 characters', { ...d0, url: 'https://' + 'a'.repeat(520) + '.net' }, 'too_large'),
      dv('id not hex', { ...d0, id: 'g'.repeat(64) }, 'bad_hex'),
      dv('public_key RSA-1024', { ...d0, public_key: oddB64('rsa1024') }, 'key_size'),
      dv('public_key RSA-4096', { ...d0, public_key: oddB64('rsa4096') }, 'key_size'),
      dv('public_key e=3', { ...d0, public_key: oddB64('rsa2048_e3') }, 'key_exponent'),
      dv('signature of 255 bytes', { ...d0, signature: toBase64(fromBase64(d0.signature).subarray(1)) }, 'bad_signature'),
      dv('unknown field', { ...d0, load: 0.5 }, 'unknown_field'),
      dv('a string', 'relay', 'bad_type'),
    ],
    server_list_requests: [
      { input: { type: 'server_list_request', requester_id: 'client-7f3a', timestamp: iso(T0) } },
      { input: { type: 'server_list_request', requester_id: relayId, timestamp: iso(T0) } },
      { input: { type: 'server_list_reply', requester_id: 'x', timestamp: iso(T0) }, expect: 'bad_type' },
      { input: { type: 'server_list_request', requester_id: 'has space', timestamp: iso(T0) }, expect: 'bad_id' },
      { input: { type: 'server_list_request', requester_id: '', timestamp: iso(T0) }, expect: 'bad_id' },
      { input: { type: 'server_list_request', requester_id: 'x', timestamp: 'now' }, expect: 'bad_timestamp' },
      { input: { type: 'server_list_request', requester_id: 'x', timestamp: iso(T0), extra: 1 }, expect: 'unknown_field' },
    ],
    server_list_responses: [
      { input: { type: 'server_list_response', known_servers: [relayId, relay2Id], timestamp: iso(T0), servers: [d0, d1] }, servers: 2, rejected: [] },
      { input: { type: 'server_list_response', known_servers: [relayId], timestamp: iso(T0), servers: [d0, { ...d1, url: 'ftp://x' }, 'junk'] }, servers: 1, rejected: ['bad_url', 'bad_type'] },
      { input: { type: 'server_list_response', known_servers: [relayId], timestamp: iso(T0) }, servers: 0, rejected: [] },
      { input: { type: 'server_list_response', known_servers: ['nothex'], timestamp: iso(T0), servers: [] }, expect: 'bad_hex' },
      { input: { type: 'server_list_response', known_servers: relayId, timestamp: iso(T0), servers: [] }, expect: 'bad_type' },
      { input: { type: 'server_list_response', known_servers: { $repeat_array: relayId, $count: 257 }, timestamp: iso(T0), servers: [] }, expect: 'too_large' },
    ],
  };

  // ------------------------------------------------------------ signed_messages.json
  const s0 = await signMessage(det, pairs.relay, JSON.stringify({ kind: 'hello', peer: relay2Id }), T0);
  const s1 = await signMessage(det, pairs.relay2, 'misbehaviour report: relay dropped canary 123', T0 + 2000);
  const sv = (name: string, input: unknown, expect: string, now = nowIso) => ({ name, input, now, expect });
  const signedOut = {
    description:
      'signed_message frames. Signature: RSA-PSS over utf8("signed_message\\n" + message.timestamp + "\\n" + message.content). valid: verifies at `now` with signer = fingerprint(public_key). invalid: refuses with expect.',
    valid: [s0, s1].map((m) => ({ input: m, signing_input: `signed_message\n${m.message.timestamp}\n${m.message.content}`, now: nowIso, signer: '' })),
    invalid: [
      sv('content changed after signing', { ...s0, message: { ...s0.message, content: 'other' } }, 'bad_signature'),
      sv('timestamp changed after signing', { ...s0, message: { ...s0.message, timestamp: iso(T0 + 1) } }, 'bad_signature'),
      sv('public_key of another relay', { ...s0, public_key: spki.relay2 }, 'bad_signature'),
      sv('signature of another frame', { ...s0, signature: s1.signature }, 'bad_signature'),
      sv('older than 120 s', s0, 'stale_timestamp', iso(T0 + 121_000)),
      sv('wrong type', { ...s0, type: 'message' }, 'bad_type'),
      sv('unknown field', { ...s0, extra: true }, 'unknown_field'),
      sv('unknown field inside message', { ...s0, message: { ...s0.message, id: 1 } }, 'unknown_field'),
      sv('content over 16384 characters', { ...s0, message: { ...s0.message, content: { $repeat: 'c', $count: 16385 } } }, 'too_large'),
      sv('public_key e=3', { ...s0, public_key: oddB64('rsa2048_e3') }, 'key_exponent'),
      sv('public_key RSA-4096', { ...s0, public_key: oddB64('rsa4096') }, 'key_size'),
      sv('signature not base64', { ...s0, signature: nonB64(s0.signature) }, 'bad_base64'),
      sv('message is a string', { ...s0, message: 'hello' }, 'bad_type'),
    ],
  };
  for (const v of signedOut.valid) v.signer = await fingerprint(webCryptoEngine, v.input.public_key);

  // ------------------------------------------------------------ backup.json
  const passphrase = 'correct horse battery staple';
  const b0 = await encryptBackup(det, fromBase64(stored.pkcs8.alice), passphrase, { name: 'alice laptop' });
  const bv = (name: string, file: unknown, expect: string, pass = passphrase) => ({ name, file, passphrase: pass, expect });
  const backupOut = {
    description:
      'Identity backup files (PROTOCOL.md §7). valid: decrypting `file` with `passphrase` gives the PKCS#8 of `key`; salt and iv are fixed, so `file.ciphertext` is the exact AES-256-GCM output. ' +
      'invalid: decrypting refuses with expect. Each 600000-iteration PBKDF2 costs ~0.3 s on WebCrypto and ~5 s on forge.',
    valid: [{ key: 'alice', passphrase, file: b0 }],
    invalid: [
      bv('wrong passphrase', b0, 'decrypt_failed', 'correct horse battery stapler'),
      bv('tampered ciphertext', { ...b0, ciphertext: flip(b0.ciphertext, 30) }, 'decrypt_failed'),
      bv('iterations below 600000', { ...b0, iterations: 599_999 }, 'bad_type'),
      bv('iterations above 10000000', { ...b0, iterations: 10_000_001 }, 'bad_type'),
      bv('iterations not an integer', { ...b0, iterations: 600000.5 }, 'bad_type'),
      bv('another format', { ...b0, format: 'other-backup' }, 'unsupported'),
      bv('version 2', { ...b0, version: 2 }, 'unsupported'),
      bv('salt of 8 bytes', { ...b0, salt: toBase64(drbg(8)) }, 'bad_type'),
      bv('iv of 16 bytes', { ...b0, iv: toBase64(drbg(16)) }, 'bad_type'),
      bv('iv not base64', { ...b0, iv: '************' }, 'bad_base64'),
      bv('missing ciphertext', { ...b0, ciphertext: undefined }, 'missing_field'),
      bv('unknown field', { ...b0, hint: 'dog' }, 'unknown_field'),
      bv('not JSON text', '{"format":', 'bad_json'),
      bv('an array', [b0], 'bad_type'),
    ],
  };

  // ------------------------------------------------------------ write
  const files: Record<string, unknown> = {
    'keys.json': keysOut,
    'primitives.json': primitivesOut,
    'envelopes.json': envelopesOut,
    'packets.json': packetsOut,
    'retrieval.json': retrievalOut,
    'descriptors.json': descriptorsOut,
    'signed_messages.json': signedOut,
    'backup.json': backupOut,
  };
  let total = 0;
  for (const [name, data] of Object.entries(files)) {
    const text = JSON.stringify(data, (_k, v) => (v === undefined ? undefined : v), 1) + '\n';
    writeFileSync(join(here, name), text);
    total += text.length;
    console.log(`${name}: ${(text.length / 1024).toFixed(1)} KiB`);
  }
  console.log(`total ${(total / 1024).toFixed(1)} KiB`);
}

await main();
