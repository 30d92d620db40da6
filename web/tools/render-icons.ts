// Renders static/icon.svg to the PNG icons the manifest lists, with Debian's
// Chromium. Run by hand after changing the SVG: `npx tsx web/tools/render-icons.ts`.
import { chromium } from '@playwright/test';
import { readFileSync } from 'node:fs';

const svg = readFileSync('static/icon.svg', 'utf8');
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
const page = await browser.newPage();
for (const [size, maskable] of [[192, false], [512, false], [192, true], [512, true]] as const) {
  await page.setViewportSize({ width: size, height: size });
  // Maskable icons keep their content inside the 80 % safe zone on a full-bleed background.
  const inner = maskable
    ? `<div style="width:${size}px;height:${size}px;background:#0f766e;display:grid;place-items:center"><div style="width:${size * 0.72}px;height:${size * 0.72}px">${svg.replace('rx="112"', 'rx="0"')}</div></div>`
    : `<div style="width:${size}px;height:${size}px">${svg}</div>`;
  await page.setContent(`<style>html,body{margin:0;background:transparent}svg{width:100%;height:100%;display:block}</style>${inner}`);
  await page.screenshot({ path: `static/icon-${maskable ? 'maskable-' : ''}${size}.png`, omitBackground: true });
}
await browser.close();
