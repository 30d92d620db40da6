import { describe, expect, it } from 'vitest';
import { webCryptoEngine } from '../../protocol/crypto/webcrypto.ts';
import { openPacket, sealPacket, fromPem, parseRetrievalHeader, verifyRetrieval, signDescriptor, toPem } from '../../protocol/index.ts';
import { CryptoCore } from '../../workers/crypto-core.ts';
import { MemoryKeyStore, parseStoredIdentity } from '../../workers/key-store.ts';
import { fromWireError, toWireError } from '../../workers/comlink-errors.ts';
import { ProtocolError } from '../../protocol/errors.ts';

const engine = webCryptoEngine;

describe('crypto core (the worker logic, in Node)', () => {
  it('generates an identity with progress stages and keeps only non-extractable keys', async () => {
    const store = new MemoryKeyStore();
    const core = new CryptoCore(engine, store);
    expect(await core.identity()).toBeNull();
    const stages: string[] = [];
    const id = await core.generate((s) => stages.push(s));
    expect(stages).toEqual(['generating', 'protecting', 'saving', 'done']);
    expect(id.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    const rec = parseStoredIdentity(await store.load());
    expect(rec?.engine).toBe('webcrypto');
    if (rec?.engine !== 'webcrypto') throw new Error('unreachable');
    expect(rec.decrypt.extractable).toBe(false);
    expect(rec.sign.extractable).toBe(false);
    expect(rec.wrapKey.extractable).toBe(false);
    // A fresh core (a worker restart) reloads the same identity from the store.
    const again = new CryptoCore(engine, store);
    expect((await again.identity())?.publicKey).toBe(id.publicKey);
  });

  it('seals to a peer, who opens and verifies it; failures are counted, not thrown', async () => {
    const alice = new CryptoCore(engine, new MemoryKeyStore());
    const bob = new CryptoCore(engine, new MemoryKeyStore());
    const a = await alice.generate();
    const b = await bob.generate();
    const sealed = await alice.seal(b.publicKey, { content: '<img src=x onerror=alert(1)>' });
    const opened = await bob.open(sealed.packet);
    expect(opened.ok && opened.message.content).toBe('<img src=x onerror=alert(1)>');
    expect(opened.ok && opened.message.sender).toBe(a.publicKey);
    expect(opened.ok && opened.message.id).toBe(sealed.id);
    // Alice cannot open what she sealed to Bob; a tampered packet fails on Bob's side.
    expect(await alice.open(sealed.packet)).toMatchObject({ ok: false, code: 'wrong_recipient' });
    const m = sealed.packet.message;
    const tampered = { ...sealed.packet, message: m.slice(0, 400) + (m[400] === 'A' ? 'B' : 'A') + m.slice(401) };
    expect(await bob.open(tampered)).toMatchObject({ ok: false });
    expect(await bob.open({ junk: true })).toMatchObject({ ok: false, code: 'unknown_field' });
    expect(bob.droppedCount()).toBe(2);
  });

  it('refuses a packet whose signature is by someone other than the claimed sender', async () => {
    const [alice, bob, mallory] = [new CryptoCore(engine, new MemoryKeyStore()), new CryptoCore(engine, new MemoryKeyStore()), await engine.generateKeyPair(false)];
    const a = await alice.generate();
    const b = await bob.generate();
    // Mallory claims to be Alice: sender field = Alice's key, signature by Mallory.
    const { packet } = await sealPacket(engine, { privateKey: mallory.privateKey, publicKey: await engine.importSpki(fromPem(toPem(new Uint8Array(Buffer.from(a.publicKey, 'base64')), 'PUBLIC KEY'), 'PUBLIC KEY')) }, await engine.importSpki(new Uint8Array(Buffer.from(b.publicKey, 'base64'))), { content: 'hi' });
    expect(await bob.open(packet)).toMatchObject({ ok: false, code: 'bad_signature' });
  });

  it('signs retrieval packets a relay accepts', async () => {
    const core = new CryptoCore(engine, new MemoryKeyStore());
    await core.generate();
    const relayId = 'ab'.repeat(32);
    const { header } = await core.signRetrieval(relayId, { after: 'c5' });
    const p = parseRetrievalHeader(header);
    expect(p.after).toBe('c5');
    await expect(verifyRetrieval(engine, p, relayId, Date.now())).resolves.toBeUndefined();
  });

  it('exports a passphrase backup and imports it (and PEM) into another core', async () => {
    const src = new CryptoCore(engine, new MemoryKeyStore());
    const id = await src.generate();
    const text = await src.exportBackup('correct horse battery', { name: 'Ann', iterations: 600_000 });
    expect(text).not.toContain('PRIVATE');
    const dst = new CryptoCore(engine, new MemoryKeyStore());
    await expect(dst.importBackup(text, 'wrong passphrase')).rejects.toMatchObject({ name: 'ProtocolError', code: 'decrypt_failed' });
    const got = await dst.importBackup(text, 'correct horse battery');
    expect(got).toMatchObject({ publicKey: id.publicKey, name: 'Ann' });
    // The imported identity works: it opens what is sealed to it.
    const peer = new CryptoCore(engine, new MemoryKeyStore());
    await peer.generate();
    const sealed = await peer.seal(id.publicKey, { content: 'after import' });
    expect((await dst.open(sealed.packet)).ok).toBe(true);

    const pair = await engine.generateKeyPair(true);
    const pem = toPem(await engine.exportPkcs8(pair.privateKey), 'PRIVATE KEY');
    const viaPem = await new CryptoCore(engine, new MemoryKeyStore()).importPem(pem);
    expect(viaPem.publicKey).toBe(Buffer.from(pair.publicKey.spki).toString('base64'));
    await expect(new CryptoCore(engine, new MemoryKeyStore()).importPem('-----BEGIN RSA PRIVATE KEY-----\nAA==\n-----END RSA PRIVATE KEY-----')).rejects.toMatchObject({ code: 'bad_key' });
  }, 60_000);

  it('verifies relay descriptors one by one', async () => {
    const core = new CryptoCore(engine, new MemoryKeyStore());
    const relay = await engine.generateKeyPair(false);
    const good = await signDescriptor(engine, relay, 'http://127.0.0.1:9000');
    const forged = { ...good, url: 'http://evil.example' };
    const res = await core.verifyDescriptors([good, forged, { nope: 1 }], Date.now());
    expect(res.map((r) => r.ok)).toEqual([true, false, false]);
    expect(res[1]).toMatchObject({ ok: false, code: 'bad_signature' });
  });

  it('needs an identity for private-key work', async () => {
    const core = new CryptoCore(engine, new MemoryKeyStore());
    await expect(core.signRetrieval('ab'.repeat(32))).rejects.toMatchObject({ name: 'ProtocolError' });
    void openPacket;
  });
});

describe('errors across the worker boundary', () => {
  it('keeps name, code and field through structured cloning', () => {
    const wire = structuredClone(toWireError(new ProtocolError('bad_key', 'nope', 'key')));
    const err = fromWireError(wire);
    expect(err).toMatchObject({ name: 'ProtocolError', code: 'bad_key', message: 'nope', field: 'key' });
    expect(toWireError('plain')).toEqual({ name: 'Error', code: 'internal', message: 'plain' });
  });
});

describe('crypto core on the node-forge engine (no crypto.subtle: plain-http LAN pages)', () => {
  it('imports a PEM, stores it as a forge record, and opens what WebCrypto sealed to it', async () => {
    const { forgeEngine } = await import('../../protocol/crypto/forge.ts');
    const pair = await engine.generateKeyPair(true);
    const pem = toPem(await engine.exportPkcs8(pair.privateKey), 'PRIVATE KEY');
    const store = new MemoryKeyStore();
    const forgeCore = new CryptoCore(forgeEngine, store);
    const id = await forgeCore.importPem(pem);
    expect(parseStoredIdentity(await store.load())?.engine).toBe('forge');
    const web = new CryptoCore(engine, new MemoryKeyStore());
    const sender = await web.generate();
    const sealed = await web.seal(id.publicKey, { content: 'hello forge', uuid: '123e4567-e89b-42d3-a456-426614174000', timestamp: '2024-06-15T12:34:56.789Z' });
    const opened = await forgeCore.open(sealed.packet);
    expect(opened.ok && opened.message.content).toBe('hello forge');
    expect(opened.ok && opened.message.sender).toBe(sender.publicKey);
    // And back: forge seals, WebCrypto opens.
    const back = await forgeCore.seal(sender.publicKey, { content: 'and back', uuid: '123e4567-e89b-42d3-a456-426614174001', timestamp: '2024-06-15T12:34:56.789Z' });
    expect(await web.open(back.packet)).toMatchObject({ ok: true, message: { content: 'and back' } });
  }, 60_000);
});
