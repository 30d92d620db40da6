import { expect, test } from '@playwright/test';
import { startMesh, type Relay } from './relays.ts';

let relays: Relay[] = [];
test.beforeAll(async () => {
  relays = await startMesh(1);
});
test.afterAll(async () => {
  await Promise.all(relays.map((r) => r.stop()));
});

test('key generation runs in the worker: no main-thread long task over 200 ms, progress shown', async ({ page }) => {
  await page.addInitScript(() => {
    const w = window as unknown as { __longtasks: { start: number; duration: number }[] };
    w.__longtasks = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) w.__longtasks.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: 'longtask', buffered: true });
  });
  await page.goto(relays[0]!.url);
  await page.getByLabel('Your name').fill('Carol');
  // Let start-up work settle, then measure from the click to the finished identity.
  await page.waitForTimeout(500);
  // Record every progress stage the UI shows (a MutationObserver sees even brief ones).
  await page.evaluate(() => {
    const w = window as unknown as { __stages: string[] };
    w.__stages = [];
    new MutationObserver(() => {
      const t = document.querySelector('[data-testid="keygen-progress"] span')?.textContent;
      if (t && w.__stages.at(-1) !== t) w.__stages.push(t);
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  const t0 = await page.evaluate(() => performance.now());
  await page.getByRole('button', { name: 'Create my identity' }).click();
  await expect(page.getByText('Hello, Carol')).toBeVisible({ timeout: 60_000 });
  const t1 = await page.evaluate(() => performance.now());
  const tasks = await page.evaluate(() => (window as unknown as { __longtasks: { start: number; duration: number }[] }).__longtasks);
  const during = tasks.filter((t) => t.start + t.duration >= t0 && t.start <= t1);
  console.log(`keygen took ${Math.round(t1 - t0)} ms; long tasks meanwhile: ${JSON.stringify(during)}`);
  expect(during.filter((t) => t.duration > 200)).toEqual([]);
  const stages = await page.evaluate(() => (window as unknown as { __stages: string[] }).__stages);
  expect(stages[0]).toMatch(/Generating your 2048-bit key/);
  expect(stages.length).toBeGreaterThanOrEqual(2);
});
