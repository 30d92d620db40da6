import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import * as P from '../../protocol/index.ts';
import { messagesFrame, pushFrameBytes } from '../../relay/wire.ts';

const packet = (messageBytes: number): P.ClientMessagePacket => ({
  recipient: randomBytes(P.SPKI_BYTES).toString('base64'),
  message: randomBytes(messageBytes).toString('base64'),
  signature: randomBytes(P.SIGNATURE_ENVELOPE_BYTES).toString('base64'),
});

const text = (b: Uint8Array): string => Buffer.from(b).toString('latin1');

describe('live push frame bytes', () => {
  it('are exactly the text messagesFrame gives for that one message, for every size the relay accepts', () => {
    const id = 'ab'.repeat(32);
    // Smallest first: the largest ones outgrow the 16 KB scratch buffer, which then grows.
    for (const bytes of P.MESSAGE_ENVELOPE_BYTES) {
      const p = packet(bytes);
      const at = Date.UTC(2026, 10, 26, 12, 0, 0, 7);
      const seq = 123_456_789_012;
      const frame = pushFrameBytes(p, id, at, seq);
      expect(text(frame)).toBe(messagesFrame([{ ...p, id, seq, received_at: at }], seq));
      expect(JSON.parse(text(frame))).toEqual({ type: 'messages', messages: [{ id, ...p, received_at: new Date(at).toISOString() }], cursor: String(seq) });
    }
  });

  it('share one buffer: a frame is valid until the next one is built', () => {
    const a = packet(P.MESSAGE_ENVELOPE_BYTES[0]!);
    const b = packet(P.MESSAGE_ENVELOPE_BYTES[0]!);
    const first = text(pushFrameBytes(a, '01'.repeat(32), 1, 1));
    const second = pushFrameBytes(b, '02'.repeat(32), 2, 2);
    expect(first).toContain(a.message);
    expect(text(second)).toContain(b.message);
    expect(text(second)).not.toContain(a.message);
  });
});
