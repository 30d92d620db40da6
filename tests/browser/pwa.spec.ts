import { expect, test, type Browser, type BrowserContext, type Page } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { bubble, createIdentity, inviteLink, openChat, route, send, SHOTS } from './app.ts';
import { startMesh, type Relay } from './relays.ts';

/**
 * Two people, two browser contexts, two real relays peered with each other.
 * Alice's app is served by relay A and Bob's by relay B; after exchanging
 * invites each knows both relays and sends through one, receives from the other.
 */
test.describe.configure({ mode: 'serial' });

let relays: Relay[] = [];
let A: string;
let B: string;
let alice: Page;
let bob: Page;
let actx: BrowserContext;
let bctx: BrowserContext;
const errors: string[] = [];

async function newUser(browser: Browser): Promise<{ ctx: BrowserContext; page: Page }> {
  const ctx = await browser.newContext({ viewport: { width: 1200, height: 760 } });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/net::ERR_|Failed to load resource|WebSocket connection/.test(m.text())) errors.push(m.text());
  });
  return { ctx, page };
}

test.beforeAll(async ({ browser }) => {
  relays = await startMesh(2);
  [A, B] = [relays[0]!.url, relays[1]!.url];
  ({ ctx: actx, page: alice } = await newUser(browser));
  ({ ctx: bctx, page: bob } = await newUser(browser));
});

test.afterAll(async () => {
  await actx?.close();
  await bctx?.close();
  await Promise.all(relays.map((r) => r.stop()));
});

test('both create identities; onboarding shows progress', async () => {
  await alice.goto(`${A}/`);
  await expect(alice.getByRole('heading', { name: 'Meshchat' })).toBeVisible();
  await alice.screenshot({ path: `${SHOTS}/onboarding.png` });
  await createIdentity(alice, A, 'Alice');
  await createIdentity(bob, B, 'Bob');
  await alice.screenshot({ path: `${SHOTS}/home-empty.png` });
});

test('they exchange invite links (pasted, and opened as a link)', async () => {
  const aliceLink = await inviteLink(alice);
  expect(aliceLink.startsWith(`${A}/#/invite?`)).toBe(true);
  await alice.screenshot({ path: `${SHOTS}/invite-qr.png` });

  // Bob pastes Alice's link into "Add contact".
  await bob.getByRole('link', { name: 'Add contact' }).first().click();
  await bob.getByTestId('invite-input').fill(aliceLink);
  await expect(bob.getByLabel('Name')).toHaveValue('Alice');
  await expect(bob.getByTestId('safety-code')).toHaveText(/^(\d{5} ){11}\d{5}$/);
  await bob.screenshot({ path: `${SHOTS}/add-contact.png` });
  await bob.getByRole('button', { name: 'Add contact' }).click();
  await expect(bob.getByTestId('chat-name')).toHaveText('Alice');

  // Alice opens Bob's invite as a link in her app (the fragment carries everything).
  const bobLink = await inviteLink(bob);
  const fragment = bobLink.slice(bobLink.indexOf('#'));
  await alice.goto(`${A}/${fragment}`);
  await expect(alice.getByText('You opened an invite from Bob')).toBeVisible();
  await alice.getByRole('button', { name: 'Add contact' }).click();
  await expect(alice.getByTestId('chat-name')).toHaveText('Bob');

  // The safety codes each side shows match the other's own.
  const bobCode = await bob.getByTestId('my-safety-code').textContent();
  await alice.getByRole('link', { name: /contact details/ }).click();
  await expect(alice.getByTestId('safety-code')).toHaveText(bobCode!);
});

test('each sends through one relay and receives from the other', async () => {
  // Invites carried each other's relay, so both know A and B now.
  await expect
    .poll(async () => {
      const r = await route(alice);
      return r.tx !== r.rx && [A, B].includes(r.tx) && [A, B].includes(r.rx);
    })
    .toBe(true);
  await expect
    .poll(async () => {
      const r = await route(bob);
      return r.tx !== r.rx && [A, B].includes(r.tx) && [A, B].includes(r.rx);
    })
    .toBe(true);
  await expect(alice.getByTestId('relay')).toHaveCount(2);
  await alice.screenshot({ path: `${SHOTS}/settings.png` });
});

test('a relay added under a second address is known as the same relay, and never receives for the one it sends for', async () => {
  const other = A.replace('127.0.0.1', 'localhost');
  await alice.getByLabel('Relay URL').fill(other);
  await alice.getByRole('button', { name: 'Add relay' }).click();
  await expect(alice.getByTestId('relay').filter({ hasText: other }).getByTestId('same-relay')).toHaveText(`same relay as ${A}`, { timeout: 20_000 });
  await alice.getByRole('button', { name: 'Check now' }).click();
  await expect(alice.getByRole('button', { name: 'Check now' })).toBeEnabled();
  const r = await route(alice);
  // A and its second address are one relay: TX and RX are still A and B, one each.
  expect([r.tx, r.rx].map((u) => (u === other ? A : u)).sort()).toEqual([A, B].sort());
  await alice.getByTestId('relay').filter({ hasText: other }).getByRole('button', { name: 'Remove' }).click();
  await expect(alice.getByTestId('relay')).toHaveCount(2);
});

test('they chat both ways', async () => {
  await openChat(alice, 'Bob');
  await send(alice, 'Hi Bob! This is end-to-end encrypted.');
  await expect(bubble(alice, 'Hi Bob!', 'out')).toBeVisible();
  await expect(bob.getByTestId('conversation').filter({ hasText: 'Alice' })).toContainText('Hi Bob!', { timeout: 30_000 });
  await openChat(bob, 'Alice');
  await expect(bubble(bob, 'Hi Bob! This is end-to-end encrypted.', 'in')).toBeVisible();
  await send(bob, 'Hello Alice 👋\nTwo lines, one message.');
  await expect(bubble(alice, 'Hello Alice 👋', 'in')).toBeVisible({ timeout: 30_000 });
  await send(alice, 'Lunch tomorrow?');
  await expect(bubble(bob, 'Lunch tomorrow?', 'in')).toBeVisible({ timeout: 30_000 });
  // Sent = accepted by the TX relay.
  await expect(bubble(alice, 'Lunch tomorrow?', 'out').locator('[data-state]')).toHaveAttribute('data-state', /sent|delivered|read/);
});

test('delivery: the sender sees its self-copy come back through its RX relay', async () => {
  // The self-copy is posted to the TX relay and read back from the RX relay:
  // that crossing is the mesh's work.
  await expect(bubble(alice, 'Lunch tomorrow?', 'out').locator('[data-state]')).toHaveAttribute('data-state', /delivered|read/, { timeout: 30_000 });
  await expect(bubble(bob, 'Hello Alice', 'out').locator('[data-state]')).toHaveAttribute('data-state', /delivered|read/, { timeout: 30_000 });
  await alice.screenshot({ path: `${SHOTS}/chat-desktop.png` });
  await alice.emulateMedia({ colorScheme: 'dark' });
  await alice.screenshot({ path: `${SHOTS}/chat-dark.png` });
  await alice.emulateMedia({ colorScheme: 'light' });
});

test('a second tab of the same user stays in step; one tab runs the connection', async () => {
  const tab2 = await actx.newPage();
  await tab2.goto(`${A}/`);
  // The tab the user turned to last runs the device's connection; the first one shows its state.
  await expect(tab2.getByTestId('connection')).toHaveAttribute('data-engine', 'here');
  await expect(alice.getByTestId('connection')).toHaveAttribute('data-engine', 'other-tab');
  await expect(alice.getByTestId('connection')).toHaveText(/Live|Polling/);
  // From here the first tab sends nothing of its own to any relay: no subscription, retrieval or cover traffic.
  const quiet: string[] = [];
  const spy = (what: { url(): string }) => quiet.push(what.url());
  alice.on('request', (r) => /\/v1\//.test(r.url()) && spy(r));
  alice.on('websocket', spy);
  await openChat(tab2, 'Bob');
  await expect(bubble(tab2, 'Lunch tomorrow?', 'out')).toBeVisible();
  await send(bob, 'Seen in both tabs?');
  await expect(bubble(alice, 'Seen in both tabs?', 'in')).toBeVisible({ timeout: 30_000 });
  await expect(bubble(tab2, 'Seen in both tabs?', 'in')).toBeVisible({ timeout: 30_000 });
  await expect(bubble(tab2, 'Seen in both tabs?', 'in')).toHaveCount(1);
  // Written in the quiet tab, sent by the one that runs the connection.
  await send(alice, 'Typed in the first tab');
  await expect(bubble(bob, 'Typed in the first tab', 'in')).toBeVisible({ timeout: 30_000 });
  await expect(bubble(alice, 'Typed in the first tab', 'out').locator('[data-state]')).toHaveAttribute('data-state', /sent|delivered|read/, { timeout: 30_000 });
  expect(quiet).toEqual([]);
  // Turning to a tab moves the connection there.
  const turnTo = (page: Page) => page.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
  await turnTo(alice);
  await expect(alice.getByTestId('connection')).toHaveAttribute('data-engine', 'here');
  await expect(tab2.getByTestId('connection')).toHaveAttribute('data-engine', 'other-tab');
  await send(bob, 'After switching tabs');
  await expect(bubble(tab2, 'After switching tabs', 'in')).toBeVisible({ timeout: 30_000 });
  await turnTo(tab2);
  await expect(tab2.getByTestId('connection')).toHaveAttribute('data-engine', 'here');
  // A notification clicked opens its conversation in the tab that runs the
  // connection (where a call would ring), whichever the browser thinks is
  // focused. The click is dispatched inside the service worker: a real one
  // needs the OS.
  await actx.grantPermissions(['notifications'], { origin: A });
  const chatRoute = new URL(tab2.url()).hash;
  const clickNotificationWith = async (engineTab: Page, otherTab: Page) => {
    for (const p of [alice, tab2]) {
      await p.getByRole('link', { name: 'Settings' }).click();
      await expect(p.getByRole('heading', { name: 'Your route' })).toBeVisible();
    }
    // Each click above turned to its tab and moved the connection (headless,
    // every page counts as focused): let it settle, then turn to the one that should have it.
    const engines = () => Promise.all([alice, tab2].map((p) => p.getByTestId('connection').getAttribute('data-engine')));
    await expect.poll(async () => (await engines()).sort()).toEqual(['here', 'other-tab']);
    await turnTo(engineTab);
    await expect(engineTab.getByTestId('connection')).toHaveAttribute('data-engine', 'here');
    await expect(otherTab.getByTestId('connection')).toHaveAttribute('data-engine', 'other-tab');
    await alice.evaluate(async (open) => (await navigator.serviceWorker.ready).showNotification('Bob', { tag: 'click-test', data: { type: 'open', open } }), chatRoute);
    await actx.serviceWorkers()[0]!.evaluate(async () => {
      const g = globalThis as unknown as { registration: ServiceWorkerRegistration; NotificationEvent: new (type: string, init: { notification: Notification }) => Event };
      const [n] = await g.registration.getNotifications({ tag: 'click-test' });
      // The handler's waitUntil throws for an event the page made; its work is already under way.
      globalThis.dispatchEvent(new g.NotificationEvent('notificationclick', { notification: n! }));
    });
    await expect.poll(() => new URL(engineTab.url()).hash).toBe(chatRoute);
    expect(new URL(otherTab.url()).hash).toBe('#/settings');
  };
  await clickNotificationWith(tab2, alice);
  await clickNotificationWith(alice, tab2);
  await turnTo(tab2);
  await expect(tab2.getByTestId('connection')).toHaveAttribute('data-engine', 'here');
  // Closing the tab that ran it hands the connection back.
  await tab2.close();
  await expect(alice.getByTestId('connection')).toHaveAttribute('data-engine', 'here');
  await send(bob, 'Back to one tab');
  await expect(bubble(alice, 'Back to one tab', 'in')).toBeVisible({ timeout: 30_000 });
});

test('notifications in the background: who wrote, and the text only when asked', async () => {
  await actx.grantPermissions(['notifications'], { origin: A });
  await alice.goto(`${A}/#/settings`);
  await expect(alice.getByTestId('notify-preview')).toBeDisabled();
  await alice.getByTestId('notify').check();
  await expect(alice.getByTestId('notify-preview')).toBeEnabled();
  // The page as the browser reports it when its tab is in the background.
  const background = (on: boolean) =>
    alice.evaluate((hidden) => {
      if (hidden) Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
      else delete (document as unknown as Record<string, unknown>).visibilityState;
      document.dispatchEvent(new Event('visibilitychange'));
    }, on);
  const shown = () => alice.evaluate(async () => (await (await navigator.serviceWorker.ready).getNotifications()).map((n) => `${n.title}: ${n.body}`));
  await background(true);
  await send(bob, 'Are you there?');
  // Delivered first (a failure here is delivery, below it is the notification).
  await expect(alice.getByTestId('conversation').filter({ hasText: 'Bob' })).toContainText('Are you there?', { timeout: 30_000 });
  await expect.poll(shown, { timeout: 30_000 }).toEqual(['Bob: New message']);
  await alice.getByTestId('notify-preview').check();
  await send(bob, 'Still there?');
  // One per conversation: the newer message replaces the older one.
  await expect.poll(shown, { timeout: 30_000 }).toEqual(['Bob: Still there?']);
  await background(false);
  await alice.evaluate(async () => (await (await navigator.serviceWorker.ready).getNotifications()).forEach((n) => n.close()));
  // While she is looking, nothing is shown.
  await send(bob, 'Looking now');
  await expect(alice.getByTestId('conversation').filter({ hasText: 'Bob' })).toContainText('Looking now', { timeout: 30_000 });
  expect(await shown()).toEqual([]);
  await alice.getByTestId('notify').uncheck();
  await expect(alice.getByTestId('notify-preview')).toBeDisabled();
  await openChat(alice, 'Bob');
});

test('markup in a message is shown as text, never run', async () => {
  const evil = '<img src=x onerror="window.__pwned=1"><b>bold?</b>';
  await send(alice, evil);
  const got = bubble(bob, '<img src=x', 'in');
  await expect(got).toBeVisible({ timeout: 30_000 });
  await expect(got.locator('p.text')).toHaveText(evil);
  expect(await got.locator('img, b').count()).toBe(0);
  expect(await bob.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
});

test('a contact with a picture', async () => {
  await bob.getByRole('link', { name: /contact details/ }).click();
  await bob.getByTestId('picture-input').setInputFiles({ name: 'alice.png', mimeType: 'image/png', buffer: readFileSync('static/icon-512.png') });
  await expect(bob.locator('.pp img.avatar')).toBeVisible();
  await bob.getByLabel('Name').fill('Alice Liddell');
  await bob.getByRole('button', { name: 'Save' }).click();
  await expect(bob.getByRole('status').filter({ hasText: 'Saved' })).toBeVisible();
  await bob.screenshot({ path: `${SHOTS}/contact.png` });
  const row = bob.getByTestId('conversation').filter({ hasText: 'Alice Liddell' });
  await expect(row.locator('img.avatar')).toBeVisible();
  // Stored as a small resized blob, and it survives a reload.
  await bob.reload();
  await expect(bob.getByTestId('conversation').filter({ hasText: 'Alice Liddell' }).locator('img.avatar')).toBeVisible();
  const img = bob.getByTestId('conversation').filter({ hasText: 'Alice Liddell' }).locator('img.avatar');
  await expect.poll(() => img.evaluate((i: HTMLImageElement) => i.complete && i.naturalWidth)).toBe(256);
  expect(await img.evaluate((i: HTMLImageElement) => i.naturalHeight)).toBe(256);
  expect(await img.getAttribute('src')).toMatch(/^blob:/);
});

test('the manifest is valid and the service worker is active', async () => {
  const sw = await bob.evaluate(async () => {
    const reg = await navigator.serviceWorker.ready;
    return { state: reg.active?.state, scope: reg.scope };
  });
  expect(sw.state).toBe('activated');
  expect(sw.scope).toBe(`${B}/`);
  const href = await bob.locator('link[rel="manifest"]').getAttribute('href');
  const res = await bob.request.get(new URL(href!, B).toString());
  expect(res.ok()).toBe(true);
  const m = await res.json();
  expect(m).toMatchObject({ name: expect.any(String), short_name: 'Meshchat', display: 'standalone', start_url: expect.any(String), theme_color: expect.stringMatching(/^#[0-9a-f]{6}$/i) });
  for (const size of [192, 512])
    for (const purpose of ['any', 'maskable']) {
      const icon = m.icons.find((i: { sizes: string; purpose: string }) => i.sizes === `${size}x${size}` && i.purpose === purpose);
      expect(icon, `${size} ${purpose}`).toBeTruthy();
      const dims = await bob.evaluate(async (src) => {
        const r = await fetch(src);
        const bmp = await createImageBitmap(await r.blob());
        return [r.headers.get('content-type'), bmp.width, bmp.height];
      }, new URL(icon.src, new URL(href!, B)).toString());
      expect(dims).toEqual(['image/png', size, size]);
    }
});

test('before its code loads the page says it is opening; without JavaScript it says why nothing happens', async ({ browser }) => {
  // The app replaced the placeholder once it started.
  await expect(alice.locator('#splash')).toHaveCount(0);
  const html = await (await fetch(`${A}/`)).text();
  expect(html).toMatch(/<p id="splash" role="status">Opening…<\/p>/);
  const ctx = await browser.newContext({ javaScriptEnabled: false });
  try {
    const page = await ctx.newPage();
    await page.goto(`${A}/`);
    // (Playwright's text locators skip <noscript>; the rendered text does not.)
    expect(await page.locator('body').innerText()).toContain('needs JavaScript to encrypt and decrypt');
    await expect(page.locator('#splash')).toBeHidden();
  } finally {
    await ctx.close();
  }
});

test('offline: reload still shows the history; messages written offline are queued and sent later', async () => {
  await openChat(bob, 'Alice Liddell');
  await expect.poll(() => bob.evaluate(() => !!navigator.serviceWorker.controller)).toBe(true);
  await bctx.setOffline(true);
  await bob.reload();
  await expect(bob.getByTestId('chat-name')).toHaveText('Alice Liddell');
  await expect(bubble(bob, 'Hi Bob! This is end-to-end encrypted.', 'in')).toBeVisible();
  await expect(bubble(bob, 'Lunch tomorrow?', 'in')).toBeVisible();
  // "You are offline" when the browser knows; "No relay answers" when it does not (Chromium 150 forgets emulated offline across a reload).
  await expect(bob.locator('p.offline')).toBeVisible();
  await send(bob, 'Written on the train, no signal.');
  await expect(bubble(bob, 'Written on the train', 'out').locator('[data-state]')).toHaveAttribute('data-state', 'queued');
  await bob.screenshot({ path: `${SHOTS}/offline.png` });
  await bctx.setOffline(false);
  await expect(bubble(alice, 'Written on the train, no signal.', 'in')).toBeVisible({ timeout: 30_000 });
  await expect(bubble(bob, 'Written on the train', 'out').locator('[data-state]')).toHaveAttribute('data-state', /sent|delivered|read/);
});

test('phone width (360 px): list, then chat with a back button', async () => {
  await alice.setViewportSize({ width: 360, height: 740 });
  await alice.goto(`${A}/#/`);
  await expect(alice.getByTestId('conversation').first()).toBeVisible();
  await alice.screenshot({ path: `${SHOTS}/phone-list.png` });
  await openChat(alice, 'Bob');
  await expect(alice.getByRole('link', { name: 'Back to chats' })).toBeVisible();
  // No horizontal scrolling at phone width.
  expect(await alice.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
  await alice.screenshot({ path: `${SHOTS}/phone-chat.png` });
  // Keyboard: type and send with Enter.
  await alice.getByLabel(/^Message to /).focus();
  await alice.keyboard.type('Sent with the Enter key');
  await alice.keyboard.press('Enter');
  await expect(bubble(alice, 'Sent with the Enter key', 'out')).toBeVisible();
  await alice.getByRole('link', { name: 'Back to chats' }).click();
  await expect(alice.getByTestId('conversation').first()).toBeVisible();
  // The other screens fit too: nothing wider than the phone inside the scrolling pane.
  for (const [link, heading] of [['My profile and invite link', 'Your invite'], ['Settings', 'Your route']] as const) {
    await alice.goto(`${A}/#/`);
    await alice.getByRole('link', { name: link }).click();
    await expect(alice.getByRole('heading', { name: heading })).toBeVisible();
    expect(await alice.locator('main.detail').evaluate((el) => el.scrollWidth <= el.clientWidth)).toBe(true);
    await alice.screenshot({ path: `${SHOTS}/phone-${link === 'Settings' ? 'settings' : 'me'}.png` });
  }
});

test('a relay goes down: both move to the surviving relay and keep talking', async () => {
  await alice.setViewportSize({ width: 1200, height: 760 });
  await relays[1]!.stop(); // relay B: Bob's origin; TX or RX for each of them
  // Bob's app keeps running from the service worker's cached shell.
  await openChat(alice, 'Bob');
  await send(alice, 'Are you still there after B went down?');
  await expect(bubble(alice, 'Are you still there', 'out').locator('[data-state]')).toHaveAttribute('data-state', /sent|delivered|read/, { timeout: 60_000 });
  await expect(bubble(bob, 'Are you still there', 'in')).toBeVisible({ timeout: 60_000 });
  await send(bob, 'Still here, through A only.');
  await expect(bubble(alice, 'Still here, through A only.', 'in')).toBeVisible({ timeout: 60_000 });
  const r = await route(bob);
  expect(r).toEqual({ tx: A, rx: A });
  await expect(bob.getByText('Only one relay is reachable')).toBeVisible();
});

test('no unexpected page errors', () => {
  expect(errors).toEqual([]);
});
