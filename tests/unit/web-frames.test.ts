import { describe, expect, it } from 'vitest';
import { parseFrame, subscribeUrl } from '../../web/lib/net/frames.ts';
import { parseMessagePage, parseStatus } from '../../web/lib/net/wire.ts';

const ID = 'f'.repeat(64);
const stored = { id: ID, recipient: 'R', message: 'M', signature: 'S', received_at: '2024-06-15T12:34:56.789Z' };

describe('subscription frames', () => {
  it('parses a single pushed message, with or without a wrapper', () => {
    expect(parseFrame(JSON.stringify({ type: 'message', message: stored, cursor: 'c9' }))).toEqual({
      kind: 'messages',
      messages: [{ id: ID, packet: { recipient: 'R', message: 'M', signature: 'S' }, receivedAt: stored.received_at }],
      cursor: 'c9',
    });
    const bare = parseFrame(JSON.stringify({ ...stored, cursor: 'c1' }));
    expect(bare.kind === 'messages' && bare.messages[0]?.cursor).toBe('c1');
  });

  it('parses a backlog batch and skips malformed entries', () => {
    const f = parseFrame(JSON.stringify({ type: 'messages', messages: [stored, { id: 'short' }, 5], cursor: 'c2' }));
    expect(f.kind === 'messages' && f.messages.length).toBe(1);
  });

  it('reports relay errors and ready markers; ignores garbage', () => {
    expect(parseFrame(JSON.stringify({ error: { code: 'bad_signature', message: 'no' } }))).toEqual({ kind: 'error', code: 'bad_signature', message: 'no' });
    expect(parseFrame(JSON.stringify({ type: 'ready', cursor: 'c' }))).toEqual({ kind: 'ready', cursor: 'c' });
    for (const junk of ['not json', '[]', 'null', '{"type":"message","message":{"id":1}}', new ArrayBuffer(3), 'x'.repeat(5_000_000)])
      expect(parseFrame(junk).kind).toBe('ignored');
  });

  it('builds the WebSocket URL from a relay base URL', () => {
    expect(subscribeUrl('http://127.0.0.1:8080')).toBe('ws://127.0.0.1:8080/v1/subscribe');
    expect(subscribeUrl('https://r.example/base/')).toBe('wss://r.example/base/v1/subscribe');
  });
});

describe('relay answers', () => {
  it('validates message pages', () => {
    const p = parseMessagePage({ messages: [stored, { nope: 1 }], cursor: 'c', more: true });
    expect(p).toMatchObject({ more: true, cursor: 'c', rejected: 1 });
    expect(p?.messages).toHaveLength(1);
    expect(parseMessagePage({ messages: 'x' })).toBeUndefined();
  });
  it('validates status and clamps load', () => {
    expect(parseStatus({ id: ID, public_key: 'K'.repeat(392), load: 3, version: '1', uptime_s: 5, peers: [1, 2] })).toMatchObject({ load: 1, peers: 2 });
    expect(parseStatus({ id: ID, public_key: 'K'.repeat(392), load: 'high' })).toBeUndefined();
    expect(parseStatus({ id: 'x', public_key: 'K'.repeat(392), load: 0 })).toBeUndefined();
  });
});
