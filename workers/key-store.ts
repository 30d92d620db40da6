/**
 * Where the worker keeps the identity between sessions. The record holds
 * non-extractable CryptoKeys (structured-cloneable, so IndexedDB stores them
 * as opaque handles) plus the PKCS#8 wrapped under a non-extractable
 * AES-GCM key, which is what makes a passphrase backup possible later.
 */
export interface WebStoredIdentity {
  v: 1;
  engine: 'webcrypto';
  spki: Uint8Array;
  decrypt: CryptoKey;
  sign: CryptoKey;
  wrapKey: CryptoKey;
  iv: Uint8Array;
  wrappedPkcs8: Uint8Array;
  createdAt: number;
}

/**
 * Insecure contexts (no crypto.subtle) have no non-extractable keys at all;
 * there the PKCS#8 is kept as is. Documented as a limitation of that mode.
 */
export interface ForgeStoredIdentity {
  v: 1;
  engine: 'forge';
  spki: Uint8Array;
  pkcs8: Uint8Array;
  createdAt: number;
}

export type StoredIdentity = WebStoredIdentity | ForgeStoredIdentity;

export interface KeyStore {
  load(): Promise<unknown>;
  save(rec: StoredIdentity): Promise<void>;
  clear(): Promise<void>;
}

const isBytes = (v: unknown): v is Uint8Array => v instanceof Uint8Array;
const isKey = (v: unknown): v is CryptoKey =>
  typeof CryptoKey !== 'undefined' && v instanceof CryptoKey && v.extractable === false;

/** Validates what came back from storage; anything unexpected is treated as "no identity". */
export function parseStoredIdentity(v: unknown): StoredIdentity | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (o.v !== 1 || !isBytes(o.spki) || typeof o.createdAt !== 'number') return undefined;
  if (o.engine === 'webcrypto') {
    if (!isKey(o.decrypt) || !isKey(o.sign) || !isKey(o.wrapKey) || !isBytes(o.iv) || !isBytes(o.wrappedPkcs8)) return undefined;
    if (o.iv.length !== 12) return undefined;
    return o as unknown as WebStoredIdentity;
  }
  if (o.engine === 'forge' && isBytes(o.pkcs8)) return o as unknown as ForgeStoredIdentity;
  return undefined;
}

/** In-memory store: unit tests, and a fallback where IndexedDB is unavailable. */
export class MemoryKeyStore implements KeyStore {
  #rec: StoredIdentity | undefined;
  async load(): Promise<unknown> {
    return this.#rec;
  }
  async save(rec: StoredIdentity): Promise<void> {
    this.#rec = rec;
  }
  async clear(): Promise<void> {
    this.#rec = undefined;
  }
}
