import type { CryptoEngine } from './engine.ts';
import { webCryptoEngine } from './webcrypto.ts';

let fallback: Promise<CryptoEngine> | undefined;

/**
 * WebCrypto where crypto.subtle exists (secure contexts, Node 20); otherwise
 * node-forge, imported lazily so it costs nothing where it is not needed.
 */
export function selectEngine(): Promise<CryptoEngine> {
  if (globalThis.crypto?.subtle) return Promise.resolve(webCryptoEngine);
  fallback ??= import('./forge.ts').then((m) => m.forgeEngine);
  return fallback;
}
