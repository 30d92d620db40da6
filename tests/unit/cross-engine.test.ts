import { beforeAll, describe, expect, it } from 'vitest';
import {
  decryptBackup,
  encryptBackup,
  fromBase64,
  openPacket,
  parseRetrievalHeader,
  encodeRetrievalHeader,
  sealPacket,
  signDescriptor,
  signMessage,
  signRetrieval,
  verifyDescriptor,
  verifyRetrieval,
  verifySignedMessage,
  type CryptoEngine,
  type PrivateKeyHandle,
  type PublicKeyHandle,
} from '../../protocol/index.ts';
import { forgeEngine } from '../../protocol/crypto/forge.ts';
import { webCryptoEngine } from '../../protocol/crypto/webcrypto.ts';
import { loadVectors } from './vectors.ts';

type Pair = { privateKey: PrivateKeyHandle; publicKey: PublicKeyHandle };
const keys = loadVectors().keys.keys as Record<string, { pkcs8: string; spki: string; fingerprint: string }>;
const engines = { webcrypto: webCryptoEngine, forge: forgeEngine } as const;
const pairs = {} as Record<'webcrypto' | 'forge', Record<string, Pair>>;

beforeAll(async () => {
  for (const [n, e] of Object.entries(engines)) {
    pairs[n as 'webcrypto'] = {};
    for (const who of ['alice', 'bob', 'relay']) pairs[n as 'webcrypto'][who] = await e.importPkcs8(fromBase64(keys[who]!.pkcs8), true);
  }
});

const directions: [keyof typeof engines, keyof typeof engines][] = [
  ['forge', 'webcrypto'],
  ['webcrypto', 'forge'],
];

describe.each(directions)('%s seals or signs, %s opens or verifies', (from, to) => {
  const A = (): CryptoEngine => engines[from];
  const B = (): CryptoEngine => engines[to];

  it.each([
    ['1 KiB bucket', 'hello'],
    ['2 KiB bucket, non-ASCII', 'Grüße 👋 '.repeat(100)],
    ['64 KiB bucket', 'q'.repeat(60000)],
  ])('packet: %s', async (_label, content) => {
    const bobPublic = await A().importSpki(pairs[from].bob!.publicKey.spki);
    const { packet, plaintext } = await sealPacket(A(), pairs[from].alice!, bobPublic, { content, kind: 'text', extra: { thread: 't1' } });
    const opened = await openPacket(B(), pairs[to].bob!, JSON.parse(JSON.stringify(packet)), { expectedSender: keys.alice!.spki });
    expect(opened.content).toBe(content);
    expect(opened.uuid).toBe(plaintext.uuid);
    expect(opened.extra).toEqual({ thread: 't1' });
    expect(opened.id).toMatch(/^[0-9a-f]{64}$/);
  });

  it('retrieval signature (through the X-Retrieval header)', async () => {
    const now = Date.now();
    const relayId = keys.relay!.fingerprint;
    const p = await signRetrieval(A(), pairs[from].alice!, relayId, { now });
    await expect(verifyRetrieval(B(), parseRetrievalHeader(encodeRetrievalHeader(p)), relayId, now + 1000)).resolves.toBeUndefined();
    // The same packet presented to another relay must fail on the verifier's side too.
    await expect(verifyRetrieval(B(), parseRetrievalHeader(encodeRetrievalHeader(p)), keys.alice!.fingerprint, now)).rejects.toMatchObject({ code: 'wrong_relay' });
  });

  it('relay descriptor', async () => {
    const now = Date.now();
    const d = await signDescriptor(A(), pairs[from].relay!, 'https://relay.example.org', now);
    expect(d.id).toBe(keys.relay!.fingerprint);
    await expect(verifyDescriptor(B(), d, now)).resolves.toEqual(d);
    await expect(verifyDescriptor(B(), { ...d, url: 'https://relay.example.com' }, now)).rejects.toMatchObject({ code: 'bad_signature' });
  });

  it('signed_message', async () => {
    const now = Date.now();
    const m = await signMessage(A(), pairs[from].relay!, '{"kind":"hello"}', now);
    await expect(verifySignedMessage(B(), m, now)).resolves.toMatchObject({ signer: keys.relay!.fingerprint });
  });

  it('backup file', { timeout: 60_000 }, async () => {
    const pkcs8 = fromBase64(keys.bob!.pkcs8);
    const file = await encryptBackup(A(), pkcs8, 'a long enough passphrase', { name: 'bob' });
    expect(await decryptBackup(B(), JSON.parse(JSON.stringify(file)), 'a long enough passphrase')).toEqual(pkcs8);
  });
});

describe('keys made by one engine work in the other', () => {
  it('forge keygen: canonical SPKI, WebCrypto seals to it and imports its PKCS#8', { timeout: 60_000 }, async () => {
    const g = await forgeEngine.generateKeyPair(true);
    expect(g.publicKey.spki.length).toBe(294);
    const pkcs8 = await forgeEngine.exportPkcs8(g.privateKey);
    const w = await webCryptoEngine.importPkcs8(pkcs8, false);
    expect(w.publicKey.spki).toEqual(g.publicKey.spki);
    const { packet } = await sealPacket(webCryptoEngine, pairs.webcrypto.alice!, w.publicKey, { content: 'to a forge key' });
    expect((await openPacket(forgeEngine, g, packet)).content).toBe('to a forge key');
  });

  it('WebCrypto keygen: forge imports the PKCS#8 and reproduces the SPKI', async () => {
    const g = await webCryptoEngine.generateKeyPair(true);
    const f = await forgeEngine.importPkcs8(await webCryptoEngine.exportPkcs8(g.privateKey), true);
    expect(f.publicKey.spki).toEqual(g.publicKey.spki);
    expect(await forgeEngine.exportPkcs8(f.privateKey)).toEqual(await webCryptoEngine.exportPkcs8(g.privateKey));
  });

  it.each(Object.values(engines))('$name refuses to export a non-extractable key with a ProtocolError', async (e) => {
    const k = await e.importPkcs8(fromBase64(keys.alice!.pkcs8), false);
    await expect(e.exportPkcs8(k.privateKey)).rejects.toMatchObject({ name: 'ProtocolError', code: 'unsupported' });
  });

  it('a key handle from one engine is refused by the other with a ProtocolError', async () => {
    await expect(forgeEngine.pssSign(pairs.webcrypto.alice!.privateKey, new Uint8Array(1))).rejects.toMatchObject({ code: 'unsupported' });
    await expect(webCryptoEngine.oaepEncrypt(pairs.forge.alice!.publicKey, new Uint8Array(1))).rejects.toMatchObject({ code: 'unsupported' });
  });
});
