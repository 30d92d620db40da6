import forge from 'node-forge';
import type { CryptoEngine, PrivateKeyHandle, PublicKeyHandle } from './engine.ts';
import { fromHex, toHex } from '../bytes.ts';
import { ProtocolError } from '../errors.ts';
import { checkSpki, spkiFromModulus, spkiModulus } from '../keys.ts';
import { AES_KEY_BYTES, IV_BYTES, PSS_SALT_BYTES, RSA_BITS, RSA_EXPONENT, TAG_BYTES } from '../limits.ts';

/**
 * node-forge engine: pure JavaScript, for contexts without crypto.subtle (a
 * page on plain http from a LAN address) and as the independent second
 * implementation the tests hold WebCrypto against. It must never delegate to
 * WebCrypto or Node's OpenSSL behind our back, or the cross-check proves
 * nothing: forge does that for keygen unless given its own prng, so every
 * randomized call here gets its randomness passed in explicitly.
 */
export interface ForgePrivateKey extends PrivateKeyHandle {
  readonly engine: 'forge';
  readonly key: forge.pki.rsa.PrivateKey;
  readonly extractable: boolean;
}
export interface ForgePublicKey extends PublicKeyHandle {
  readonly engine: 'forge';
  readonly key: forge.pki.rsa.PublicKey;
}

/** Typed view of the stepwise keygen API that @types/node-forge leaves out. */
interface KeygenState {
  keys: { privateKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey } | null;
}
const rsaSteps = forge.pki.rsa as unknown as {
  createKeyPairGenerationState(bits: number, e: number, options: { prng: Prng }): KeygenState;
  stepKeyPairGenerationState(state: KeygenState, ms: number): boolean;
};
interface Prng {
  getBytesSync(n: number): string;
}

const toBin = (u: Uint8Array): string => forge.util.binary.raw.encode(u);
const fromBin = (s: string): Uint8Array => forge.util.binary.raw.decode(s);
const sha256 = (): forge.md.MessageDigest => forge.md.sha256.create();

function randomBytes(n: number): Uint8Array {
  const c = globalThis.crypto;
  if (c?.getRandomValues) {
    const out = new Uint8Array(n);
    // getRandomValues caps at 65536 bytes per call.
    for (let i = 0; i < n; i += 65536) c.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
    return out;
  }
  return fromBin(forge.random.getBytesSync(n));
}
const prng: Prng = { getBytesSync: (n) => toBin(randomBytes(n)) };

function asForge<T extends PrivateKeyHandle | PublicKeyHandle>(k: T): T {
  if (k.engine !== 'forge') throw new ProtocolError('unsupported', `key belongs to engine ${k.engine}`);
  return k;
}

const bigToBytes = (n: forge.jsbn.BigInteger, len: number): Uint8Array => fromHex(n.toString(16).padStart(2 * len, '0'));
const bytesToBig = (b: Uint8Array): forge.jsbn.BigInteger => new forge.jsbn.BigInteger(toHex(b), 16);

/** Refuses anything that is not a 2048-bit, e=65537 key, with the same codes the SPKI check uses. */
function checkRsaNumbers(n: forge.jsbn.BigInteger, e: forge.jsbn.BigInteger): void {
  if (n.bitLength() !== RSA_BITS) throw new ProtocolError('key_size', `private key: modulus is ${n.bitLength()} bits, need ${RSA_BITS}`, 'key');
  if (e.toString(10) !== String(RSA_EXPONENT)) throw new ProtocolError('key_exponent', `private key: exponent must be ${RSA_EXPONENT}`, 'key');
}

function pairFromPrivate(
  key: forge.pki.rsa.PrivateKey,
  extractable: boolean,
): { privateKey: ForgePrivateKey; publicKey: ForgePublicKey } {
  checkRsaNumbers(key.n, key.e);
  const spki = spkiFromModulus(bigToBytes(key.n, RSA_BITS / 8));
  return {
    privateKey: { engine: 'forge', key, extractable },
    publicKey: { engine: 'forge', spki, key: forge.pki.setRsaPublicKey(key.n, key.e) },
  };
}

const RSA_ENCRYPTION_OID = forge.pki.oids.rsaEncryption!;
const { Class, Type } = forge.asn1;

/**
 * forge's privateKeyFromAsn1 also takes bare PKCS#1; WebCrypto takes only
 * PKCS#8. Checking the PrivateKeyInfo wrapper here keeps both engines
 * accepting exactly the same inputs.
 */
function parsePkcs8(der: Uint8Array): forge.pki.rsa.PrivateKey {
  let info: forge.asn1.Asn1;
  try {
    info = forge.asn1.fromDer(forge.util.createBuffer(toBin(der)), { strict: true, parseAllBytes: true, decodeBitStrings: false } as never);
  } catch {
    throw new ProtocolError('bad_key', 'private key: not DER');
  }
  const parts = info.value;
  const alg = Array.isArray(parts) ? parts[1] : undefined;
  const algParts = alg && Array.isArray(alg.value) ? alg.value : [];
  const oid = algParts[0];
  const shaped =
    info.tagClass === Class.UNIVERSAL &&
    info.type === Type.SEQUENCE &&
    Array.isArray(parts) &&
    parts.length >= 3 &&
    parts[0]!.type === Type.INTEGER &&
    parts[0]!.value === '\x00' &&
    alg!.type === Type.SEQUENCE &&
    oid !== undefined &&
    oid.type === Type.OID &&
    typeof oid.value === 'string' &&
    parts[2]!.type === Type.OCTETSTRING;
  if (!shaped) throw new ProtocolError('bad_key', 'private key: not a PKCS#8 PrivateKeyInfo');
  if (forge.asn1.derToOid(forge.util.createBuffer(oid.value as string)) !== RSA_ENCRYPTION_OID)
    throw new ProtocolError('key_not_rsa', 'private key: not an RSA key');
  let key: forge.pki.rsa.PrivateKey;
  try {
    key = forge.pki.privateKeyFromAsn1(info);
  } catch {
    throw new ProtocolError('bad_key', 'private key: not a PKCS#8 RSA key');
  }
  // A PKCS#8 whose factors do not multiply to n would sign and decrypt garbage.
  if (!key.p.multiply(key.q).equals(key.n)) throw new ProtocolError('bad_key', 'private key: inconsistent factors');
  return key;
}

const oaepOptions = (): Record<string, unknown> => ({ md: sha256(), mgf1: { md: sha256() } });
const pss = (): forge.pss.PSS =>
  forge.pss.create({ md: sha256(), mgf: forge.mgf.mgf1.create(sha256()), saltLength: PSS_SALT_BYTES, prng });

function digest(data: Uint8Array): forge.md.MessageDigest {
  const md = sha256();
  md.update(toBin(data));
  return md;
}

function aesKey(key: Uint8Array): forge.util.ByteStringBuffer {
  if (key.length !== AES_KEY_BYTES) throw new ProtocolError('bad_type', 'AES key must be 32 bytes');
  return forge.util.createBuffer(toBin(key));
}
function checkIv(iv: Uint8Array): void {
  if (iv.length !== IV_BYTES) throw new ProtocolError('bad_type', 'AES-GCM IV must be 12 bytes');
}

/** Runs keygen in slices so a page using the fallback keeps painting. */
async function generate(): Promise<forge.pki.rsa.PrivateKey> {
  const state = rsaSteps.createKeyPairGenerationState(RSA_BITS, RSA_EXPONENT, { prng });
  while (!rsaSteps.stepKeyPairGenerationState(state, 50)) await new Promise((r) => setTimeout(r, 0));
  return state.keys!.privateKey;
}

export const forgeEngine: CryptoEngine = {
  name: 'forge',
  randomBytes,
  async sha256(data) {
    return fromBin(digest(data).digest().getBytes());
  },
  async generateKeyPair(extractable) {
    return pairFromPrivate(await generate(), extractable);
  },
  async importPkcs8(der, extractable) {
    return pairFromPrivate(parsePkcs8(der), extractable);
  },
  async exportPkcs8(key) {
    const k = asForge(key) as ForgePrivateKey;
    if (!k.extractable) throw new ProtocolError('unsupported', 'private key is not extractable');
    return fromBin(forge.asn1.toDer(forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(k.key))).getBytes());
  },
  async importSpki(der) {
    checkSpki(der);
    const n = bytesToBig(spkiModulus(der));
    const key = forge.pki.setRsaPublicKey(n, new forge.jsbn.BigInteger(String(RSA_EXPONENT), 10));
    return { engine: 'forge', spki: der.slice(), key } satisfies ForgePublicKey;
  },
  async oaepEncrypt(key, data) {
    const k = asForge(key) as ForgePublicKey;
    // Our own seed, so forge.random's seeding never matters for OAEP.
    const opts = { ...oaepOptions(), seed: toBin(randomBytes(32)) };
    return fromBin(k.key.encrypt(toBin(data), 'RSA-OAEP', opts));
  },
  async oaepDecrypt(key, data) {
    const k = asForge(key) as ForgePrivateKey;
    return fromBin(k.key.decrypt(toBin(data), 'RSA-OAEP', oaepOptions()));
  },
  async pssSign(key, data) {
    const k = asForge(key) as ForgePrivateKey;
    return fromBin(k.key.sign(digest(data), pss()));
  },
  async pssVerify(key, signature, data) {
    const k = asForge(key) as ForgePublicKey;
    // forge throws on malformed encodings where WebCrypto answers false; the interface promises a boolean.
    if (signature.length !== RSA_BITS / 8) return false;
    try {
      return k.key.verify(digest(data).digest().getBytes(), toBin(signature), pss());
    } catch {
      return false;
    }
  },
  async aesGcmEncrypt(key, iv, plaintext) {
    checkIv(iv);
    const c = forge.cipher.createCipher('AES-GCM', aesKey(key));
    c.start({ iv: toBin(iv), tagLength: TAG_BYTES * 8 });
    c.update(forge.util.createBuffer(toBin(plaintext)));
    c.finish();
    const out = new Uint8Array(plaintext.length + TAG_BYTES);
    out.set(fromBin(c.output.getBytes()), 0);
    out.set(fromBin(c.mode.tag.getBytes()), plaintext.length);
    return out;
  },
  async aesGcmDecrypt(key, iv, ciphertext) {
    checkIv(iv);
    if (ciphertext.length < TAG_BYTES) throw new ProtocolError('decrypt_failed', 'AES-GCM ciphertext shorter than its tag');
    const body = ciphertext.subarray(0, ciphertext.length - TAG_BYTES);
    const tag = ciphertext.subarray(ciphertext.length - TAG_BYTES);
    const d = forge.cipher.createDecipher('AES-GCM', aesKey(key));
    d.start({ iv: toBin(iv), tag: forge.util.createBuffer(toBin(tag)), tagLength: TAG_BYTES * 8 });
    d.update(forge.util.createBuffer(toBin(body)));
    if (!d.finish()) throw new ProtocolError('decrypt_failed', 'AES-GCM tag does not verify');
    return fromBin(d.output.getBytes());
  },
  async pbkdf2(passphrase, salt, iterations) {
    // An md object (not a name) keeps forge off Node's native pbkdf2.
    return fromBin(forge.pkcs5.pbkdf2(toBin(passphrase), toBin(salt), iterations, 32, sha256()));
  },
};
