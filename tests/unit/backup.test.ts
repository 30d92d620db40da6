import { describe, expect, it } from 'vitest';
import { decryptBackup, encryptBackup, fromBase64, parseBackup, backupToText, BACKUP_MIN_ITERATIONS } from '../../protocol/index.ts';
import { webCryptoEngine as W } from '../../protocol/crypto/webcrypto.ts';
import { loadVectors } from './vectors.ts';

// Forge's 600k-iteration PBKDF2 is covered by the backup vectors and the cross-engine test; WebCrypto keeps these quick.
const pkcs8 = fromBase64(loadVectors().keys.keys.alice.pkcs8);

describe('backup file', () => {
  it('round trips through its text form with the default 600000 iterations and fresh salt and IV', async () => {
    const a = await encryptBackup(W, pkcs8, 'passphrase one', { name: 'laptop' });
    const b = await encryptBackup(W, pkcs8, 'passphrase one');
    expect(a.iterations).toBe(BACKUP_MIN_ITERATIONS);
    expect(a.salt).not.toBe(b.salt);
    expect(a.iv).not.toBe(b.iv);
    expect(await decryptBackup(W, backupToText(a), 'passphrase one')).toEqual(pkcs8);
    expect(parseBackup(backupToText(a)).name).toBe('laptop');
  });

  it('a wrong passphrase gives decrypt_failed', async () => {
    const a = await encryptBackup(W, pkcs8, 'passphrase one');
    await expect(decryptBackup(W, a, 'passphrase two')).rejects.toMatchObject({ name: 'ProtocolError', code: 'decrypt_failed' });
  });

  it('iterations below 600000 are refused on write and on read', async () => {
    await expect(encryptBackup(W, pkcs8, 'passphrase one', { iterations: 599_999 })).rejects.toMatchObject({ code: 'bad_type' });
    const a = await encryptBackup(W, pkcs8, 'passphrase one');
    const weak = { ...a, iterations: 1000 };
    // Refused before deriving: even the right passphrase does not open it.
    await expect(decryptBackup(W, weak, 'passphrase one')).rejects.toMatchObject({ code: 'bad_type' });
  });

  it('short passphrases are refused on write', async () => {
    await expect(encryptBackup(W, pkcs8, 'short')).rejects.toMatchObject({ code: 'bad_type' });
  });

  it('an over-long file text is refused before parsing', () => {
    expect(() => parseBackup('x'.repeat(70000))).toThrow(expect.objectContaining({ code: 'too_large' }));
  });
});
