import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as P from '../protocol/index.ts';
import type { Logger } from './log.ts';

export interface RelayIdentity {
  /** Fingerprint of the public key (lowercase hex SHA-256 of the DER SPKI). */
  id: string;
  /** Standard base64 DER SPKI, as on the wire. */
  publicKey: string;
  keys: { privateKey: P.PrivateKeyHandle; publicKey: P.PublicKeyHandle };
}

export const KEY_FILE = 'relay-key.pem';

/**
 * Loads the relay's RSA-2048 key from the data folder, creating it (mode
 * 0600, written atomically) on first start. The key file is the relay's
 * identity: its id is the fingerprint, so keep the file to keep the id.
 */
export async function loadOrCreateIdentity(engine: P.CryptoEngine, dataDir: string, log: Logger): Promise<RelayIdentity> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, KEY_FILE);
  let keys: RelayIdentity['keys'];
  if (existsSync(file)) {
    const mode = statSync(file).mode & 0o777;
    if (mode & 0o077) {
      log.warn({ file, mode: mode.toString(8) }, 'relay key readable by others; tightening to 0600');
      chmodSync(file, 0o600);
    }
    keys = await engine.importPkcs8(P.fromPem(readFileSync(file, 'utf8'), 'PRIVATE KEY'), false);
  } else {
    const generated = await engine.generateKeyPair(true);
    const der = await engine.exportPkcs8(generated.privateKey);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, P.toPem(der, 'PRIVATE KEY'), { mode: 0o600, flag: 'wx' });
    renameSync(tmp, file);
    der.fill(0);
    keys = await engine.importPkcs8(P.fromPem(readFileSync(file, 'utf8'), 'PRIVATE KEY'), false);
    log.info({ file }, 'created relay identity key');
  }
  const spki = keys.publicKey.spki;
  return { id: await P.fingerprint(engine, spki), publicKey: P.encodePublicKey(spki), keys };
}
