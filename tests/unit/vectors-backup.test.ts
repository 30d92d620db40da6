import { describe, it } from 'vitest';
import { forgeEngine } from '../../protocol/crypto/forge.ts';
import { webCryptoEngine } from '../../protocol/crypto/webcrypto.ts';
import { vectorCases } from '../../protocol/vectors/check.ts';
import { loadVectors } from './vectors.ts';

const cases = vectorCases(loadVectors()).filter((c) => c.file === 'backup');

for (const engine of [webCryptoEngine, forgeEngine])
  describe(`backup vectors on ${engine.name}`, () => {
    // Each decrypting case runs a 600000-iteration PBKDF2: ~5 s in pure JavaScript.
    for (const c of cases) it(c.name, { timeout: 60_000 }, () => c.run(engine));
  });
