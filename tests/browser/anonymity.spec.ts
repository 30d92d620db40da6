import { expect, test, type BrowserContext, type Page } from '@playwright/test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bubble, createIdentity, openChat, send } from './app.ts';
import { addContact, clearRecords, newUser, records, setCover, settings, shape, type Rec } from './privacy-helpers.ts';
import { startMesh, type Relay } from './relays.ts';

/**
 * What relays see of a client, from the relays' own debug record
 * (--debug-record-addresses: address, method, path, Content-Length and header
 * names of every request): (a) cover traffic has exactly the shapes of real
 * traffic; (b) with the dual proxy on, no relay serving message requests
 * ever sees the browser's address (127.0.0.1), only the proxies' outbound
 * addresses.
 */
test.describe.configure({ mode: 'serial' });

const dir = mkdtempSync(join(tmpdir(), 'meshchat-anon-'));
const errors: string[] = [];
const MESSAGE_ROUTES = ['post_messages', 'get_messages', 'delete_messages', 'subscribe'];
test.afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function coverSent(page: Page): Promise<{ post: number; get: number }> {
  const text = (await page.getByTestId('cover-cost').textContent()) ?? '';
  const m = /Sent this session: (\d+) fake messages, (\d+) fake checks/.exec(text);
  return { post: Number(m?.[1] ?? 0), get: Number(m?.[2] ?? 0) };
}

test('(a) a relay cannot tell cover traffic from real traffic by size, endpoint or headers', async ({ browser }) => {
  test.setTimeout(110_000);
  const recs = [0, 1].map((i) => join(dir, `a-${i}.jsonl`));
  const relays: Relay[] = await startMesh(2, (i) => ['--debug-record-addresses', recs[i]!]);
  const contexts: BrowserContext[] = [];
  try {
    const a = await newUser(browser, errors);
    const b = await newUser(browser, errors);
    contexts.push(a.ctx, b.ctx);
    await createIdentity(a.page, relays[0]!.url, 'Alice');
    await createIdentity(b.page, relays[1]!.url, 'Bob');
    await addContact(b.page, a.page, 'Alice');
    await addContact(a.page, b.page, 'Bob');
    // Only Alice's traffic from here on: Bob's device goes away (its messages stay on the relays).
    await b.ctx.close();
    await setCover(a.page, 'off');

    // Phase 1: real traffic only.
    const all = (): Rec[] => recs.flatMap(records).filter((r) => r.route === 'post_messages' || r.route === 'get_messages');
    recs.forEach(clearRecords);
    // The messages are written in a second tab while the first runs the
    // connection, so the first sends them; its fakes must take their sizes
    // (one is bigger), also after the reload below.
    const tab2 = await a.ctx.newPage();
    await tab2.goto(`${relays[0]!.url}/`);
    await openChat(tab2, 'Bob');
    await a.page.evaluate(() => document.dispatchEvent(new Event('visibilitychange'))); // turn back to the first tab
    await expect(a.page.getByTestId('connection')).toHaveAttribute('data-engine', 'here');
    await expect(tab2.getByTestId('connection')).toHaveAttribute('data-engine', 'other-tab');
    const long = 'a longer message '.repeat(90);
    for (const t of ['hi', long, `${long}!`]) await send(tab2, t);
    await expect(bubble(tab2, 'message !', 'out').locator('[data-state]')).toHaveAttribute('data-state', /sent|delivered|read/);
    await tab2.close();
    await a.page.reload(); // a start polls the RX relay: real retrievals
    await expect.poll(() => all().filter((r) => r.route === 'get_messages').length).toBeGreaterThan(0);
    const real = all();
    const realPost = new Set(real.filter((r) => r.route === 'post_messages').map(shape));
    const realGet = new Set(real.filter((r) => r.route === 'get_messages').map(shape));
    expect(real.filter((r) => r.route === 'post_messages').length).toBeGreaterThanOrEqual(6); // 3 messages + 3 self-copies

    // Phase 2: cover traffic only (Alice idle, cover at its maximum rate).
    await setCover(a.page, 'max');
    // Settings prices the learned sizes: more than 1,200 smallest fakes an hour would cost
    // (1200 × (4400 + 1700) / 2 bytes = 3,574 KB, what it showed before sizes were learned).
    const kbPerHour = async (): Promise<number> => Number(/(\d+) KB per hour/.exec((await a.page.getByTestId('cover-cost').textContent()) ?? '')?.[1] ?? 0);
    await expect.poll(kbPerHour).toBeGreaterThan(3574);
    recs.forEach(clearRecords);
    const before = await coverSent(a.page);
    let fakePost = new Set<string>();
    let fakeGet = new Set<string>();
    await expect
      .poll(
        async () => {
          const now = all();
          fakePost = new Set(now.filter((r) => r.route === 'post_messages').map(shape));
          fakeGet = new Set(now.filter((r) => r.route === 'get_messages').map(shape));
          const sent = await coverSent(a.page);
          // Every fake shape must be a real shape at every moment.
          for (const s of [...fakePost].filter((x) => !realPost.has(x))) throw new Error(`fake POST with a shape no real POST has: ${s}; real: ${[...realPost].join(' | ')}`);
          for (const s of [...fakeGet].filter((x) => !realGet.has(x))) throw new Error(`fake GET with a shape no real GET has: ${s}; real: ${[...realGet].join(' | ')}`);
          // Fakes draw sizes from the recent real ones at random: wait for a bigger one, not for every one.
          return sent.post - before.post >= 3 && sent.get - before.get >= 3 && fakePost.size >= 2 && fakeGet.size === realGet.size;
        },
        { timeout: 60_000, intervals: [1000] },
      )
      .toBe(true);
    expect(realPost.size).toBe(3); // 1 KB packets, the long ones (2 KB) and their self-copies (4 KB: they carry the recipient's key)
    expect([...fakeGet].sort()).toEqual([...realGet].sort());
    // Header sets really are compared: a POST carries a body type, a GET the retrieval header.
    expect([...realPost][0]).toContain('content-type');
    expect([...realGet][0]).toContain('x-retrieval');
    await setCover(a.page, 'off');
  } finally {
    for (const c of contexts) await c.close().catch(() => {});
    await Promise.all(relays.map((r) => r.stop()));
  }
  expect(errors).toEqual([]);
});

test('(b) with the dual proxy on, TX and RX relays never see the client address', async ({ browser }) => {
  test.setTimeout(115_000);
  const recs = [0, 1, 2, 3].map((i) => join(dir, `b-${i}.jsonl`));
  // Every relay may be picked as a proxy, so each forwards from its own loopback address.
  const relays: Relay[] = await startMesh(4, (i) => ['--debug-record-addresses', recs[i]!, '--outbound-address', `127.0.0.${11 + i}`, '--gossip-interval', '1s']);
  const contexts: BrowserContext[] = [];
  try {
    const a = await newUser(browser, errors);
    const b = await newUser(browser, errors);
    contexts.push(a.ctx, b.ctx);
    await createIdentity(a.page, relays[0]!.url, 'Alice');
    await createIdentity(b.page, relays[1]!.url, 'Bob');
    await addContact(b.page, a.page, 'Alice');
    await addContact(a.page, b.page, 'Bob');
    for (const p of [a.page, b.page]) {
      await settings(p);
      await expect
        .poll(
          async () => {
            if ((await p.getByTestId('proxy-mode').getAttribute('data-mode')) === 'full') return true;
            await p.getByRole('button', { name: 'Check now' }).click();
            await expect(p.getByRole('button', { name: 'Check now' })).toBeEnabled();
            return false;
          },
          { timeout: 45_000, intervals: [1000] },
        )
        .toBe(true);
      const shown = await Promise.all(['tx', 'rx', 'tx-proxy', 'rx-proxy'].map((t) => p.getByTestId(t).textContent()));
      expect(new Set(shown).size).toBe(4);
      await expect(p.getByTestId('proxy-mode')).toContainText('four different relays');
    }
    // Reopened with nothing waiting: the relay holds the first retrieval, and it is short
    // (2 s, not 10) so that the app can tell it is live within seconds.
    await b.page.reload();
    await expect(b.page.getByRole('status').filter({ hasText: /^Live$/ })).toBeVisible({ timeout: 5_000 });
    const bobRx = (await b.page.getByTestId('rx').textContent())!.trim();

    recs.forEach(clearRecords);
    await a.page.goto(`${relays[0]!.url}/#/`);
    await openChat(a.page, 'Bob');
    await send(a.page, 'via two proxies');
    await b.page.goto(`${relays[1]!.url}/#/`);
    // No WebSocket goes through a proxy: Bob's RX relay holds his retrieval (long poll) and answers it when a message comes.
    await expect.poll(async () => ((await (await fetch(`${bobRx}/v1/status`)).json()) as { long_polls: number }).long_polls, { timeout: 20_000 }).toBeGreaterThan(0);
    await expect(b.page.getByRole('status').filter({ hasText: /^Live$/ })).toBeVisible();
    await expect(b.page.getByTestId('conversation').filter({ hasText: 'Alice' })).toContainText('via two proxies', { timeout: 40_000 });
    await openChat(b.page, 'Alice');
    await send(b.page, 'and back');
    await expect(bubble(a.page, 'and back', 'in')).toBeVisible({ timeout: 40_000 });

    const seen = recs.map(records);
    const all = seen.flat();
    // No relay served a message request (send, fetch, subscribe) to the browser's address…
    const leaked = all.filter((r) => MESSAGE_ROUTES.includes(r.route) && r.remote_address === '127.0.0.1');
    expect(leaked).toEqual([]);
    // …they came in as forwards from the proxies' outbound addresses…
    const forwarded = all.filter((r) => r.route === 'forwarded');
    expect(forwarded.length).toBeGreaterThan(2);
    for (const r of forwarded) expect(r.remote_address).toMatch(/^127\.0\.0\.1[1-4]$/);
    // Status and server-list checks of the TX and RX relays go through the TX proxy as well
    // (a direct check would show them the address after all).
    // Bob's app, from the same loopback address, checks its own proxies directly; park it meanwhile.
    await b.page.goto('about:blank');
    recs.forEach(clearRecords);
    await settings(a.page);
    const [txUrl, rxUrl] = (await Promise.all(['tx', 'rx'].map(async (t) => (await a.page.getByTestId(t).textContent())!.trim()))) as [string, string];
    await a.page.getByRole('button', { name: 'Check now' }).click();
    await expect(a.page.getByRole('button', { name: 'Check now' })).toBeEnabled();
    const recOf = (url: string): Rec[] => records(recs[relays.findIndex((r) => r.url === url)]!);
    for (const url of [txUrl, rxUrl]) {
      const checks = recOf(url).filter((r) => r.route === 'status' || r.route === 'servers');
      expect(checks.filter((r) => r.remote_address === '127.0.0.1')).toEqual([]);
    }
    expect(recOf(txUrl).concat(recOf(rxUrl)).filter((r) => r.route === 'forwarded').length).toBeGreaterThan(0);
    await a.page.goto(`${relays[0]!.url}/#/`);
    await b.page.goto(`${relays[1]!.url}/#/`);
    await openChat(b.page, 'Alice');

    // …and the browser talked to proxies only through /v1/forward, whose bodies are bucket-sized envelopes.
    const forwards = all.filter((r) => r.route === 'forward');
    expect(forwards.every((r) => r.remote_address === '127.0.0.1')).toBe(true);
    expect(new Set(forwards.map((r) => r.content_length)).size).toBeLessThanOrEqual(4);

    // Control: the same check catches a client that talks to its relays directly.
    await settings(a.page);
    await a.page.getByTestId('proxy-toggle').uncheck();
    await expect(a.page.getByTestId('proxy-mode')).toHaveAttribute('data-mode', 'off');
    recs.forEach(clearRecords);
    await a.page.goto(`${relays[0]!.url}/#/`);
    await openChat(a.page, 'Bob');
    await send(a.page, 'direct this time');
    await expect(bubble(b.page, 'direct this time', 'in')).toBeVisible({ timeout: 40_000 });
    expect(recs.flatMap(records).filter((r) => MESSAGE_ROUTES.includes(r.route) && r.remote_address === '127.0.0.1').length).toBeGreaterThan(0);

    // Bob's held retrieval dies on the network once (a laptop waking, a network change): he retries
    // instead of blaming his RX proxy, so his route stays, and mail still reaches him.
    await settings(b.page);
    const routeOf = () => Promise.all(['tx', 'rx', 'tx-proxy', 'rx-proxy'].map(async (t) => (await b.page.getByTestId(t).textContent())!.trim()));
    const before = await routeOf();
    let cut = 0;
    await b.page.route(`${before[3]}/v1/forward`, (r) => (cut++ === 0 ? r.abort('internetdisconnected') : r.continue()));
    await expect.poll(() => cut, { timeout: 30_000 }).toBeGreaterThan(1);
    expect(await routeOf()).toEqual(before);
    await b.page.goto(`${relays[1]!.url}/#/`);
    await send(a.page, 'after the blip');
    await expect(b.page.getByTestId('conversation').filter({ hasText: 'Alice' })).toContainText('after the blip', { timeout: 40_000 });

    // A held retrieval stuck on a connection that died silently (no answer, no error: a laptop
    // asleep, a NAT that forgot it) is called off when the browser comes back online, so mail
    // arrives at once rather than at the request's 20 s deadline. Cover traffic off, so the
    // forward that hangs at Bob's RX proxy is his real retrieval, and 'online' follows at once.
    // (No reload from here on: a fresh start may choose another route.)
    await setCover(b.page, 'off');
    await b.page.unroute(`${before[3]}/v1/forward`);
    const rxProxy = (await routeOf())[3];
    let hung = 0;
    await b.page.route(`${rxProxy}/v1/forward`, (r) => (hung++ === 0 ? undefined : r.continue()));
    await expect.poll(() => hung, { timeout: 30_000 }).toBeGreaterThan(0);
    await b.page.evaluate(() => dispatchEvent(new Event('online')));
    await send(a.page, 'back online');
    await expect(b.page.getByTestId('conversation').filter({ hasText: 'Alice' })).toContainText('back online', { timeout: 10_000 });
  } finally {
    for (const c of contexts) await c.close();
    await Promise.all(relays.map((r) => r.stop()));
  }
  expect(errors).toEqual([]);
});
