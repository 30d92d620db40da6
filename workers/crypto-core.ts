import {
  type ClientMessagePacket,
  type CryptoEngine,
  type MessagePlaintext,
  type PrivateKeyHandle,
  type PublicKeyHandle,
  type RetrievalPacket,
  type SealInput,
  type ForwardRequest,
  ProtocolError,
  openForwardResponse,
  sealForwardRequest,
  backupToText,
  decryptBackup,
  encodePublicKey,
  encodeRetrievalHeader,
  encryptBackup,
  fingerprint,
  fromPem,
  importPublicKey,
  isProtocolError,
  openPacket,
  packetId,
  parseBackup,
  safetyCode,
  sealPacket,
  signRetrieval,
  toBase64,
  toPem,
  verifyDescriptor,
  type RelayDescriptor,
} from '../protocol/index.ts';
import type { WebPrivateKey } from '../protocol/crypto/webcrypto.ts';
import { type KeyStore, type StoredIdentity, parseStoredIdentity } from './key-store.ts';

export type KeygenStage = 'generating' | 'protecting' | 'saving' | 'done';

export interface IdentityInfo {
  publicKey: string;
  fingerprint: string;
  safetyCode: string;
  engine: string;
  /** Suggested display name carried by an imported backup. */
  name?: string;
}

export type OpenResult =
  | { ok: true; message: MessagePlaintext & { id: string } }
  | { ok: false; code: string; message: string };

export type DescriptorResult = { ok: true; descriptor: RelayDescriptor } | { ok: false; code: string; message: string };

interface Loaded {
  privateKey: PrivateKeyHandle;
  publicKey: PublicKeyHandle;
  info: IdentityInfo;
  stored: StoredIdentity;
}

type Buf = Uint8Array<ArrayBuffer>;
const b = (u: Uint8Array): Buf => u as Buf;
const MAX_PUBKEY_CACHE = 256;
/** Throwaway key pairs for cover traffic; generated once per worker, never stored. */
const COVER_POOL = 3;
const MAX_PENDING_FORWARDS = 64;

/**
 * Everything the crypto worker does, as plain code: it takes an engine and a
 * key store so it runs (and is tested) in Node as well as in the worker.
 * Private keys never leave this object unencrypted.
 */
export class CryptoCore {
  readonly #engine: CryptoEngine;
  readonly #store: KeyStore;
  #me: Loaded | undefined;
  #loading: Promise<Loaded | undefined> | undefined;
  readonly #pubCache = new Map<string, PublicKeyHandle>();
  #dropped = 0;
  #coverKeys: Promise<{ privateKey: PrivateKeyHandle; publicKey: PublicKeyHandle }[]> | undefined;
  /** Reply keys of forwards in flight, by an opaque token: they never leave the worker. */
  readonly #replyKeys = new Map<string, Uint8Array>();

  constructor(engine: CryptoEngine, store: KeyStore) {
    this.#engine = engine;
    this.#store = store;
  }

  get engineName(): string {
    return this.#engine.name;
  }

  /** The current identity (public parts only), or null when none is stored. */
  async identity(): Promise<IdentityInfo | null> {
    return (await this.#load())?.info ?? null;
  }

  async generate(onProgress?: (stage: KeygenStage) => void): Promise<IdentityInfo> {
    onProgress?.('generating');
    const pair = await this.#engine.generateKeyPair(true);
    onProgress?.('protecting');
    const pkcs8 = await this.#engine.exportPkcs8(pair.privateKey);
    try {
      const info = await this.#install(pkcs8, () => onProgress?.('saving'));
      onProgress?.('done');
      return info;
    } finally {
      pkcs8.fill(0);
    }
  }

  async importPem(pem: string): Promise<IdentityInfo> {
    const der = fromPem(pem, 'PRIVATE KEY');
    try {
      return await this.#install(der);
    } finally {
      der.fill(0);
    }
  }

  async importBackup(text: string, passphrase: string): Promise<IdentityInfo> {
    const file = parseBackup(text);
    const der = await decryptBackup(this.#engine, file, passphrase);
    try {
      const info = await this.#install(der);
      return file.name ? { ...info, name: file.name } : info;
    } finally {
      der.fill(0);
    }
  }

  /** A passphrase-protected backup file (JSON text) of the current identity. */
  async exportBackup(passphrase: string, opts: { name?: string; iterations?: number } = {}): Promise<string> {
    const me = await this.#require();
    const der = await this.#pkcs8(me.stored);
    try {
      const o: { name?: string; iterations?: number } = {};
      if (opts.name) o.name = opts.name.slice(0, 64);
      if (opts.iterations !== undefined) o.iterations = opts.iterations;
      return backupToText(await encryptBackup(this.#engine, der, passphrase, o));
    } finally {
      der.fill(0);
    }
  }

  /** PEM of the public key, for users who want to share it outside an invite. */
  async publicKeyPem(): Promise<string> {
    return toPem((await this.#require()).publicKey.spki, 'PUBLIC KEY');
  }

  async forget(): Promise<void> {
    await this.#store.clear();
    this.#me = undefined;
    this.#loading = undefined;
  }

  async seal(recipient: string, input: SealInput): Promise<{ packet: ClientMessagePacket; id: string; plaintext: MessagePlaintext }> {
    const me = await this.#require();
    const to = await this.#publicKey(recipient);
    const { packet, plaintext } = await sealPacket(this.#engine, me, to, input);
    return { packet, plaintext, id: await packetId(packet, (d) => this.#engine.sha256(d)) };
  }

  /**
   * Opens a packet addressed to us. Failures are counted and returned, never
   * thrown: a packet that does not verify is dropped by the caller.
   */
  async open(packet: unknown): Promise<OpenResult> {
    const me = await this.#require();
    try {
      return { ok: true, message: await openPacket(this.#engine, me, packet) };
    } catch (e) {
      this.#dropped++;
      if (isProtocolError(e)) return { ok: false, code: e.code, message: e.message };
      return { ok: false, code: 'decrypt_failed', message: e instanceof Error ? e.message : String(e) };
    }
  }

  /** Packets dropped since the worker started (the app persists its own total). */
  droppedCount(): number {
    return this.#dropped;
  }

  async signRetrieval(relayId: string, opts: { after?: string; now?: number } = {}): Promise<{ packet: RetrievalPacket; header: string }> {
    const me = await this.#require();
    const packet = await signRetrieval(this.#engine, me, relayId, opts);
    return { packet, header: encodeRetrievalHeader(packet) };
  }

  async fingerprint(publicKey: string): Promise<{ fingerprint: string; safetyCode: string }> {
    const fp = await fingerprint(this.#engine, publicKey);
    return { fingerprint: fp, safetyCode: safetyCode(fp) };
  }

  async verifyDescriptors(list: unknown[], now: number): Promise<DescriptorResult[]> {
    const out: DescriptorResult[] = [];
    for (const [i, d] of list.slice(0, 256).entries()) {
      try {
        out.push({ ok: true, descriptor: await verifyDescriptor(this.#engine, d, now, `servers[${i}]`) });
      } catch (e) {
        if (!isProtocolError(e)) throw e;
        out.push({ ok: false, code: e.code, message: e.message });
      }
    }
    return out;
  }

  // ------------------------------------------------------------ cover traffic

  /**
   * A fake packet for cover traffic: sealed from one throwaway key to another,
   * `kind:'cover'`, padded to `bucket` (one a real message of ours used), so
   * on the wire it has the shape, size and headers of a real send.
   */
  async sealCover(bucket: number): Promise<{ packet: ClientMessagePacket }> {
    const pool = await this.#coverPool();
    const from = pool[Math.floor(Math.random() * pool.length)]!;
    const to = pool[Math.floor(Math.random() * pool.length)]!;
    // Plaintext JSON without content is ~560 bytes; fill so it lands in `bucket`.
    const room = Math.max(0, bucket - 700);
    const lower = bucket > 1024 ? Math.floor(bucket / 2) - 500 : 0;
    const len = lower + Math.floor(Math.random() * Math.max(1, room - lower));
    const content = toBase64(this.#engine.randomBytes(Math.ceil((len * 3) / 4))).slice(0, len);
    const { packet } = await sealPacket(this.#engine, from, to.publicKey, { content, kind: 'cover' });
    return { packet };
  }

  /** A signed retrieval for a throwaway key: a fake GET that finds nothing. */
  async signCoverRetrieval(relayId: string, after?: string): Promise<{ header: string }> {
    const pool = await this.#coverPool();
    const k = pool[Math.floor(Math.random() * pool.length)]!;
    const packet = await signRetrieval(this.#engine, k, relayId, after === undefined ? {} : { after });
    return { header: encodeRetrievalHeader(packet) };
  }

  #coverPool(): Promise<{ privateKey: PrivateKeyHandle; publicKey: PublicKeyHandle }[]> {
    this.#coverKeys ??= (async () => {
      const out = [];
      for (let i = 0; i < COVER_POOL; i++) out.push(await this.#engine.generateKeyPair(false));
      return out;
    })();
    return this.#coverKeys;
  }

  // ------------------------------------------------------------ dual proxy

  /**
   * Seals a request to a destination relay for POST /v1/forward on a proxy.
   * The reply key stays here under `token`; openForward uses it once.
   */
  async sealForward(destination: { id: string; publicKey: string }, req: ForwardRequest): Promise<{ packet: { to: string; envelope: string }; token: string }> {
    const key = await this.#publicKey(destination.publicKey);
    const { packet, replyKey } = await sealForwardRequest(this.#engine, { id: destination.id, key }, req);
    const token = toBase64(this.#engine.randomBytes(12));
    if (this.#replyKeys.size >= MAX_PENDING_FORWARDS) {
      const oldest = this.#replyKeys.keys().next().value!;
      this.#replyKeys.get(oldest)?.fill(0);
      this.#replyKeys.delete(oldest);
    }
    this.#replyKeys.set(token, replyKey);
    return { packet, token };
  }

  /** Opens a destination's sealed answer; `undefined` body input just forgets the key (failed call). */
  async openForward(token: string, response?: unknown): Promise<{ status: number; body: unknown }> {
    const key = this.#replyKeys.get(token);
    this.#replyKeys.delete(token);
    if (!key) throw new ProtocolError('missing_field', 'no forward in flight with that token');
    try {
      if (response === undefined) return { status: 0, body: undefined };
      return await openForwardResponse(this.#engine, key, response);
    } finally {
      key.fill(0);
    }
  }

  // ------------------------------------------------------------ internals

  async #require(): Promise<Loaded> {
    const me = await this.#load();
    if (!me) throw new ProtocolError('missing_field', 'no identity yet: create or import one first');
    return me;
  }

  #load(): Promise<Loaded | undefined> {
    if (this.#me) return Promise.resolve(this.#me);
    this.#loading ??= (async () => {
      const rec = parseStoredIdentity(await this.#store.load());
      if (!rec) return undefined;
      const me = await this.#handles(rec);
      this.#me = me;
      return me;
    })().finally(() => {
      this.#loading = undefined;
    });
    return this.#loading;
  }

  async #handles(rec: StoredIdentity): Promise<Loaded> {
    const publicKey = await this.#engine.importSpki(rec.spki);
    let privateKey: PrivateKeyHandle;
    if (rec.engine === 'webcrypto') {
      if (this.#engine.name !== 'webcrypto') throw new ProtocolError('unsupported', 'stored identity needs WebCrypto');
      const k: WebPrivateKey = { engine: 'webcrypto', decrypt: rec.decrypt, sign: rec.sign };
      privateKey = k;
    } else {
      privateKey = (await this.#engine.importPkcs8(rec.pkcs8, false)).privateKey;
    }
    const fp = await fingerprint(this.#engine, rec.spki);
    const info: IdentityInfo = { publicKey: encodePublicKey(rec.spki), fingerprint: fp, safetyCode: safetyCode(fp), engine: this.#engine.name };
    return { privateKey, publicKey, info, stored: rec };
  }

  /** Stores a PKCS#8 as non-extractable keys plus a wrapped copy, and makes it current. */
  async #install(pkcs8: Uint8Array, beforeSave?: () => void): Promise<IdentityInfo> {
    const { publicKey } = await this.#engine.importPkcs8(pkcs8, false);
    let rec: StoredIdentity;
    const subtle = globalThis.crypto?.subtle;
    if (this.#engine.name === 'webcrypto' && subtle) {
      const priv = (await this.#engine.importPkcs8(pkcs8, false)).privateKey as WebPrivateKey;
      const wrapKey = await subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
      const iv = this.#engine.randomBytes(12);
      const wrapped = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv: b(iv) }, wrapKey, b(pkcs8)));
      rec = { v: 1, engine: 'webcrypto', spki: publicKey.spki, decrypt: priv.decrypt, sign: priv.sign, wrapKey, iv, wrappedPkcs8: wrapped, createdAt: Date.now() };
    } else {
      rec = { v: 1, engine: 'forge', spki: publicKey.spki, pkcs8: pkcs8.slice(), createdAt: Date.now() };
    }
    beforeSave?.();
    await this.#store.save(rec);
    this.#me = await this.#handles(rec);
    return this.#me.info;
  }

  async #pkcs8(rec: StoredIdentity): Promise<Uint8Array> {
    if (rec.engine === 'forge') return rec.pkcs8.slice();
    const subtle = globalThis.crypto.subtle;
    return new Uint8Array(await subtle.decrypt({ name: 'AES-GCM', iv: b(rec.iv) }, rec.wrapKey, b(rec.wrappedPkcs8)));
  }

  async #publicKey(wire: string): Promise<PublicKeyHandle> {
    const hit = this.#pubCache.get(wire);
    if (hit) return hit;
    const k = await importPublicKey(this.#engine, wire, 'recipient');
    if (this.#pubCache.size >= MAX_PUBKEY_CACHE) this.#pubCache.delete(this.#pubCache.keys().next().value!);
    this.#pubCache.set(wire, k);
    return k;
  }
}
