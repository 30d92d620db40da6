/**
 * The primitives the protocol needs, behind one interface so the same
 * envelope code runs on WebCrypto (the engine everywhere crypto.subtle
 * exists) and on node-forge (the fallback for insecure contexts, and the
 * independent cross-check in tests). Keys are opaque handles per engine.
 */
export interface PrivateKeyHandle {
  readonly engine: string;
}
export interface PublicKeyHandle {
  readonly engine: string;
  /** Canonical DER SPKI of the key. */
  readonly spki: Uint8Array;
}

export interface CryptoEngine {
  readonly name: 'webcrypto' | 'forge';
  randomBytes(n: number): Uint8Array;
  sha256(data: Uint8Array): Promise<Uint8Array>;
  /** RSA-2048, e=65537. `extractable` governs whether exportPkcs8 may be used later. */
  generateKeyPair(extractable: boolean): Promise<{ privateKey: PrivateKeyHandle; publicKey: PublicKeyHandle }>;
  importPkcs8(der: Uint8Array, extractable: boolean): Promise<{ privateKey: PrivateKeyHandle; publicKey: PublicKeyHandle }>;
  exportPkcs8(key: PrivateKeyHandle): Promise<Uint8Array>;
  importSpki(der: Uint8Array): Promise<PublicKeyHandle>;
  /** RSA-OAEP, SHA-256, MGF1-SHA-256, empty label. */
  oaepEncrypt(key: PublicKeyHandle, data: Uint8Array): Promise<Uint8Array>;
  oaepDecrypt(key: PrivateKeyHandle, data: Uint8Array): Promise<Uint8Array>;
  /** RSA-PSS, SHA-256, MGF1-SHA-256, salt length 32. */
  pssSign(key: PrivateKeyHandle, data: Uint8Array): Promise<Uint8Array>;
  pssVerify(key: PublicKeyHandle, signature: Uint8Array, data: Uint8Array): Promise<boolean>;
  /** AES-256-GCM, 12-byte IV, 16-byte tag appended, no additional data. */
  aesGcmEncrypt(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array>;
  /** Throws (any error) when the tag does not verify. */
  aesGcmDecrypt(key: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array): Promise<Uint8Array>;
  /** PBKDF2-HMAC-SHA-256 → 32 bytes. */
  pbkdf2(passphrase: Uint8Array, salt: Uint8Array, iterations: number): Promise<Uint8Array>;
}
