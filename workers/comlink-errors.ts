import { transferHandlers, type TransferHandler } from 'comlink';

/**
 * Comlink's default "throw" handler keeps only name/message/stack, so a
 * ProtocolError's `code` would be lost crossing the worker boundary. Both
 * sides install this handler: errors arrive as plain Errors carrying
 * `name`, `code` and `field`. Callers check `err.name`/`err.code`, never
 * `instanceof`.
 */
export interface WireError {
  name: string;
  code: string;
  message: string;
  field?: string;
}

interface Thrown {
  value: unknown;
}

export function toWireError(e: unknown): WireError {
  if (typeof e === 'object' && e !== null) {
    const o = e as { name?: unknown; code?: unknown; message?: unknown; field?: unknown };
    const out: WireError = {
      name: typeof o.name === 'string' ? o.name : 'Error',
      code: typeof o.code === 'string' ? o.code : 'internal',
      message: typeof o.message === 'string' ? o.message : String(e),
    };
    if (typeof o.field === 'string') out.field = o.field;
    return out;
  }
  return { name: 'Error', code: 'internal', message: String(e) };
}

export function fromWireError(w: WireError): Error & WireError {
  const err = new Error(w.message) as Error & WireError;
  err.name = w.name;
  err.code = w.code;
  if (w.field !== undefined) err.field = w.field;
  return err;
}

let installed = false;
export function installErrorTransfer(): void {
  if (installed) return;
  installed = true;
  const original = transferHandlers.get('throw');
  if (!original) return;
  const handler: TransferHandler<Thrown, WireError> = {
    canHandle: (v: unknown): v is Thrown => original.canHandle(v),
    serialize: (thrown: Thrown) => [toWireError(thrown.value), []],
    deserialize: (w: WireError) => {
      throw fromWireError(w);
    },
  };
  transferHandlers.set('throw', handler as TransferHandler<unknown, unknown>);
}
