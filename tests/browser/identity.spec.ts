import { expect, test, type Browser } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { webCryptoEngine as engine } from '../../protocol/crypto/webcrypto.ts';
import { encodePublicKey, importPublicKey, sealPacket, toPem } from '../../protocol/index.ts';
import { parseInvite } from '../../web/lib/domain/invite.ts';
import { bubble, createIdentity, inviteLink } from './app.ts';
import { startMesh, type Relay } from './relays.ts';

let relays: Relay[] = [];
test.beforeAll(async () => {
  relays = await startMesh(1);
});
test.afterAll(async () => {
  await Promise.all(relays.map((r) => r.stop()));
});

test('backup export, then log in with it on another device (wrong passphrase refused)', async ({ browser }) => {
  const url = relays[0]!.url;
  const one = await browser.newContext();
  const p1 = await one.newPage();
  await createIdentity(p1, url, 'Erin');
  await inviteLink(p1);
  const code = await p1.getByTestId('my-safety-code').textContent();
  await p1.getByLabel('Passphrase', { exact: true }).fill('purple elephant rides');
  await p1.getByLabel('Repeat passphrase').fill('purple elephant rides');
  const [download] = await Promise.all([p1.waitForEvent('download'), p1.getByRole('button', { name: 'Download backup' }).click()]);
  const file = await download.path();
  const text = readFileSync(file, 'utf8');
  expect(JSON.parse(text)).toMatchObject({ format: 'meshchat-backup', kdf: 'PBKDF2-SHA256', name: 'Erin' });
  expect(text).not.toMatch(/PRIVATE KEY/);
  await one.close();

  const two = await browser.newContext();
  const p2 = await two.newPage();
  await p2.goto(url);
  await p2.getByRole('tab', { name: 'I have a key' }).click();
  await p2.getByLabel('Backup file or private key (PEM)').setInputFiles({ name: 'meshchat-backup.json', mimeType: 'application/json', buffer: Buffer.from(text) });
  await p2.getByLabel('Backup passphrase').fill('not the passphrase');
  await p2.getByRole('button', { name: 'Log in with this key' }).click();
  await expect(p2.getByRole('alert')).toContainText('Wrong passphrase');
  await p2.getByLabel('Backup passphrase').fill('purple elephant rides');
  await p2.getByRole('button', { name: 'Log in with this key' }).click();
  await expect(p2.getByText('Hello, Erin')).toBeVisible({ timeout: 30_000 });
  await inviteLink(p2);
  await expect(p2.getByTestId('my-safety-code')).toHaveText(code!);
  await two.close();
});

test('log in with a PKCS#8 PEM private key', async ({ browser }) => {
  const pair = await engine.generateKeyPair(true);
  const pem = toPem(await engine.exportPkcs8(pair.privateKey), 'PRIVATE KEY');
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(relays[0]!.url);
  await page.getByRole('tab', { name: 'I have a key' }).click();
  await page.getByLabel('…or paste a PKCS#8 PEM').fill(pem);
  await page.getByLabel('Your name').fill('Frank');
  await page.getByRole('button', { name: 'Log in with this key' }).click();
  await expect(page.getByText('Hello, Frank')).toBeVisible({ timeout: 30_000 });
  const r = parseInvite(await inviteLink(page));
  expect(r.ok && r.invite.publicKey).toBe(encodePublicKey(pair.publicKey.spki));
  await ctx.close();
});

/** A fresh user of the app, and their public key as a test that writes to them from outside the app needs it. */
async function someoneToWriteTo(browser: Browser, name: string) {
  const url = relays[0]!.url;
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await createIdentity(page, url, name);
  const r = parseInvite(await inviteLink(page));
  if (!r.ok) throw new Error(r.error);
  return { url, ctx, page, key: await importPublicKey(engine, r.invite.publicKey) };
}

test('a packet whose signature does not match its claimed sender is dropped and counted, never shown', async ({ browser }) => {
  const { url, ctx, page, key: gina } = await someoneToWriteTo(browser, 'Gina');
  // Mallory writes as "Alice": Alice's key in the sender field, Mallory's signature.
  const [alice, mallory] = [await engine.generateKeyPair(false), await engine.generateKeyPair(false)];
  const { packet } = await sealPacket(engine, { privateKey: mallory.privateKey, publicKey: alice.publicKey }, gina, { content: 'I am Alice, trust me' });
  const res = await fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(packet) });
  expect(res.status).toBe(202);
  // A genuine one from Alice right after, so we know the forged one was processed first.
  const { packet: real } = await sealPacket(engine, alice, gina, { content: 'The real Alice here' });
  expect((await fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(real) })).status).toBe(202);
  await expect(page.getByTestId('conversation')).toHaveCount(1, { timeout: 30_000 });
  await expect(page.getByTestId('conversation')).toContainText('New contact: check the safety code');
  await page.getByTestId('conversation').click();
  await expect(page.getByText('Someone new wrote to you')).toBeVisible();
  await expect(page.getByText('The real Alice here')).toBeVisible();
  await expect(page.getByText('I am Alice, trust me')).toHaveCount(0);
  await page.getByRole('button', { name: 'Keep as contact' }).click();
  await expect(page.getByText('Someone new wrote to you')).toHaveCount(0);
  await page.getByRole('link', { name: 'Settings' }).click();
  await expect(page.getByTestId('dropped')).toHaveText('1');
  await ctx.close();
});

test('someone new shows under the name they give, until you keep them', async ({ browser }) => {
  const { url, ctx, page, key: hana } = await someoneToWriteTo(browser, 'Hana');
  const ivo = await engine.generateKeyPair(false);
  const postAs = async (content: string, name: string): Promise<void> => {
    const { packet } = await sealPacket(engine, ivo, hana, { content, extra: { name } });
    const res = await fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(packet) });
    expect(res.status).toBe(202);
  };
  const conversation = page.getByTestId('conversation');
  // Cleaned like an invite's name: no bidi overrides or control characters.
  await postAs('Hi, we met at the conference', 'Ivo\u202e \u0007Novak');
  await expect(conversation).toContainText('Ivo Novak', { timeout: 30_000 });
  await expect(conversation).toContainText('New contact: check the safety code');
  // Still unknown: a new name from them replaces the old.
  await postAs('It is Ivo, with a new name', 'Ivo N.');
  await expect(conversation).toContainText('Ivo N.', { timeout: 30_000 });
  await conversation.click();
  await expect(page.getByTestId('chat-name')).toHaveText('Ivo N.');
  await page.getByRole('button', { name: 'Keep as contact' }).click();
  await expect(page.getByText('Someone new wrote to you')).toHaveCount(0);
  // Kept: the name is Hana's now, whatever they call themselves.
  await postAs('Call me Admin', 'Admin');
  await expect(bubble(page, 'Call me Admin', 'in')).toBeVisible({ timeout: 30_000 });
  await expect(page.getByTestId('chat-name')).toHaveText('Ivo N.');
  await ctx.close();
});

test('a newcomer who opens an invite link is told whose it is, and adds them right after creating an identity', async ({ browser }) => {
  const url = relays[0]!.url;
  const one = await browser.newContext();
  const p1 = await one.newPage();
  await createIdentity(p1, url, 'Gina');
  const link = await inviteLink(p1);
  const two = await browser.newContext();
  const p2 = await two.newPage();
  await p2.goto(link);
  await expect(p2.getByTestId('invited-by')).toHaveText(/^Gina invited you\./);
  await p2.getByLabel('Your name').fill('Hugo');
  await p2.getByRole('button', { name: 'Create my identity' }).click();
  await expect(p2.getByText('You opened an invite from Gina')).toBeVisible({ timeout: 60_000 });
  await p2.getByRole('button', { name: 'Add contact' }).click();
  await expect(p2.getByTestId('chat-name')).toHaveText('Gina');
  // A damaged invite says nothing about who sent it (the invite page explains what is wrong after).
  const three = await browser.newContext();
  const p3 = await three.newPage();
  await p3.goto(`${url}/#/invite?k=not-a-key&n=${Buffer.from('Mallory').toString('base64url')}`);
  await expect(p3.getByLabel('Your name')).toBeVisible();
  await expect(p3.getByTestId('invited-by')).toHaveCount(0);
  // Another invite opened in the same tab while the welcome screen shows: the note follows it.
  await p3.evaluate((l) => (location.hash = l.slice(l.indexOf('#'))), link);
  await expect(p3.getByTestId('invited-by')).toHaveText(/^Gina invited you\./);
  for (const c of [one, two, three]) await c.close();
});

test('logging out erases everything on this device, in every open tab of the app', async ({ browser }) => {
  const url = relays[0]!.url;
  const ctx = await browser.newContext();
  try {
    const p1 = await ctx.newPage();
    await createIdentity(p1, url, 'Lou');
    const p2 = await ctx.newPage();
    await p2.goto(`${url}/`);
    await expect(p2.getByTestId('connection')).toHaveAttribute('data-engine', 'here');
    await p1.goto(`${url}/#/settings`);
    await p1.getByRole('button', { name: 'Log out…' }).click();
    await p1.getByRole('button', { name: 'Erase everything on this device' }).click();
    // Both tabs start over at the welcome screen; nothing of Lou is left to load.
    for (const p of [p1, p2]) await expect(p.getByLabel('Your name')).toBeVisible({ timeout: 20_000 });
    await p2.reload();
    await expect(p2.getByLabel('Your name')).toBeVisible();
    const left = await p2.evaluate(
      () =>
        new Promise<number>((resolve, reject) => {
          const open = indexedDB.open('meshchat');
          open.onerror = () => reject(open.error);
          open.onsuccess = () => {
            const db = open.result;
            // Relays the app knows are seeded again at start; what was Lou's must be gone.
            const names = ['contacts', 'messages', 'outbox', 'seen'];
            const tx = db.transaction(names, 'readonly');
            let n = 0;
            for (const s of names) tx.objectStore(s).count().onsuccess = (e) => (n += (e.target as IDBRequest<number>).result);
            tx.oncomplete = () => resolve(n);
          };
        }),
    );
    expect(left).toBe(0);
  } finally {
    await ctx.close();
  }
});
