// Helpers for the anonymity and multi-device browser tests.
import { expect, type Browser, type BrowserContext, type Page } from '@playwright/test';
import { readFileSync, writeFileSync } from 'node:fs';
import { inviteLink } from './app.ts';

export async function newUser(browser: Browser, errors: string[]): Promise<{ ctx: BrowserContext; page: Page }> {
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => errors.push(String(e)));
  return { ctx, page };
}

/** `from` adds `to` as a contact by pasting `to`'s invite link. */
export async function addContact(from: Page, to: Page, name: string): Promise<void> {
  const link = await inviteLink(to);
  await from.getByRole('link', { name: 'Add contact' }).first().click();
  await from.getByTestId('invite-input').fill(link);
  await from.getByLabel('Name').fill(name);
  await from.getByRole('button', { name: 'Add contact' }).click();
  await expect(from.getByTestId('chat-name')).toHaveText(name);
}

export async function settings(page: Page): Promise<void> {
  await page.getByRole('link', { name: 'Settings' }).click();
  await expect(page.getByRole('heading', { name: 'Your route' })).toBeVisible();
}

export async function setCover(page: Page, level: 'off' | 'low' | 'default' | 'high' | 'max'): Promise<void> {
  await settings(page);
  await page.getByTestId('cover-level').selectOption(level);
  await expect(page.getByTestId('cover-level')).toHaveValue(level);
}

export interface Rec {
  route: string;
  remote_address: string;
  method?: string;
  path?: string;
  content_length?: string;
  headers?: string[];
}

/** What a relay recorded with --debug-record-addresses (IPv4-mapped forms unwrapped). */
export function records(file: string): Rec[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Rec)
    .map((r) => ({ ...r, remote_address: String(r.remote_address).replace(/^::ffff:/, '') }));
}

export const clearRecords = (file: string): void => writeFileSync(file, '');

/**
 * Everything a relay can tell about a request apart from its address and
 * time: method, endpoint, query shape (names and value lengths), body size
 * and the set of header names.
 */
export function shape(r: Rec): string {
  const [path, query = ''] = (r.path ?? '').split('?');
  const q = query
    .split('&')
    .filter(Boolean)
    .map((kv) => {
      const [k, v = ''] = kv.split('=');
      return `${k}=<${v.length}>`;
    })
    .join('&');
  return JSON.stringify({ method: r.method, path, q, len: r.content_length, headers: r.headers });
}
