import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as P from '../../protocol/index.ts';
import { cleanup, engine, idOf, keyPair, type KeyPair, post, type RelayProcess, sealed, shaped, startRelay, WsClient } from './harness.ts';

let relay: RelayProcess;
let alice: KeyPair;
let bob: KeyPair;

beforeAll(async () => {
  [alice, bob] = await Promise.all([keyPair(), keyPair()]);
  relay = await startRelay({ args: ['--rate-limit', '0'] });
});
afterAll(() => cleanup(relay));

async function subscribe(k: KeyPair, after?: string): Promise<WsClient> {
  const c = new WsClient(relay.url);
  await c.opened;
  c.ws.send(JSON.stringify(await P.signRetrieval(engine, k, relay.id, after === undefined ? {} : { after })));
  await c.until(() => c.frames.some((f) => f.type === 'synced'));
  return c;
}

describe('GET /v1/subscribe', () => {
  it('sends the backlog, then "synced", then each new message as it is committed', async () => {
    const backlog = [await sealed(alice, bob, 'one'), shaped(bob), shaped(bob)];
    for (const p of backlog) expect((await post(relay.url, p)).status).toBe(202);
    const c = await subscribe(bob);
    const ids = await Promise.all(backlog.map(idOf));
    expect(c.messages().map((m) => m.id)).toEqual(ids);
    const synced = c.frames.find((f) => f.type === 'synced');
    expect(synced.cursor).toBe(c.frames.filter((f) => f.type === 'messages').at(-1).cursor);

    const live = await sealed(alice, bob, 'live!');
    expect((await post(relay.url, live)).status).toBe(202);
    await c.until(() => c.messages().length === 4);
    const m = c.messages()[3];
    expect(m.id).toBe(await idOf(live));
    const opened = await P.openPacket(engine, bob, { recipient: m.recipient, message: m.message, signature: m.signature });
    expect(opened.content).toBe('live!');
    const frame = c.frames.filter((f) => f.type === 'messages').at(-1);
    expect(Object.keys(frame).sort()).toEqual(['cursor', 'messages', 'type']);

    // Other keys' messages and duplicates are not pushed.
    expect((await post(relay.url, shaped(alice))).status).toBe(202);
    expect((await post(relay.url, live)).status).toBe(200);
    c.ws.send('{"type":"ping"}');
    await c.until(() => c.frames.some((f) => f.type === 'pong'));
    expect(c.messages().length).toBe(4);
    c.close();
  });

  it('resumes after a cursor and serves several devices of one key', async () => {
    const carol = await keyPair();
    const first = shaped(carol);
    await post(relay.url, first);
    const d1 = await subscribe(carol);
    const cursor = d1.frames.find((f) => f.type === 'synced').cursor;
    const second = shaped(carol);
    await post(relay.url, second);
    await d1.until(() => d1.messages().length === 2);
    const d2 = await subscribe(carol, cursor);
    expect(d2.messages().map((m) => m.id)).toEqual([await idOf(second)]);
    const third = shaped(carol);
    await post(relay.url, third);
    await d1.until(() => d1.messages().length === 3);
    await d2.until(() => d2.messages().length === 2);
    d1.close();
    d2.close();
  });

  it('pages a large backlog and loses nothing posted while it streams', async () => {
    const dave = await keyPair();
    const before = Array.from({ length: 300 }, () => shaped(dave, 4096));
    await Promise.all(before.map((p) => post(relay.url, p)));
    const c = new WsClient(relay.url);
    await c.opened;
    c.ws.send(JSON.stringify(await P.signRetrieval(engine, dave, relay.id)));
    const during = Array.from({ length: 50 }, () => shaped(dave));
    await Promise.all(during.map((p) => post(relay.url, p)));
    await c.until(() => c.messages().length >= 350);
    const got = c.messages().map((m) => m.id);
    expect(new Set(got).size).toBe(350);
    const want = new Set(await Promise.all([...before, ...during].map(idOf)));
    for (const id of got) expect(want.has(id)).toBe(true);
    c.close();
  });

  it('shows subscribers on /v1/status and /metrics', async () => {
    const c = await subscribe(alice);
    const s = (await (await fetch(`${relay.url}/v1/status`)).json()) as { subscribers: number };
    expect(s.subscribers).toBeGreaterThanOrEqual(1);
    expect(await (await fetch(`${relay.url}/metrics`)).text()).toMatch(/relay_push_subscribers [1-9]/);
    c.close();
  });
});
