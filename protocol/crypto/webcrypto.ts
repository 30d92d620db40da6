import type { CryptoEngine, PrivateKeyHandle, PublicKeyHandle } from './engine.ts';
import { ProtocolError } from '../errors.ts';
import { checkPkcs8Algorithm, checkSpki } from '../keys.ts';
import { PSS_SALT_BYTES } from '../limits.ts';

/** WebCrypto wants an RSA CryptoKey per algorithm, so a private key carries two. */
export interface WebPrivateKey extends PrivateKeyHandle {
  readonly engine: 'webcrypto';
  readonly decrypt: CryptoKey;
  readonly sign: CryptoKey;
}
/**
 * A public key imports its CryptoKey for each algorithm on first use: opening
 * a message only verifies with the sender's key and sealing only encrypts to
 * the recipient's, so each pays one import (~0.4 ms in Node) instead of two.
 */
export interface WebPublicKey extends PublicKeyHandle {
  readonly engine: 'webcrypto';
  encrypt?: Promise<CryptoKey>;
  verify?: Promise<CryptoKey>;
}

const OAEP = { name: 'RSA-OAEP', hash: 'SHA-256' } as const;
const PSS = { name: 'RSA-PSS', hash: 'SHA-256' } as const;
const E65537 = new Uint8Array([1, 0, 1]);

// TS 5.9's DOM lib wants ArrayBuffer-backed views; our Uint8Arrays always are.
type Buf = Uint8Array<ArrayBuffer>;
const b = (u: Uint8Array): Buf => u as Buf;

function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new ProtocolError('unsupported', 'crypto.subtle is not available in this context');
  return s;
}

function asWeb<T extends PrivateKeyHandle | PublicKeyHandle>(k: T): T {
  if (k.engine !== 'webcrypto') throw new ProtocolError('unsupported', `key belongs to engine ${k.engine}`);
  return k;
}

async function publicFromSpki(spki: Uint8Array): Promise<WebPublicKey> {
  // WebCrypto happily imports 1024- or 4096-bit keys; the protocol does not.
  // Past checkSpki the key is a well-formed RSA-2048/65537 SPKI; anything WebCrypto
  // still refuses in it surfaces at first use, as the operation's error.
  checkSpki(spki);
  subtle();
  return { engine: 'webcrypto', spki: spki.slice() };
}

const encryptKey = (k: WebPublicKey): Promise<CryptoKey> => (k.encrypt ??= subtle().importKey('spki', b(k.spki), OAEP, true, ['encrypt']));
const verifyKey = (k: WebPublicKey): Promise<CryptoKey> => (k.verify ??= subtle().importKey('spki', b(k.spki), PSS, true, ['verify']));

async function privateFromPkcs8(pkcs8: Uint8Array, extractable: boolean): Promise<WebPrivateKey> {
  const s = subtle();
  const [decrypt, sign] = await Promise.all([
    s.importKey('pkcs8', b(pkcs8), OAEP, extractable, ['decrypt']),
    s.importKey('pkcs8', b(pkcs8), PSS, extractable, ['sign']),
  ]);
  return { engine: 'webcrypto', decrypt, sign };
}

/** SPKI of the public half of a PKCS#8 key, via a throwaway extractable import. */
async function spkiOfPkcs8(pkcs8: Uint8Array): Promise<Uint8Array> {
  const s = subtle();
  const k = await s.importKey('pkcs8', b(pkcs8), PSS, true, ['sign']);
  const jwk = await s.exportKey('jwk', k);
  const pub = await s.importKey('jwk', { kty: 'RSA', n: jwk.n!, e: jwk.e!, alg: 'PS256', ext: true }, PSS, true, ['verify']);
  return new Uint8Array(await s.exportKey('spki', pub));
}

export const webCryptoEngine: CryptoEngine = {
  name: 'webcrypto',
  randomBytes(n) {
    const out = new Uint8Array(n);
    // getRandomValues caps at 65536 bytes per call.
    for (let i = 0; i < n; i += 65536) globalThis.crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
    return out;
  },
  async sha256(data) {
    return new Uint8Array(await subtle().digest('SHA-256', b(data)));
  },
  async generateKeyPair(extractable) {
    const s = subtle();
    // Generate once (as OAEP, extractable just long enough to rebind to PSS), then import twice.
    const pair = await s.generateKey({ ...OAEP, modulusLength: 2048, publicExponent: E65537 }, true, ['encrypt', 'decrypt']);
    const pkcs8 = new Uint8Array(await s.exportKey('pkcs8', pair.privateKey));
    const spki = new Uint8Array(await s.exportKey('spki', pair.publicKey));
    const [privateKey, publicKey] = await Promise.all([privateFromPkcs8(pkcs8, extractable), publicFromSpki(spki)]);
    pkcs8.fill(0);
    return { privateKey, publicKey };
  },
  async importPkcs8(der, extractable) {
    checkPkcs8Algorithm(der);
    let spki: Uint8Array;
    try {
      spki = await spkiOfPkcs8(der);
    } catch {
      throw new ProtocolError('bad_key', 'private key: not a PKCS#8 RSA key');
    }
    // Size and exponent before the real import, so a 4096-bit identity is refused with key_size.
    const publicKey = await publicFromSpki(spki);
    let privateKey: WebPrivateKey;
    try {
      privateKey = await privateFromPkcs8(der, extractable);
    } catch {
      throw new ProtocolError('bad_key', 'private key: not a PKCS#8 RSA key');
    }
    return { privateKey, publicKey };
  },
  async exportPkcs8(key) {
    const k = asWeb(key) as WebPrivateKey;
    if (!k.sign.extractable) throw new ProtocolError('unsupported', 'private key is not extractable');
    return new Uint8Array(await subtle().exportKey('pkcs8', k.sign));
  },
  importSpki: publicFromSpki,
  async oaepEncrypt(key, data) {
    return new Uint8Array(await subtle().encrypt(OAEP, await encryptKey(asWeb(key) as WebPublicKey), b(data)));
  },
  async oaepDecrypt(key, data) {
    return new Uint8Array(await subtle().decrypt(OAEP, (asWeb(key) as WebPrivateKey).decrypt, b(data)));
  },
  async pssSign(key, data) {
    return new Uint8Array(
      await subtle().sign({ name: 'RSA-PSS', saltLength: PSS_SALT_BYTES }, (asWeb(key) as WebPrivateKey).sign, b(data)),
    );
  },
  async pssVerify(key, signature, data) {
    return subtle().verify({ name: 'RSA-PSS', saltLength: PSS_SALT_BYTES }, await verifyKey(asWeb(key) as WebPublicKey), b(signature), b(data));
  },
  async aesGcmEncrypt(key, iv, plaintext) {
    const k = await subtle().importKey('raw', b(key), 'AES-GCM', false, ['encrypt']);
    return new Uint8Array(await subtle().encrypt({ name: 'AES-GCM', iv: b(iv) }, k, b(plaintext)));
  },
  async aesGcmDecrypt(key, iv, ciphertext) {
    const k = await subtle().importKey('raw', b(key), 'AES-GCM', false, ['decrypt']);
    return new Uint8Array(await subtle().decrypt({ name: 'AES-GCM', iv: b(iv) }, k, b(ciphertext)));
  },
  async pbkdf2(passphrase, salt, iterations) {
    const k = await subtle().importKey('raw', b(passphrase), 'PBKDF2', false, ['deriveBits']);
    return new Uint8Array(await subtle().deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt: b(salt), iterations }, k, 256));
  },
};
