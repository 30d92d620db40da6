import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import * as P from '../../protocol/index.ts';
import { packetIdOf } from '../../relay/ingest.ts';
import { encodeMsgFrame, MAX_TTL, msgFramePacket, msgFrameTtl, parseFrame, setTtl } from '../../relay/mesh/frames.ts';

const packet = (): P.ClientMessagePacket => ({
  recipient: randomBytes(P.SPKI_BYTES).toString('base64'),
  message: randomBytes(1069).toString('base64'),
  signature: randomBytes(P.SIGNATURE_ENVELOPE_BYTES).toString('base64'),
});

const protocolCode = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    return P.isProtocolError(e) ? e.code : 'not a ProtocolError';
  }
  return undefined;
};

describe('binary msg frames (peer payloads, PROTOCOL.md §9.1)', () => {
  it('carry the packet after a two-byte header, and the body hashes to the packet id', () => {
    const p = packet();
    const f = encodeMsgFrame(7, p);
    expect([f[0], f[1]]).toEqual([0x01, 7]);
    expect(f.subarray(2).toString('latin1')).toBe(P.packetIdPreimage(p));
    expect(createHash('sha256').update(f.subarray(2)).digest('hex')).toBe(packetIdOf(p));
    expect(msgFrameTtl(f)).toBe(7);
    expect(msgFramePacket(f)).toEqual(p);
  });

  it('setTtl changes the ttl in place and leaves the id preimage as it was', () => {
    const p = packet();
    const f = encodeMsgFrame(9, p);
    expect(setTtl(f, 8)).toBe(f);
    expect(msgFrameTtl(f)).toBe(8);
    expect(msgFramePacket(f)).toEqual(p);
    expect(createHash('sha256').update(f.subarray(2)).digest('hex')).toBe(packetIdOf(p));
  });

  it('refuses other binary frames, a ttl over the limit, and bodies without the three fields', () => {
    expect(protocolCode(() => msgFrameTtl(Buffer.from([0x02, 1, 65])))).toBe('bad_type');
    expect(protocolCode(() => msgFrameTtl(Buffer.from([0x01])))).toBe('bad_type');
    expect(protocolCode(() => msgFrameTtl(Buffer.from([0x01, MAX_TTL + 1])))).toBe('bad_type');
    expect(msgFrameTtl(Buffer.from([0x01, MAX_TTL]))).toBe(MAX_TTL);
    expect(protocolCode(() => msgFramePacket(Buffer.from('\u0001\u0003abc', 'latin1')))).toBe('missing_field');
    expect(protocolCode(() => msgFramePacket(Buffer.from('\u0001\u0003abc\ndef', 'latin1')))).toBe('missing_field');
    // A third newline lands in the signature, which then fails validation as base64.
    const odd = msgFramePacket(Buffer.from('\u0001\u0003a\nb\nc\nd', 'latin1'));
    expect(odd.signature).toBe('c\nd');
    expect(P.validateClientPacket(odd).ok).toBe(false);
  });
});

describe('catch-up request frames (PROTOCOL.md §9.5)', () => {
  it('sum_req may ask for the empty prefix; ids_req lists only 1-3 byte prefixes', () => {
    expect(parseFrame({ type: 'sum_req', prefixes: [''] })).toEqual({ type: 'sum_req', prefixes: [''] });
    expect(parseFrame({ type: 'ids_req', prefixes: ['ab', 'abcd', 'abcdef'] })).toEqual({ type: 'ids_req', prefixes: ['ab', 'abcd', 'abcdef'] });
    // Listing the empty prefix would be every id the relay holds.
    expect(protocolCode(() => parseFrame({ type: 'ids_req', prefixes: ['ab', ''] }))).toBe('bad_hex');
    expect(protocolCode(() => parseFrame({ type: 'ids_req', prefixes: ['abcdef01'] }))).toBe('bad_hex');
    expect(protocolCode(() => parseFrame({ type: 'ids_req', prefixes: [] }))).toBe('too_large');
  });
});
