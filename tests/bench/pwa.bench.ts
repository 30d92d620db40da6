// `npm run bench -- pwa`: how much JavaScript the PWA makes a browser load
// before it can show anything, gzipped, against the 120 KB budget. Reads the
// build output (run `npx vite build` first; this builds when build/ is missing):
//   eager    = everything index.html loads up front: its modulepreloads, the
//              bootstrap script's imports, and their static-import closure
//   + home   = the '/' route's node, which the router imports right after start
//   worker   = the crypto worker (off the main thread, fetched at start-up)
//   lazy     = node-forge, fetched only where crypto.subtle is missing
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { gzipSync } from 'node:zlib';
import { printTable, verdict } from './table.ts';

const root = join(dirname(new URL(import.meta.url).pathname), '..', '..');
const build = join(root, 'build');
const BUDGET = 120 * 1024;

if (!existsSync(join(build, 'index.html'))) execFileSync(join(root, 'node_modules/.bin/vite'), ['build'], { cwd: root, stdio: 'ignore' });

const gz = (p: string): number => gzipSync(readFileSync(p), { level: 9 }).length;
const raw = (p: string): number => readFileSync(p).length;
const toFile = (url: string): string => join(build, url.replace(/^\/+/, ''));

/** Static imports (import … from "x", import "x", export … from "x"), not dynamic import(). */
function staticImports(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of src.matchAll(/(?:^|[;\s}])(?:import|export)\s*(?:[\w*${}\s,]*?from\s*)?["']([^"']+\.js)["']/g)) out.push(m[1]!);
  return out;
}

function closure(entries: string[], seen = new Set<string>()): Set<string> {
  const out = new Set<string>();
  const stack = [...entries];
  while (stack.length) {
    const f = stack.pop()!;
    if (seen.has(f) || out.has(f) || !existsSync(f)) continue;
    out.add(f);
    for (const spec of staticImports(f)) stack.push(spec.startsWith('/') ? toFile(spec) : join(dirname(f), spec));
  }
  return out;
}

const html = readFileSync(join(build, 'index.html'), 'utf8');
const preloads = [...html.matchAll(/<link[^>]+href="([^"]+\.js)"[^>]*rel="modulepreload"|<link[^>]+rel="modulepreload"[^>]*href="([^"]+\.js)"/g)].map((m) => m[1] ?? m[2]!);
const bootImports = [...html.matchAll(/import\(\s*["']([^"']+\.js)["']\s*\)/g)].map((m) => m[1]!);
const eager = closure([...preloads, ...bootImports].map(toFile));

const manifest = JSON.parse(readFileSync(join(root, '.svelte-kit/output/client/.vite/manifest.json'), 'utf8')) as Record<string, { file: string; src?: string }>;
const homeNode = Object.values(manifest).find((e) => e.src === '.svelte-kit/generated/client-optimized/nodes/2.js');
const home = homeNode ? closure([join(build, homeNode.file)], eager) : new Set<string>();

const workersDir = join(build, '_app/immutable/workers');
const workerFiles = existsSync(workersDir) ? readdirSync(workersDir).filter((f) => f.startsWith('crypto.worker')).map((f) => join(workersDir, f)) : [];
const worker = closure(workerFiles);
const lazyDir = join(workersDir, 'chunks');
const lazy = existsSync(lazyDir) ? readdirSync(lazyDir).filter((f) => f.endsWith('.js') && !worker.has(join(lazyDir, f))).map((f) => join(lazyDir, f)) : [];

const sum = (files: Iterable<string>, f: (p: string) => number): number => [...files].reduce((n, p) => n + f(p), 0);
const kb = (n: number): string => `${(n / 1024).toFixed(1)} KB`;
const initial = sum(eager, gz) + sum(home, gz);

printTable(
  ['what', 'files', 'raw', 'gzip', 'budget', 'gzip / budget', 'verdict'],
  [
    ['eager (index.html: modulepreloads + bootstrap imports)', String(eager.size), kb(sum(eager, raw)), kb(sum(eager, gz)), '', '', ''],
    ["+ home route ('/') node", String(home.size), kb(sum(home, raw)), kb(sum(home, gz)), '', '', ''],
    ['**initial main-thread JS**', String(eager.size + home.size), kb(sum(eager, raw) + sum(home, raw)), kb(initial), kb(BUDGET), (initial / BUDGET).toFixed(2), verdict(initial <= BUDGET)],
    ['crypto worker (separate thread, fetched at start)', String(worker.size), kb(sum(worker, raw)), kb(sum(worker, gz)), '', '', ''],
    ['lazy: node-forge fallback (only without crypto.subtle)', String(lazy.length), kb(sum(lazy, raw)), kb(sum(lazy, gz)), '', '', ''],
  ],
);
console.log(`Eager files: ${[...eager].map((f) => posix.basename(f)).join(', ')}`);
if (initial > BUDGET) process.exitCode = 1;
