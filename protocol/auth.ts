import { fromBase64, toBase64, toBase64Url } from './bytes.ts';
import type { CryptoEngine, PrivateKeyHandle, PublicKeyHandle } from './crypto/engine.ts';
import { ProtocolError } from './errors.ts';
import { isoNow } from './fields.ts';
import { fingerprint } from './identity.ts';
import { encodePublicKey, parsePublicKey } from './keys.ts';
import { DESCRIPTOR_MAX_AGE_MS, RETRIEVAL_WINDOW_MS } from './limits.ts';
import {
  descriptorSigningInput,
  parseDescriptor,
  parseSignedMessage,
  type RelayDescriptor,
  type RetrievalPacket,
  retrievalSigningInput,
  type SignedMessage,
  signedMessageInput,
} from './packets.ts';

interface KeyPair {
  privateKey: PrivateKeyHandle;
  publicKey: PublicKeyHandle;
}

// ---------------------------------------------------------------- retrieval

export async function signRetrieval(
  engine: CryptoEngine,
  me: KeyPair,
  relayId: string,
  opts: { now?: number; after?: string } = {},
): Promise<RetrievalPacket> {
  const timestamp = isoNow(opts.now ?? Date.now());
  const nonce = toBase64Url(engine.randomBytes(16));
  const sig = await engine.pssSign(me.privateKey, retrievalSigningInput(relayId, timestamp, nonce));
  const p: RetrievalPacket = { public_key: encodePublicKey(me.publicKey.spki), relay: relayId, timestamp, nonce, signature: toBase64(sig) };
  if (opts.after !== undefined) p.after = opts.after;
  return p;
}

export const encodeRetrievalHeader = (p: RetrievalPacket): string =>
  toBase64Url(new TextEncoder().encode(JSON.stringify(p)));

/**
 * Relay-side checks of a parsed retrieval packet, cheapest first: relay id,
 * clock window, then the signature. Nonce replay is the caller's (it owns the
 * seen-nonce set) and must be checked after this succeeds.
 */
export async function verifyRetrieval(
  engine: CryptoEngine,
  p: RetrievalPacket & { timestampMs: number },
  relayId: string,
  now: number,
): Promise<void> {
  if (p.relay !== relayId) throw new ProtocolError('wrong_relay', 'retrieval packet is signed for another relay', 'relay');
  if (Math.abs(now - p.timestampMs) > RETRIEVAL_WINDOW_MS)
    throw new ProtocolError('stale_timestamp', `timestamp is more than ${RETRIEVAL_WINDOW_MS / 1000} s from the relay clock`, 'timestamp');
  const key = await engine.importSpki(parsePublicKey(p.public_key));
  const ok = await engine.pssVerify(key, fromBase64(p.signature, 'signature'), retrievalSigningInput(p.relay, p.timestamp, p.nonce));
  if (!ok) throw new ProtocolError('bad_signature', 'retrieval signature does not verify', 'signature');
}

// ---------------------------------------------------------------- relay descriptors

export async function signDescriptor(engine: CryptoEngine, relay: KeyPair, url: string, now = Date.now()): Promise<RelayDescriptor> {
  const public_key = encodePublicKey(relay.publicKey.spki);
  const d = { id: await fingerprint(engine, relay.publicKey.spki), url, public_key, timestamp: isoNow(now) };
  return { ...d, signature: toBase64(await engine.pssSign(relay.privateKey, descriptorSigningInput(d))) };
}

/** Full check of a descriptor from the wire: shape, id = fingerprint(key), freshness, signature. */
export async function verifyDescriptor(engine: CryptoEngine, input: unknown, now: number, field = 'descriptor'): Promise<RelayDescriptor> {
  const { timestampMs, ...d } = parseDescriptor(input, field);
  if ((await fingerprint(engine, d.public_key)) !== d.id)
    throw new ProtocolError('bad_descriptor', `${field}: id is not the fingerprint of its key`, `${field}.id`);
  if (now - timestampMs > DESCRIPTOR_MAX_AGE_MS || timestampMs - now > RETRIEVAL_WINDOW_MS)
    throw new ProtocolError('stale_timestamp', `${field}: timestamp outside the accepted window`, `${field}.timestamp`);
  const key = await engine.importSpki(parsePublicKey(d.public_key));
  if (!(await engine.pssVerify(key, fromBase64(d.signature), descriptorSigningInput(d))))
    throw new ProtocolError('bad_signature', `${field}: signature does not verify`, `${field}.signature`);
  return d;
}

// ---------------------------------------------------------------- signed_message

export async function signMessage(engine: CryptoEngine, me: KeyPair, content: string, now = Date.now()): Promise<SignedMessage> {
  const timestamp = isoNow(now);
  const sig = await engine.pssSign(me.privateKey, signedMessageInput(content, timestamp));
  return { type: 'signed_message', message: { content, timestamp }, signature: toBase64(sig), public_key: encodePublicKey(me.publicKey.spki) };
}

/** Verifies a signed_message; `maxAgeMs` bounds how old its timestamp may be (replay window). */
export async function verifySignedMessage(
  engine: CryptoEngine,
  input: unknown,
  now: number,
  maxAgeMs = RETRIEVAL_WINDOW_MS,
): Promise<SignedMessage & { signer: string }> {
  const { timestampMs, ...m } = parseSignedMessage(input);
  if (Math.abs(now - timestampMs) > maxAgeMs)
    throw new ProtocolError('stale_timestamp', 'signed_message timestamp outside the accepted window', 'message.timestamp');
  const der = parsePublicKey(m.public_key);
  const key = await engine.importSpki(der);
  if (!(await engine.pssVerify(key, fromBase64(m.signature), signedMessageInput(m.message.content, m.message.timestamp))))
    throw new ProtocolError('bad_signature', 'signed_message signature does not verify', 'signature');
  return { ...m, signer: await fingerprint(engine, der) };
}
