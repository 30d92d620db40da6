import { fromBase64, toBase64, toHex } from './bytes.ts';
import type { CryptoEngine, PublicKeyHandle } from './crypto/engine.ts';
import { ProtocolError } from './errors.ts';
import { isHex64 } from './fields.ts';
import { parsePublicKey } from './keys.ts';

/** Lowercase hex SHA-256 of the DER SPKI: a user's address, a relay's id. */
export async function fingerprint(engine: CryptoEngine, publicKey: string | Uint8Array): Promise<string> {
  const der = typeof publicKey === 'string' ? parsePublicKey(publicKey) : publicKey;
  return toHex(await engine.sha256(der));
}

/** Short human-comparable safety code from a fingerprint: 12 groups of 5 digits like Signal's. */
export function safetyCode(fp: string): string {
  if (!isHex64(fp)) throw new ProtocolError('bad_hex', 'fingerprint: must be 64 lowercase hex digits', 'fingerprint');
  const groups: string[] = [];
  for (let i = 0; i < 12; i++) {
    const chunk = parseInt(fp.slice(i * 5, i * 5 + 5), 16);
    groups.push(String(chunk % 100000).padStart(5, '0'));
  }
  return groups.join(' ');
}

/** Imports a wire public key for an engine after checking it. */
export async function importPublicKey(engine: CryptoEngine, publicKey: string, field = 'public_key'): Promise<PublicKeyHandle> {
  return engine.importSpki(parsePublicKey(publicKey, field));
}

// ---------------------------------------------------------------- PEM

const PEM_RE = /-----BEGIN ([A-Z ]+)-----([\s\S]*?)-----END \1-----/;

export function toPem(der: Uint8Array, label: 'PRIVATE KEY' | 'PUBLIC KEY'): string {
  const b64 = toBase64(der);
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

export function fromPem(pem: string, label: 'PRIVATE KEY' | 'PUBLIC KEY'): Uint8Array {
  if (pem.length > 16384) throw new ProtocolError('too_large', 'PEM text too long');
  const m = PEM_RE.exec(pem);
  if (!m) throw new ProtocolError('bad_key', `not a PEM ${label}`);
  if (m[1] !== label) {
    const hint = m[1] === 'RSA PRIVATE KEY' ? ' (PKCS#1; convert with `openssl pkcs8 -topk8 -nocrypt`)' : '';
    throw new ProtocolError('bad_key', `expected PEM "${label}", found "${m[1]}"${hint}`);
  }
  return fromBase64(m[2]!.replace(/\s+/g, ''), 'pem');
}
