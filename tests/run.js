#!/usr/bin/env node
// `npm test`: every layer in order — unit (vitest), relay integration (real
// relay processes on loopback, vitest), then the browser layer (Playwright
// driving Debian's Chromium against real relays serving a fresh build).
// Ends with one "N passed, N failed" line covering all layers.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const out = join(root, 'test-results');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
/** @param {string} name */
const bin = (name) => join(root, 'node_modules', '.bin', name);

/** Debian packages the tests drive as independent implementations or browsers. */
const APT = [
  { pkg: 'chromium', check: '/usr/bin/chromium', why: 'browser tests (Playwright drives it)' },
  { pkg: 'stun-client', check: '/usr/bin/stun', why: 'STUN interop test' },
  { pkg: 'coturn', check: '/usr/bin/turnserver', why: 'TURN interop test' },
];

function ensureSystemPackages() {
  const missing = APT.filter((a) => !existsSync(a.check));
  if (!missing.length) return;
  const names = missing.map((m) => m.pkg).join(' ');
  if (process.getuid?.() !== 0) {
    console.error(`\nMissing: ${missing.map((m) => `${m.check} (${m.why})`).join(', ')}.\n` +
      `Install them with:  sudo apt-get install -y ${names}\n(or run npm test as root, which installs them itself).\n`);
    process.exit(1);
  }
  console.log(`Installing Debian packages: ${names}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  if (r.status === 0) r = spawnSync('apt-get', ['install', '-y', '-qq', ...missing.map((m) => m.pkg)], { stdio: 'inherit', env });
  if (r.status !== 0 || missing.some((m) => !existsSync(m.check))) {
    console.error(`apt-get could not install ${names}; install them by hand and run npm test again.`);
    process.exit(1);
  }
}

/**
 * @param {string} label @param {string} cmd @param {string[]} args
 * @param {Record<string, string>} [extraEnv]
 */
function run(label, cmd, args, extraEnv = {}) {
  console.log(`\n=== ${label}: ${[cmd, ...args].join(' ')}\n`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, env: { ...process.env, ...extraEnv } });
  return r.status ?? 1;
}

ensureSystemPackages();

const totals = { passed: 0, failed: 0, skipped: 0 };
let hardFailure = false;
/** @type {string[]} Names of failed tests, repeated at the very end so a log's tail says what failed. */
const failures = [];

/** @param {any} j a Vitest JSON report */
function vitestFailures(j) {
  for (const file of j.testResults ?? []) {
    const rel = String(file.name ?? '').replace(root, '');
    const failed = (file.assertionResults ?? []).filter((/** @type {any} */ a) => a.status === 'failed');
    for (const a of failed) failures.push(`${rel} › ${a.fullName ?? a.title}: ${firstLine(a.failureMessages?.[0])}`);
    if (!failed.length && file.status === 'failed') failures.push(`${rel}: ${firstLine(file.message)}`);
  }
}

/** @param {any} suite a Playwright JSON suite, walked for unexpected results */
function playwrightFailures(suite) {
  for (const spec of suite.specs ?? []) {
    for (const t of spec.tests ?? []) {
      if (t.status !== 'unexpected') continue;
      const err = t.results?.at(-1)?.error?.message;
      failures.push(`${spec.file}:${spec.line} › ${spec.title}: ${firstLine(err)}`);
    }
  }
  for (const child of suite.suites ?? []) playwrightFailures(child);
}

/** @param {unknown} text */
// eslint-disable-next-line no-control-regex
const firstLine = (text) => String(text ?? '').replace(/\x1b\[[0-9;]*m/g, '').split('\n').find((l) => l.trim()) ?? '';

// Vitest: unit then relay, one JSON report each.
for (const project of ['unit', 'relay']) {
  const report = join(out, `vitest-${project}.json`);
  const code = run(`${project} tests`, bin('vitest'), ['run', '--project', project, '--reporter=default', '--reporter=json', `--outputFile.json=${report}`]);
  if (existsSync(report)) {
    const j = JSON.parse(readFileSync(report, 'utf8'));
    totals.passed += j.numPassedTests ?? 0;
    // A file that fails to load has no failed tests but must still count.
    totals.failed += j.numFailedTests || j.numFailedTestSuites || 0;
    totals.skipped += (j.numPendingTests ?? 0) + (j.numTodoTests ?? 0);
    vitestFailures(j);
    if (code !== 0 && !j.numFailedTests && !j.numFailedTestSuites) hardFailure = true;
  } else if (code !== 0) hardFailure = true;
}

// Browser: build the PWA first (relays serve it), then Playwright.
if (run('build', bin('vite'), ['build']) !== 0) hardFailure = true;
else {
  const report = join(out, 'playwright.json');
  const code = run('browser tests', bin('playwright'), ['test', '--reporter=list,json'], { PLAYWRIGHT_JSON_OUTPUT_NAME: report });
  if (existsSync(report)) {
    const pw = JSON.parse(readFileSync(report, 'utf8'));
    const s = pw.stats ?? {};
    for (const suite of pw.suites ?? []) playwrightFailures(suite);
    totals.passed += (s.expected ?? 0) + (s.flaky ?? 0);
    totals.failed += s.unexpected ?? 0;
    totals.skipped += s.skipped ?? 0;
    if (code !== 0 && !s.unexpected) hardFailure = true;
  } else if (code !== 0) hardFailure = true;
}

if (hardFailure) totals.failed = Math.max(totals.failed, 1);
if (failures.length) console.log(`\nFailed:\n${failures.map((f) => `  ✗ ${f}`).join('\n')}`);
console.log(`\n${totals.passed} passed, ${totals.failed} failed${totals.skipped ? `, ${totals.skipped} skipped` : ''}`);
process.exit(totals.failed ? 1 : 0);
