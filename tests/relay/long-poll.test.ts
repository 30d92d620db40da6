// GET /v1/messages?wait=: an empty page held until a message for the key
// arrives (PROTOCOL.md §8a "Long poll"), on a real relay process.
import { describe, expect, it } from 'vitest';
import { cleanup, getMessages, idOf, keyPair, type KeyPair, post, relayAndTwoKeys, retrievalHeader, sealed, shaped, startRelay } from './harness.ts';

const ctx = relayAndTwoKeys();

const longPolls = async (url: string): Promise<number> => ((await (await fetch(`${url}/v1/status`)).json()) as { long_polls: number }).long_polls;

/** Resolves once the relay holds `n` retrievals. */
async function holding(url: string, n: number): Promise<void> {
  const deadline = Date.now() + 5000;
  while ((await longPolls(url)) !== n) {
    if (Date.now() > deadline) throw new Error(`relay never held ${n} retrievals (holds ${await longPolls(url)})`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The cursor after everything `k` holds now, so a retrieval from it starts empty. */
async function end(k: KeyPair): Promise<string> {
  const r = await getMessages(ctx.relay.url, await retrievalHeader(k, ctx.relay.id), '?limit=500');
  return r.json.cursor as string;
}

describe('GET /v1/messages?wait=', () => {
  it('holds an empty page and answers it with the message that arrives for the key', async () => {
    const after = await end(ctx.bob);
    const held = getMessages(ctx.relay.url, await retrievalHeader(ctx.bob, ctx.relay.id), `?after=${after}&wait=10`);
    await holding(ctx.relay.url, 1);
    // A message for someone else does not answer it.
    expect((await post(ctx.relay.url, shaped(ctx.alice))).status).toBe(202);
    expect(await longPolls(ctx.relay.url)).toBe(1);
    const p = await sealed(ctx.alice, ctx.bob, 'are you there?');
    expect((await post(ctx.relay.url, p)).status).toBe(202);
    const r = await held;
    expect(r.status).toBe(200);
    expect(r.json.messages.map((m: { id: string }) => m.id)).toEqual([await idOf(p)]);
    expect(r.json.cursor).not.toBe(after);
    expect(await longPolls(ctx.relay.url)).toBe(0);
  });

  it('answers the empty page, cursor echoed, when the wait runs out', async () => {
    const after = await end(ctx.bob);
    const r = await getMessages(ctx.relay.url, await retrievalHeader(ctx.bob, ctx.relay.id), `?after=${after}&wait=1`);
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ messages: [], cursor: after, more: false });
    expect(await longPolls(ctx.relay.url)).toBe(0);
  });

  it('answers at once when there is something to hand out', async () => {
    const carol = await keyPair();
    const p = shaped(carol);
    await post(ctx.relay.url, p);
    const r = await getMessages(ctx.relay.url, await retrievalHeader(carol, ctx.relay.id), '?wait=10');
    expect(r.json.messages.map((m: { id: string }) => m.id)).toEqual([await idOf(p)]);
  });

  it('holds at most 8 per key: the next is answered at once', async () => {
    const dave = await keyPair();
    const header = () => retrievalHeader(dave, ctx.relay.id);
    const eight = Array.from({ length: 8 }, async () => getMessages(ctx.relay.url, await header(), '?wait=10'));
    await holding(ctx.relay.url, 8);
    const ninth = await getMessages(ctx.relay.url, await header(), '?wait=10');
    expect(ninth.json.messages).toEqual([]);
    expect(await longPolls(ctx.relay.url)).toBe(8);
    // One message answers all eight.
    const p = shaped(dave);
    await post(ctx.relay.url, p);
    for (const r of await Promise.all(eight)) expect(r.json.messages.map((m: { id: string }) => m.id)).toEqual([await idOf(p)]);
  });

  it('gives the slot back as soon as the asker hangs up, not when the wait ends', async () => {
    const gone = new AbortController();
    const held = fetch(`${ctx.relay.url}/v1/messages?after=${await end(ctx.bob)}&wait=10`, {
      headers: { 'x-retrieval': await retrievalHeader(ctx.bob, ctx.relay.id) },
      signal: gone.signal,
    }).catch((e: unknown) => e);
    await holding(ctx.relay.url, 1);
    gone.abort();
    expect(await held).toMatchObject({ name: 'AbortError' });
    // Within holding()'s 5 s, so well before the relay's own 10 s would end it.
    await holding(ctx.relay.url, 0);
  });

  it('refuses a wait that is not 0 to 10 whole seconds', async () => {
    for (const w of ['11', '-1', '1.5', 'abc', '100']) {
      const r = await getMessages(ctx.relay.url, await retrievalHeader(ctx.bob, ctx.relay.id), `?wait=${w}`);
      expect(r.status, w).toBe(400);
      expect(r.json.error.code).toBe('bad_wait');
    }
    const zero = await getMessages(ctx.relay.url, await retrievalHeader(ctx.bob, ctx.relay.id), `?after=${await end(ctx.bob)}&wait=0`);
    expect(zero.status).toBe(200);
  });

  it('answers held retrievals when the relay stops', async () => {
    const own = await startRelay();
    try {
      const held = getMessages(own.url, await retrievalHeader(ctx.bob, own.id), '?wait=10');
      await holding(own.url, 1);
      const stopped = own.stop('SIGTERM');
      const r = await held;
      expect(r.status).toBe(200);
      expect(r.json.messages).toEqual([]);
      expect(await stopped).toBe(0);
    } finally {
      await cleanup(own);
    }
  });
});
