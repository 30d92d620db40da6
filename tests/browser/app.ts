// Page helpers for the PWA browser tests: drive the UI the way a person would.
import { expect, type Page } from '@playwright/test';
import { readFileSync } from 'node:fs';

/**
 * Screenshots of every main screen. They go to test-results/ so a test run
 * leaves the tree clean; `UPDATE_SCREENSHOTS=1 npm test` refreshes the ones
 * the README shows in docs/screenshots.
 */
export const SHOTS = process.env.UPDATE_SCREENSHOTS ? 'docs/screenshots' : 'test-results/screenshots';

export async function createIdentity(page: Page, base: string, name: string): Promise<void> {
  await page.goto(`${base}/`);
  await page.getByLabel('Your name').fill(name);
  await page.getByRole('button', { name: 'Create my identity' }).click();
  await expect(page.getByText(`Hello, ${name}`)).toBeVisible({ timeout: 60_000 });
}

export async function inviteLink(page: Page): Promise<string> {
  await page.getByRole('link', { name: 'My profile and invite link' }).click();
  const box = page.getByTestId('invite-link');
  await expect(box).toHaveValue(/#\/invite\?k=/);
  return box.inputValue();
}

/** The TX and RX relay URLs shown on the settings page. */
export async function route(page: Page): Promise<{ tx: string; rx: string }> {
  await page.getByRole('link', { name: 'Settings' }).click();
  await expect(page.getByRole('heading', { name: 'Your route' })).toBeVisible();
  return { tx: (await page.getByTestId('tx').textContent()) ?? '', rx: (await page.getByTestId('rx').textContent()) ?? '' };
}

export async function openChat(page: Page, name: string): Promise<void> {
  await page.getByTestId('conversation').filter({ hasText: name }).click();
  await expect(page.getByTestId('chat-name')).toHaveText(name);
}

export async function send(page: Page, text: string): Promise<void> {
  await page.getByLabel(/^Message to /).fill(text);
  await page.getByRole('button', { name: 'Send' }).click();
}

export const bubble = (page: Page, text: string, dir?: 'in' | 'out') =>
  page.locator(`[data-testid="message"]${dir ? `[data-dir="${dir}"]` : ''}`).filter({ has: page.locator('p.text', { hasText: text }) });

/** Downloads a passphrase-protected backup from the Me page (the passphrase importBackup uses). */
export async function exportBackup(page: Page): Promise<string> {
  await inviteLink(page); // opens the Me page
  await page.getByLabel('Passphrase', { exact: true }).fill('correct horse battery');
  await page.getByLabel('Repeat passphrase').fill('correct horse battery');
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download backup' }).click()]);
  return readFileSync((await download.path())!, 'utf8');
}

/** Logs in on a fresh device with a backup from exportBackup. */
export async function importBackup(page: Page, base: string, text: string, name: string): Promise<void> {
  await page.goto(base);
  await page.getByRole('tab', { name: 'I have a key' }).click();
  await page.getByLabel('Backup file or private key (PEM)').setInputFiles({ name: 'backup.json', mimeType: 'application/json', buffer: Buffer.from(text) });
  await page.getByLabel('Backup passphrase').fill('correct horse battery');
  await page.getByRole('button', { name: 'Log in with this key' }).click();
  await expect(page.getByText(`Hello, ${name}`)).toBeVisible({ timeout: 30_000 });
}
