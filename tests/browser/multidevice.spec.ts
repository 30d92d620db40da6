import { expect, test, type BrowserContext, type Page } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { bubble, createIdentity, exportBackup, importBackup, openChat, send } from './app.ts';
import { addContact, newUser, settings } from './privacy-helpers.ts';
import { freePort, startMesh, startRelay, type Relay } from './relays.ts';

/**
 * (c) One person on two devices (the second logs in with the first's backup)
 * and a contact: both devices end up with the same conversation (sent and
 * received, from either device) and the same contact list, through cursor
 * retrieval, self-copies and self-addressed sync messages.
 * (d) Client-side drop detection against the test-only dropping relay.
 */
const errors: string[] = [];

/** The conversation as [direction, text] in order. */
async function conversation(page: Page): Promise<string[]> {
  const rows = page.getByTestId('message');
  const out: string[] = [];
  for (let i = 0; i < (await rows.count()); i++) {
    const r = rows.nth(i);
    out.push(`${await r.getAttribute('data-dir')}: ${(await r.locator('p.text').textContent())?.trim()}`);
  }
  return out;
}

async function contactNames(page: Page): Promise<string[]> {
  const names = await page.getByTestId('conversation').locator('.name').allTextContents();
  return names.map((n) => n.trim()).sort();
}

test('(c) two devices of one user and a contact: same conversation and contact list on both', async ({ browser }) => {
  test.setTimeout(110_000);
  const relays: Relay[] = await startMesh(2);
  const contexts: BrowserContext[] = [];
  try {
    const [A, B] = [relays[0]!.url, relays[1]!.url];
    const one = await newUser(browser, errors);
    const bob = await newUser(browser, errors);
    contexts.push(one.ctx, bob.ctx);
    await createIdentity(one.page, A, 'Alice');
    const backup = await exportBackup(one.page);
    await createIdentity(bob.page, B, 'Bob');
    await addContact(one.page, bob.page, 'Bobby');
    await addContact(bob.page, one.page, 'Alice');
    await openChat(one.page, 'Bobby');
    await send(one.page, 'sent from the first device');
    await expect(bubble(bob.page, 'sent from the first device', 'in')).toBeVisible({ timeout: 30_000 });

    // The second device logs in later: history, contacts and names come from the relays.
    const two = await newUser(browser, errors);
    contexts.push(two.ctx);
    await importBackup(two.page, B, backup, 'Alice');
    await expect(two.page.getByTestId('conversation').filter({ hasText: 'Bobby' })).toBeVisible({ timeout: 30_000 });
    await openChat(two.page, 'Bobby');
    await expect(bubble(two.page, 'sent from the first device', 'out')).toBeVisible({ timeout: 30_000 });

    await openChat(bob.page, 'Alice');
    await send(bob.page, 'hello to both of you');
    await expect(bubble(one.page, 'hello to both of you', 'in')).toBeVisible({ timeout: 30_000 });
    await expect(bubble(two.page, 'hello to both of you', 'in')).toBeVisible({ timeout: 30_000 });
    await send(two.page, 'sent from the second device');
    await expect(bubble(bob.page, 'sent from the second device', 'in')).toBeVisible({ timeout: 30_000 });
    await expect(bubble(one.page, 'sent from the second device', 'out')).toBeVisible({ timeout: 30_000 });

    // A rename on the second device reaches the first.
    await two.page.getByRole('link', { name: /contact details/ }).click();
    await two.page.getByTestId('picture-input').setInputFiles({ name: 'bob.png', mimeType: 'image/png', buffer: readFileSync('static/icon-512.png') });
    await two.page.getByLabel('Name').fill('Bob B.');
    await two.page.getByRole('button', { name: 'Save' }).click();
    const row = one.page.getByTestId('conversation').filter({ hasText: 'Bob B.' });
    await expect(row).toBeVisible({ timeout: 30_000 });
    // The picture travels as a small JPEG inside the sync message.
    const img = row.locator('img.avatar');
    await expect.poll(() => img.evaluate((i: HTMLImageElement) => i.complete && i.naturalWidth).catch(() => 0), { timeout: 15_000 }).toBe(64);
    await two.page.goto(`${B}/#/`);
    await openChat(two.page, 'Bob B.');
    await expect(one.page.getByTestId('chat-name')).toHaveText('Bob B.');

    const expected = ['out: sent from the first device', 'in: hello to both of you', 'out: sent from the second device'];
    await expect.poll(() => conversation(one.page)).toEqual(expected);
    await expect.poll(() => conversation(two.page)).toEqual(expected);
    expect(await one.page.getByTestId('conversation').count()).toBe(1);
    expect(await two.page.getByTestId('conversation').count()).toBe(1);
    expect(await contactNames(one.page)).toEqual(await contactNames(two.page));
    // Bob sees one Alice, with both devices' messages.
    await expect.poll(() => conversation(bob.page)).toEqual(['in: sent from the first device', 'out: hello to both of you', 'in: sent from the second device']);

    // Read state: what the second device reads is read on the first one too (which never opens the chat).
    await settings(one.page);
    await settings(two.page);
    await send(bob.page, 'read on the other device');
    const oneRow = one.page.getByTestId('conversation').filter({ hasText: 'read on the other device' });
    const twoRow = two.page.getByTestId('conversation').filter({ hasText: 'read on the other device' });
    await expect(oneRow.locator('.unread')).toHaveText('1', { timeout: 30_000 });
    await expect(twoRow.locator('.unread')).toHaveText('1', { timeout: 30_000 });
    await openChat(two.page, 'Bob B.');
    await expect(twoRow.locator('.unread')).toHaveCount(0);
    await expect(oneRow.locator('.unread')).toHaveCount(0, { timeout: 30_000 });
  } finally {
    for (const c of contexts) await c.close().catch(() => {});
    await Promise.all(relays.map((r) => r.stop()));
  }
  expect(errors).toEqual([]);
});

test('(d) a TX relay that drops is detected from missing self-copies, marked suspect and avoided', async ({ browser }) => {
  test.setTimeout(110_000);
  const gPort = await freePort();
  const G = await startRelay(gPort);
  const relays: Relay[] = [G];
  const contexts: BrowserContext[] = [];
  try {
    const alice = await newUser(browser, errors);
    const bob = await newUser(browser, errors);
    contexts.push(alice.ctx, bob.ctx);
    await createIdentity(alice.page, G.url, 'Alice');
    await createIdentity(bob.page, G.url, 'Bob');
    await addContact(alice.page, bob.page, 'Bob');
    await addContact(bob.page, alice.page, 'Alice');

    // D accepts packets but never floods them on (TEST-ONLY fault). Alice keeps G as RX, so D becomes her TX.
    const D = await startRelay(await freePort(), [gPort], ['--test-fault', 'drop-forward']);
    relays.push(D);
    await settings(alice.page);
    await alice.page.getByLabel('Relay URL').fill(D.url);
    await alice.page.getByRole('button', { name: 'Add relay' }).click();
    await expect(alice.page.getByTestId('tx')).toHaveText(D.url);
    await expect(alice.page.getByTestId('rx')).toHaveText(G.url);

    await alice.page.goto(`${G.url}/#/`);
    // A second tab runs the connection, so the first one's messages are sent (and watched) by another tab.
    const tab2 = await alice.ctx.newPage();
    await tab2.goto(`${G.url}/#/`);
    await expect(alice.page.getByTestId('connection')).toHaveAttribute('data-engine', 'other-tab');
    await openChat(alice.page, 'Bob');
    await send(alice.page, 'one');
    await send(alice.page, 'two');
    // Accepted by D…
    await expect(bubble(alice.page, 'two', 'out').locator('[data-state]')).toHaveAttribute('data-state', 'sent');
    // …but the self-copies never come back through G: D is suspect, avoided, and the messages go again through G.
    await settings(alice.page);
    await expect(alice.page.getByTestId('suspect-relay')).toHaveText(D.url, { timeout: 45_000 });
    await expect(alice.page.getByTestId('relay').filter({ hasText: D.url }).getByTestId('suspect-tag')).toBeVisible();
    await expect(alice.page.getByTestId('tx')).toHaveText(G.url);
    await openChat(bob.page, 'Alice');
    await expect(bubble(bob.page, 'two', 'in')).toBeVisible({ timeout: 30_000 });
    await alice.page.goto(`${G.url}/#/`);
    await openChat(alice.page, 'Bob');
    await expect(bubble(alice.page, 'two', 'out').locator('[data-state]')).toHaveAttribute('data-state', /delivered|read/, { timeout: 30_000 });
  } finally {
    for (const c of contexts) await c.close().catch(() => {});
    await Promise.all(relays.map((r) => r.stop()));
  }
  expect(errors).toEqual([]);
});
