import { describe, expect, it } from 'vitest';
import * as P from '../../protocol/index.ts';
import { cleanup, engine, idOf, keyPair, type KeyPair, post, type RelayProcess, relayAndTwoKeys, sealed, shaped, startRelay, WsClient } from './harness.ts';

const ctx = relayAndTwoKeys();

async function subscribe(k: KeyPair, after?: string): Promise<WsClient> {
  const c = new WsClient(ctx.relay.url);
  await c.opened;
  c.ws.send(JSON.stringify(await P.signRetrieval(engine, k, ctx.relay.id, after === undefined ? {} : { after })));
  await c.until(() => c.frames.some((f) => f.type === 'synced'));
  return c;
}

describe('GET /v1/subscribe', () => {
  it('sends the backlog, then "synced", then each new message as it is committed', async () => {
    const backlog = [await sealed(ctx.alice, ctx.bob, 'one'), shaped(ctx.bob), shaped(ctx.bob)];
    for (const p of backlog) expect((await post(ctx.relay.url, p)).status).toBe(202);
    const c = await subscribe(ctx.bob);
    const ids = await Promise.all(backlog.map(idOf));
    expect(c.messages().map((m) => m.id)).toEqual(ids);
    const synced = c.frames.find((f) => f.type === 'synced');
    expect(synced.cursor).toBe(c.frames.filter((f) => f.type === 'messages').at(-1).cursor);

    const live = await sealed(ctx.alice, ctx.bob, 'live!');
    expect((await post(ctx.relay.url, live)).status).toBe(202);
    await c.until(() => c.messages().length === 4);
    const m = c.messages()[3];
    expect(m.id).toBe(await idOf(live));
    const opened = await P.openPacket(engine, ctx.bob, { recipient: m.recipient, message: m.message, signature: m.signature });
    expect(opened.content).toBe('live!');
    const frame = c.frames.filter((f) => f.type === 'messages').at(-1);
    expect(Object.keys(frame).sort()).toEqual(['cursor', 'messages', 'type']);

    // Other keys' messages and duplicates are not pushed.
    expect((await post(ctx.relay.url, shaped(ctx.alice))).status).toBe(202);
    expect((await post(ctx.relay.url, live)).status).toBe(200);
    c.ws.send('{"type":"ping"}');
    await c.until(() => c.frames.some((f) => f.type === 'pong'));
    expect(c.messages().length).toBe(4);
    c.close();
  });

  it('resumes after a cursor and serves several devices of one key', async () => {
    const carol = await keyPair();
    const first = shaped(carol);
    await post(ctx.relay.url, first);
    const d1 = await subscribe(carol);
    const cursor = d1.frames.find((f) => f.type === 'synced').cursor;
    const second = shaped(carol);
    await post(ctx.relay.url, second);
    await d1.until(() => d1.messages().length === 2);
    const d2 = await subscribe(carol, cursor);
    expect(d2.messages().map((m) => m.id)).toEqual([await idOf(second)]);
    const third = shaped(carol);
    await post(ctx.relay.url, third);
    await d1.until(() => d1.messages().length === 3);
    await d2.until(() => d2.messages().length === 2);
    d1.close();
    d2.close();
  });

  it('pages a large backlog and loses nothing posted while it streams', async () => {
    const dave = await keyPair();
    const before = Array.from({ length: 300 }, () => shaped(dave, 4096));
    await Promise.all(before.map((p) => post(ctx.relay.url, p)));
    const c = new WsClient(ctx.relay.url);
    await c.opened;
    c.ws.send(JSON.stringify(await P.signRetrieval(engine, dave, ctx.relay.id)));
    const during = Array.from({ length: 50 }, () => shaped(dave));
    await Promise.all(during.map((p) => post(ctx.relay.url, p)));
    await c.until(() => c.messages().length >= 350);
    const got = c.messages().map((m) => m.id);
    expect(new Set(got).size).toBe(350);
    const want = new Set(await Promise.all([...before, ...during].map(idOf)));
    for (const id of got) expect(want.has(id)).toBe(true);
    c.close();
  });

  it('gives subscribers that join during a burst every message exactly once, in order (pushes precede commits)', async () => {
    const erin = await keyPair();
    const burst = Array.from({ length: 600 }, () => shaped(erin));
    const posting = (async () => {
      for (let i = 0; i < burst.length; i += 150) await Promise.all(burst.slice(i, i + 150).map((p) => post(ctx.relay.url, p)));
    })();
    // Join at staggered moments: some find messages accepted but not yet committed.
    const subs: WsClient[] = [];
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setTimeout(r, 15 * i));
      const c = new WsClient(ctx.relay.url);
      await c.opened;
      c.ws.send(JSON.stringify(await P.signRetrieval(engine, erin, ctx.relay.id)));
      subs.push(c);
    }
    await posting;
    const want = await Promise.all(burst.map(idOf));
    for (const c of subs) {
      await c.until(() => c.messages().length >= want.length);
      const got = c.messages().map((m) => m.id);
      expect(got.length).toBe(want.length);
      expect(new Set(got)).toEqual(new Set(want));
      const cursors = c.frames.filter((f) => f.type === 'messages').map((f) => Number(f.cursor));
      expect(cursors).toEqual([...cursors].sort((a, b) => a - b));
      c.close();
    }
  });

  it('never reuses a cursor it pushed, even when killed before the commit', async () => {
    const fred = await keyPair();
    const r1 = await startRelay({ args: ['--rate-limit', '0'] });
    let r2: RelayProcess | undefined;
    try {
      const c = new WsClient(r1.url);
      await c.opened;
      c.ws.send(JSON.stringify(await P.signRetrieval(engine, fred, r1.id)));
      await c.until(() => c.frames.some((f) => f.type === 'synced'));
      const burst = Array.from({ length: 100 }, () => shaped(fred));
      void Promise.all(burst.map((p) => post(r1.url, p).catch(() => undefined)));
      await c.until(() => c.messages().length > 0);
      await r1.stop('SIGKILL');
      const last = c.frames.filter((f) => f.type === 'messages').at(-1).cursor as string;
      r2 = await startRelay({ dataDir: r1.dataDir, port: r1.port, args: ['--rate-limit', '0'] });
      const d = new WsClient(r2.url);
      await d.opened;
      d.ws.send(JSON.stringify(await P.signRetrieval(engine, fred, r2.id, { after: last })));
      await d.until(() => d.frames.some((f) => f.type === 'synced'));
      // A message after the restart must reach a client resuming from the last pushed cursor.
      const fresh = shaped(fred);
      expect((await post(r2.url, fresh)).status).toBe(202);
      const id = await idOf(fresh);
      await d.until(() => d.messages().some((m) => m.id === id));
      d.close();
    } finally {
      await cleanup(r2 ?? r1);
    }
  });

  it('shows subscribers on /v1/status and /metrics', async () => {
    const c = await subscribe(ctx.alice);
    const s = (await (await fetch(`${ctx.relay.url}/v1/status`)).json()) as { subscribers: number };
    expect(s.subscribers).toBeGreaterThanOrEqual(1);
    expect(await (await fetch(`${ctx.relay.url}/metrics`)).text()).toMatch(/relay_push_subscribers [1-9]/);
    c.close();
  });
});
