/**
 * The wire format shared by relay, crypto worker and PWA. Pure: no I/O, no
 * DOM or Node imports; crypto comes in through a CryptoEngine.
 * PROTOCOL.md at the repository root is the normative description.
 */
export * from './errors.ts';
export * from './limits.ts';
export * from './bytes.ts';
export * from './fields.ts';
export * from './keys.ts';
export * from './envelope.ts';
export * from './packets.ts';
export * from './identity.ts';
export * from './message.ts';
export * from './auth.ts';
export * from './backup.ts';
export type { CryptoEngine, PrivateKeyHandle, PublicKeyHandle } from './crypto/engine.ts';
export { webCryptoEngine } from './crypto/webcrypto.ts';
export { selectEngine } from './crypto/select.ts';
export const PROTOCOL_VERSION = 1;
export * from './forward.ts';
