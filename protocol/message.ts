import { fromBase64, toBase64, toHex } from './bytes.ts';
import type { CryptoEngine, PrivateKeyHandle, PublicKeyHandle } from './crypto/engine.ts';
import { openBytes, padJson, sealBytes, unpadJson } from './envelope.ts';
import { ProtocolError } from './errors.ts';
import { encodePublicKey } from './keys.ts';
import { SIGNATURE_BUCKET } from './limits.ts';
import {
  type ClientMessagePacket,
  type MessageKind,
  type MessagePlaintext,
  messagePlaintextJson,
  packetId,
  parseClientPacket,
  parseMessagePlaintext,
  parseSignaturePlaintext,
} from './packets.ts';

export interface Sender {
  privateKey: PrivateKeyHandle;
  publicKey: PublicKeyHandle;
}

export interface SealInput {
  content: string;
  kind?: MessageKind;
  extra?: Record<string, unknown>;
  /** Defaults to a fresh UUID v4 / the current time. */
  uuid?: string;
  timestamp?: string;
}

/**
 * A UUID v4 from 16 random bytes. Not crypto.randomUUID: that exists only in
 * secure contexts, exactly where the forge fallback is not the engine.
 */
export function uuidV4From(r: Uint8Array): string {
  const b = r.slice(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = toHex(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * Builds a client message packet: the message plaintext padded to its bucket and
 * sealed to the recipient, then an RSA-PSS signature over the raw message
 * envelope, wrapped as {"signature":…}, padded to 1024 and sealed separately.
 */
export async function sealPacket(
  engine: CryptoEngine,
  sender: Sender,
  recipient: PublicKeyHandle,
  input: SealInput,
): Promise<{ packet: ClientMessagePacket; plaintext: MessagePlaintext }> {
  const plaintext: MessagePlaintext = {
    sender: encodePublicKey(sender.publicKey.spki),
    content: input.content,
    uuid: input.uuid ?? uuidV4From(engine.randomBytes(16)),
    timestamp: input.timestamp ?? new Date().toISOString(),
  };
  if (input.kind !== undefined && input.kind !== 'text') plaintext.kind = input.kind;
  if (input.extra) plaintext.extra = input.extra;
  // Validate what we send exactly as a recipient would.
  parseMessagePlaintext(JSON.parse(messagePlaintextJson(plaintext)));
  const messageEnv = await sealBytes(engine, recipient, padJson(messagePlaintextJson(plaintext)));
  const sig = await engine.pssSign(sender.privateKey, messageEnv);
  const sigEnv = await sealBytes(engine, recipient, padJson(JSON.stringify({ signature: toBase64(sig) }), SIGNATURE_BUCKET));
  return {
    packet: { recipient: encodePublicKey(recipient.spki), message: toBase64(messageEnv), signature: toBase64(sigEnv) },
    plaintext,
  };
}

export interface OpenedMessage extends MessagePlaintext {
  /** Packet id (hex SHA-256) as relays compute it. */
  id: string;
}

/**
 * Opens a packet addressed to `me`: decrypts both envelopes and verifies the
 * signature with the sender key found inside. Any failure is a ProtocolError;
 * callers must drop such packets, never show them as from the claimed sender.
 */
export async function openPacket(
  engine: CryptoEngine,
  me: { privateKey: PrivateKeyHandle; publicKey: PublicKeyHandle },
  input: unknown,
  opts: { expectedSender?: string } = {},
): Promise<OpenedMessage> {
  const packet = parseClientPacket(input);
  if (packet.recipient !== encodePublicKey(me.publicKey.spki))
    throw new ProtocolError('wrong_recipient', 'packet is addressed to another key', 'recipient');
  const messageEnv = fromBase64(packet.message, 'message');
  const [msgPlain, sigPlain] = await Promise.all([
    openBytes(engine, me.privateKey, messageEnv, 'message'),
    openBytes(engine, me.privateKey, fromBase64(packet.signature, 'signature'), 'signature'),
  ]);
  const message = parseMessagePlaintext(unpadJson(msgPlain, 'message'));
  const signature = parseSignaturePlaintext(unpadJson(sigPlain, 'signature', SIGNATURE_BUCKET));
  if (opts.expectedSender !== undefined && opts.expectedSender !== message.sender)
    throw new ProtocolError('sender_mismatch', 'message is not from the expected sender', 'message.sender');
  const senderKey = await engine.importSpki(fromBase64(message.sender));
  if (!(await engine.pssVerify(senderKey, signature, messageEnv)))
    throw new ProtocolError('bad_signature', 'signature does not verify with the sender key inside the message', 'signature');
  return { ...message, id: await packetId(packet, (d) => engine.sha256(d)) };
}

