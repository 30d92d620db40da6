import type { ClientMessagePacket, ForwardRequest, MessagePlaintext, RetrievalPacket, SealInput } from '$protocol/index.ts';
import type { DescriptorResult, OpenResult } from '../../../workers/crypto-core.ts';

/** What the engine needs from the crypto worker (a comlink proxy satisfies it). */
export interface CryptoPort {
  seal(recipient: string, input: SealInput): Promise<{ packet: ClientMessagePacket; id: string; plaintext: MessagePlaintext }>;
  open(packet: unknown): Promise<OpenResult>;
  signRetrieval(relayId: string, after?: string): Promise<{ packet: RetrievalPacket; header: string }>;
  fingerprint(publicKey: string): Promise<{ fingerprint: string; safetyCode: string }>;
  verifyDescriptors(list: unknown[], now: number): Promise<DescriptorResult[]>;
  sealCover(bucket: number): Promise<{ packet: ClientMessagePacket }>;
  signCoverRetrieval(relayId: string, after?: string): Promise<{ header: string }>;
  sealForward(destination: { id: string; publicKey: string }, req: ForwardRequest): Promise<{ packet: { to: string; envelope: string }; token: string }>;
  openForward(token: string, response?: unknown): Promise<{ status: number; body: unknown }>;
}

/** 'outbox': rows were queued by a tab that does not run the engine (EngineLease). */
export type ChangeKind = 'contacts' | 'messages' | 'servers' | 'connection' | 'route' | 'counters' | 'outbox';
export type Notify = (kind: ChangeKind, contact?: string) => void;
