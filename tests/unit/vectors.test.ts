import { describe, expect, it } from 'vitest';
import { forgeEngine } from '../../protocol/crypto/forge.ts';
import { webCryptoEngine } from '../../protocol/crypto/webcrypto.ts';
import { vectorCases, VECTOR_FILES } from '../../protocol/vectors/check.ts';
import { loadVectors } from './vectors.ts';

const vectors = loadVectors();
// The 600k-iteration backup vectors live in vectors-backup.test.ts so their forge PBKDF2 runs beside this file.
const cases = vectorCases(vectors).filter((c) => c.file !== 'backup');

for (const engine of [webCryptoEngine, forgeEngine]) {
  describe(`vectors on ${engine.name}`, () => {
    for (const file of VECTOR_FILES.filter((f) => f !== 'backup'))
      describe(file, () => {
        for (const c of cases.filter((x) => x.file === file)) it(c.name, () => c.run(engine));
      });
  });
}

describe('the vector checker can fail', () => {
  const find = (file: string, pred: (name: string) => boolean) => {
    const v = structuredClone(vectors);
    return { v, pick: () => vectorCases(v).find((c) => c.file === file && pred(c.name))! };
  };

  it('rejects a wrong expected error code', async () => {
    const { v, pick } = find('packets', (n) => n.startsWith('open refuses: swapped sender'));
    v.packets.invalid_open.find((c: { name: string }) => c.name.startsWith('swapped sender')).expect = 'decrypt_failed';
    await expect(pick().run(webCryptoEngine)).rejects.toThrow(/got code bad_signature/);
  });
  it('rejects a wrong packet id', async () => {
    const { v, pick } = find('packets', (n) => n === 'open: text, 1024 bucket');
    v.packets.valid[0].id = '0'.repeat(64);
    await expect(pick().run(forgeEngine)).rejects.toThrow(/packet id/);
  });
  it('rejects an invalid case that is accepted', async () => {
    const { v, pick } = find('retrieval', (n) => n.startsWith('refuses: 121 s old'));
    v.retrieval.invalid.find((c: { name: string }) => c.name === '121 s old').now = v.retrieval.valid[0].now;
    await expect(pick().run(webCryptoEngine)).rejects.toThrow(/accepted/);
  });
  it('rejects a wrong AES-GCM output', async () => {
    const { v, pick } = find('primitives', (n) => n.startsWith('aes-256-gcm #1'));
    v.primitives.aes_gcm[1].plaintext = v.primitives.aes_gcm[1].plaintext.replace(/^./, (ch: string) => (ch === 'A' ? 'B' : 'A'));
    await expect(pick().run(forgeEngine)).rejects.toThrow(/ciphertext/);
  });
});
