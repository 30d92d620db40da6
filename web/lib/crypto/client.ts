import * as Comlink from 'comlink';
import { installErrorTransfer } from '../../../workers/comlink-errors.ts';
import type { CryptoApi } from '../../../workers/crypto.worker.ts';
import type { KeygenStage } from '../../../workers/crypto-core.ts';

export type { KeygenStage };
export type Crypto = Comlink.Remote<CryptoApi>;

let remote: Crypto | undefined;

/** The one crypto worker of this tab, created on first use. */
export function cryptoWorker(): Crypto {
  if (!remote) {
    installErrorTransfer();
    const worker = new Worker(new URL('../../../workers/crypto.worker.ts', import.meta.url), { type: 'module', name: 'crypto' });
    remote = Comlink.wrap<CryptoApi>(worker);
  }
  return remote;
}

/** Wraps a progress callback so the worker can call it back across the boundary. */
export const progressCallback = (fn: (stage: KeygenStage) => void) => Comlink.proxy(fn);

/** Error text for the UI from anything thrown across the worker boundary. */
export function errorText(e: unknown): string {
  if (typeof e === 'object' && e !== null) {
    const o = e as { name?: unknown; code?: unknown; message?: unknown };
    if (o.code === 'decrypt_failed') return 'Wrong passphrase, or the backup file is damaged.';
    if (o.code === 'bad_key') return `That is not a usable private key: ${String(o.message ?? '')}`;
    if (typeof o.message === 'string') return o.message;
  }
  return String(e);
}
