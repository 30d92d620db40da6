import { beforeAll, describe, expect, it } from 'vitest';
import * as P from '../../protocol/index.ts';

const e = P.webCryptoEngine;
let relay: { privateKey: P.PrivateKeyHandle; publicKey: P.PublicKeyHandle; id: string };
let other: { privateKey: P.PrivateKeyHandle; publicKey: P.PublicKeyHandle; id: string };

beforeAll(async () => {
  const a = await e.generateKeyPair(false);
  const b = await e.generateKeyPair(false);
  relay = { ...a, id: await P.fingerprint(e, a.publicKey.spki) };
  other = { ...b, id: await P.fingerprint(e, b.publicKey.spki) };
});

const codeOf = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
  } catch (err) {
    expect(P.isProtocolError(err)).toBe(true);
    return (err as P.ProtocolError).code;
  }
  return 'no error';
};

describe('forwarding envelopes', () => {
  it('round-trips a POST through seal → open → respond → open', async () => {
    const body = { recipient: 'r', message: 'm', signature: 's' };
    const { packet, replyKey } = await P.sealForwardRequest(e, { id: relay.id, key: relay.publicKey }, { method: 'POST', path: '/v1/messages', body });
    expect(P.parseForwardPacket(JSON.parse(JSON.stringify(packet)))).toEqual(packet);
    const req = await P.openForwardRequest(e, relay, packet);
    expect(req).toMatchObject({ method: 'POST', path: '/v1/messages', body });
    expect(P.equalBytes(req.replyKey, replyKey)).toBe(true);
    const resp = await P.sealForwardResponse(e, req.replyKey, 202, { id: 'x' });
    expect(await P.openForwardResponse(e, replyKey, resp)).toEqual({ status: 202, body: { id: 'x' } });
  });

  it('pads requests so a retrieval and a small POST share no exact size', async () => {
    const get = await P.sealForwardRequest(e, { id: relay.id, key: relay.publicKey }, { method: 'GET', path: '/v1/messages?after=5&limit=20', retrieval: 'x'.repeat(1220) });
    const bytes = P.fromBase64(get.packet.envelope).length - P.ENVELOPE_OVERHEAD;
    expect(P.FORWARD_REQUEST_BUCKETS).toContain(bytes);
  });

  it('refuses paths a proxied client may not reach', async () => {
    for (const [method, path] of [['GET', '/v1/peer'], ['POST', '/v1/forward'], ['GET', '/metrics'], ['GET', 'http://10.0.0.1/'], ['PUT', '/v1/messages']] as const)
      expect(await codeOf(P.sealForwardRequest(e, { id: relay.id, key: relay.publicKey }, { method: method as P.ForwardMethod, path }))).toBe('unsupported');
  });

  it('refuses a packet for another relay, a tampered envelope and a wrong reply key', async () => {
    const { packet, replyKey } = await P.sealForwardRequest(e, { id: relay.id, key: relay.publicKey }, { method: 'GET', path: '/v1/status' });
    expect(await codeOf(P.openForwardRequest(e, other, { ...packet, to: other.id }))).toBe('decrypt_failed');
    expect(await codeOf(P.openForwardRequest(e, other, packet))).toBe('wrong_relay');
    const bytes = P.fromBase64(packet.envelope);
    bytes[bytes.length - 1]! ^= 1;
    expect(await codeOf(P.openForwardRequest(e, relay, { ...packet, envelope: P.toBase64(bytes) }))).toBe('decrypt_failed');
    const resp = await P.sealForwardResponse(e, replyKey, 200, {});
    expect(await codeOf(P.openForwardResponse(e, new Uint8Array(32), resp))).toBe('decrypt_failed');
  });

  it('validates the outer packet shape', () => {
    const bad = (v: unknown): string => {
      try {
        P.parseForwardPacket(v);
        return 'no error';
      } catch (err) {
        return (err as P.ProtocolError).code;
      }
    };
    expect(bad(null)).toBe('bad_type');
    expect(bad({ to: 'x', envelope: 'AAAA' })).toBe('bad_hex');
    expect(bad({ to: 'a'.repeat(64) })).toBe('missing_field');
    expect(bad({ to: 'a'.repeat(64), envelope: 'AAAA' })).toBe('bad_bucket');
    expect(bad({ to: 'a'.repeat(64), envelope: 'AAAA', x: 1 })).toBe('unknown_field');
  });
});
