import { fromBase64, toBase64, utf8 } from './bytes.ts';
import type { CryptoEngine } from './crypto/engine.ts';
import { ProtocolError } from './errors.ts';
import { asObject, onlyFields, optStr, str } from './fields.ts';

/**
 * Passphrase-protected identity backup file (JSON):
 * {"format":"meshchat-backup","version":1,"kdf":"PBKDF2-SHA256","iterations":N,
 *  "salt":b64(16),"iv":b64(12),"ciphertext":b64(AES-256-GCM(PKCS#8 DER) || tag),"name"?:string}
 * The AES key is PBKDF2-HMAC-SHA-256(passphrase UTF-8, salt, N) → 32 bytes.
 */
export const BACKUP_FORMAT = 'meshchat-backup';
export const BACKUP_MIN_ITERATIONS = 600_000;
/** Upper bound so a hostile file cannot pin a CPU for minutes. */
export const BACKUP_MAX_ITERATIONS = 10_000_000;

export interface BackupFile {
  format: typeof BACKUP_FORMAT;
  version: 1;
  kdf: 'PBKDF2-SHA256';
  iterations: number;
  salt: string;
  iv: string;
  ciphertext: string;
  name?: string;
}

export async function encryptBackup(
  engine: CryptoEngine,
  pkcs8: Uint8Array,
  passphrase: string,
  opts: { iterations?: number; name?: string } = {},
): Promise<BackupFile> {
  if (passphrase.length < 8) throw new ProtocolError('bad_type', 'passphrase must be at least 8 characters', 'passphrase');
  const iterations = opts.iterations ?? BACKUP_MIN_ITERATIONS;
  // Never write a file our own parser would refuse.
  if (!Number.isInteger(iterations) || iterations < BACKUP_MIN_ITERATIONS || iterations > BACKUP_MAX_ITERATIONS)
    throw new ProtocolError('bad_type', `iterations: integer in ${BACKUP_MIN_ITERATIONS}..${BACKUP_MAX_ITERATIONS}`, 'iterations');
  const salt = engine.randomBytes(16);
  const iv = engine.randomBytes(12);
  const key = await engine.pbkdf2(utf8(passphrase), salt, iterations);
  const ct = await engine.aesGcmEncrypt(key, iv, pkcs8);
  key.fill(0);
  const out: BackupFile = {
    format: BACKUP_FORMAT,
    version: 1,
    kdf: 'PBKDF2-SHA256',
    iterations,
    salt: toBase64(salt),
    iv: toBase64(iv),
    ciphertext: toBase64(ct),
  };
  if (opts.name) out.name = opts.name;
  return out;
}

export function parseBackup(input: unknown): BackupFile {
  let v = input;
  if (typeof v === 'string') {
    if (v.length > 65536) throw new ProtocolError('too_large', 'backup file too large');
    try {
      v = JSON.parse(v);
    } catch {
      throw new ProtocolError('bad_json', 'backup file is not JSON');
    }
  }
  const o = asObject(v, 'backup');
  onlyFields(o, ['format', 'version', 'kdf', 'iterations', 'salt', 'iv', 'ciphertext', 'name'], 'backup');
  if (o.format !== BACKUP_FORMAT || o.version !== 1 || o.kdf !== 'PBKDF2-SHA256')
    throw new ProtocolError('unsupported', 'not a version 1 meshchat backup', 'backup.format');
  const it = o.iterations;
  if (typeof it !== 'number' || !Number.isInteger(it) || it < BACKUP_MIN_ITERATIONS || it > BACKUP_MAX_ITERATIONS)
    throw new ProtocolError('bad_type', `backup.iterations: integer in ${BACKUP_MIN_ITERATIONS}..${BACKUP_MAX_ITERATIONS}`, 'backup.iterations');
  const salt = str(o, 'salt', 64, 'backup.salt');
  const iv = str(o, 'iv', 24, 'backup.iv');
  if (fromBase64(salt, 'backup.salt').length < 16) throw new ProtocolError('bad_type', 'backup.salt: at least 16 bytes', 'backup.salt');
  if (fromBase64(iv, 'backup.iv').length !== 12) throw new ProtocolError('bad_type', 'backup.iv: 12 bytes', 'backup.iv');
  const ciphertext = str(o, 'ciphertext', 8192, 'backup.ciphertext');
  fromBase64(ciphertext, 'backup.ciphertext');
  const name = optStr(o, 'name', 64, 'backup.name');
  const out: BackupFile = { format: BACKUP_FORMAT, version: 1, kdf: 'PBKDF2-SHA256', iterations: it, salt, iv, ciphertext };
  if (name !== undefined) out.name = name;
  return out;
}

/** Returns the PKCS#8 DER; a wrong passphrase and a corrupted file both give `decrypt_failed`. */
export async function decryptBackup(engine: CryptoEngine, input: unknown, passphrase: string): Promise<Uint8Array> {
  const b = parseBackup(input);
  const key = await engine.pbkdf2(utf8(passphrase), fromBase64(b.salt), b.iterations);
  try {
    return await engine.aesGcmDecrypt(key, fromBase64(b.iv), fromBase64(b.ciphertext));
  } catch {
    throw new ProtocolError('decrypt_failed', 'wrong passphrase, or the backup file is damaged');
  } finally {
    key.fill(0);
  }
}

export const backupToText = (b: BackupFile): string => JSON.stringify(b, null, 2);
