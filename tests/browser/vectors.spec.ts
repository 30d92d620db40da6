/**
 * The protocol vectors in Chromium: the protocol module bundled by esbuild,
 * served with the JSON vectors from a loopback node:http server (a secure
 * context, so crypto.subtle exists), and checked in the page with WebCrypto
 * and with node-forge. A second origin on a non-loopback address is not a
 * secure context, which is exactly where selectEngine must fall back to forge.
 */
import { chromium, expect, test } from '@playwright/test';
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHROMIUM_ARGS } from '../../playwright.config.ts';
import { VECTOR_FILES } from '../../protocol/vectors/check.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
let server: Server;
let base = '';
const files = new Map<string, { type: string; body: string | Uint8Array }>();

test.beforeAll(async () => {
  const out = await build({
    stdin: {
      contents: [
        "export { runVectors } from './protocol/vectors/check.ts';",
        "export { webCryptoEngine } from './protocol/crypto/webcrypto.ts';",
        "export { selectEngine } from './protocol/crypto/select.ts';",
        "export { sealPacket, openPacket } from './protocol/index.ts';",
      ].join('\n'),
      resolveDir: root,
      sourcefile: 'entry.ts',
      loader: 'ts',
    },
    bundle: true,
    // Splitting keeps forge in its own chunk, loaded only when selectEngine falls back (as the PWA does).
    splitting: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    outdir: '/bundle',
    write: false,
    logLevel: 'silent',
  });
  // esbuild names a stdin entry stdin.js; chunks import each other relatively, so all live under /bundle/.
  for (const f of out.outputFiles)
    files.set(`/bundle/${f.path.endsWith('/stdin.js') ? 'entry.js' : f.path.split('/').pop()}`, { type: 'text/javascript', body: f.contents });
  // A forge-only entry for the vector run, so the secure page can test forge without relying on the fallback path.
  const forgeOut = await build({
    stdin: { contents: "export { forgeEngine } from './protocol/crypto/forge.ts';", resolveDir: root, sourcefile: 'forge-entry.ts', loader: 'ts' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  files.set('/forge-engine.js', { type: 'text/javascript', body: forgeOut.outputFiles[0]!.contents });
  for (const v of VECTOR_FILES)
    files.set(`/vectors/${v}.json`, { type: 'application/json', body: readFileSync(join(root, 'protocol', 'vectors', `${v}.json`), 'utf8') });
  files.set('/', { type: 'text/html', body: '<!doctype html><meta charset="utf-8"><title>vectors</title>' });

  server = createServer((req, res) => {
    const f = files.get(new URL(req.url ?? '/', 'http://x').pathname);
    if (!f) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': f.type, 'cache-control': 'no-store' }).end(f.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  base = `http://127.0.0.1:${port}`;
});

test.afterAll(async () => {
  await new Promise((r) => server?.close(r));
});

async function runInPage(page: import('@playwright/test').Page, engine: 'webcrypto' | 'forge') {
  return page.evaluate(
    async ({ engine, names }) => {
      const m = await import('/bundle/entry.js' as string);
      const e = engine === 'webcrypto' ? m.webCryptoEngine : (await import('/forge-engine.js' as string)).forgeEngine;
      const v = Object.fromEntries(await Promise.all(names.map(async (n: string) => [n, await (await fetch(`/vectors/${n}.json`)).json()])));
      return m.runVectors(e, v);
    },
    { engine, names: [...VECTOR_FILES] },
  );
}

for (const engine of ['webcrypto', 'forge'] as const) {
  test(`every vector holds in Chromium on ${engine}`, async ({ page }) => {
    // Pure-JS forge runs three 600k-iteration PBKDF2s (~35 s on an idle 2-core box); leave room for a busy one.
    test.setTimeout(300_000);
    await page.goto(base + '/');
    expect(await page.evaluate(() => window.isSecureContext && !!crypto.subtle)).toBe(true);
    const r = await runInPage(page, engine);
    expect(r.failures).toEqual([]);
    // The count guards against a silently empty run (e.g. a vector file failing to load).
    expect(r.passed).toBeGreaterThan(230);
  });
}

test('outside a secure context selectEngine falls back to forge, which interoperates with WebCrypto', async ({ page }) => {
  // A hostname that is not localhost is not a secure context even on loopback, so
  // no LAN address is needed: Chromium resolves it to 127.0.0.1 itself.
  const insecureBrowser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [...CHROMIUM_ARGS, '--host-resolver-rules=MAP meshchat-insecure.test 127.0.0.1'],
  });
  const port = new URL(base).port;
  const keys = JSON.parse(readFileSync(join(root, 'protocol', 'vectors', 'keys.json'), 'utf8')).keys;

  // Seal in the insecure page with whatever engine it selects…
  const insecure = await insecureBrowser.newPage();
  await insecure.goto(`http://meshchat-insecure.test:${port}/`);
  const sealed = await insecure.evaluate(async ({ alice, bob }) => {
    const m = await import('/bundle/entry.js' as string);
    const e = await m.selectEngine();
    const b64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
    const me = await e.importPkcs8(b64(alice.pkcs8), false);
    const { packet } = await m.sealPacket(e, me, await e.importSpki(b64(bob.spki)), { content: 'sealed without crypto.subtle' });
    return { engine: e.name, secure: window.isSecureContext, hasSubtle: !!globalThis.crypto?.subtle, packet };
  }, { alice: keys.alice, bob: keys.bob });
  await insecureBrowser.close();
  expect(sealed).toMatchObject({ engine: 'forge', secure: false, hasSubtle: false });

  // …and open it in the secure page with WebCrypto.
  await page.goto(base + '/');
  const opened = await page.evaluate(async ({ bob, packet }) => {
    const m = await import('/bundle/entry.js' as string);
    const b64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
    const me = await m.webCryptoEngine.importPkcs8(b64(bob.pkcs8), false);
    return (await m.openPacket(m.webCryptoEngine, me, packet)).content;
  }, { bob: keys.bob, packet: sealed.packet });
  expect(opened).toBe('sealed without crypto.subtle');
});
