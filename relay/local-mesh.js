#!/usr/bin/env node
// `npm start`: three relays on 8080, 8081 and 8082, each peered with the
// other two and keeping its data under ./data/relay-<port>, all serving the
// PWA build in ./build when there is one (they start without it). Ctrl-C or
// SIGTERM stops all three cleanly.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const ports = [8080, 8081, 8082];
const url = (/** @type {number} */ p) => `http://localhost:${p}`;
// Three relays on one or two vCPUs: one V8 helper thread each instead of four,
// as README's "Running a relay" recommends there (docs/performance.md).
const nodeFlags = availableParallelism() <= 2 ? ['--v8-pool-size=1'] : [];

if (!existsSync(join(root, 'build', 'index.html')))
  console.log('local-mesh: no PWA build in ./build (npm run build); starting the relays anyway');

/** @type {import('node:child_process').ChildProcess[]} */
const children = ports.map((port, i) => {
  const args = [
    ...nodeFlags,
    join(root, 'relay', 'index.js'),
    '--port', String(port),
    '--data', join(root, 'data', `relay-${port}`),
    '--public-url', url(port),
    '--static', join(root, 'build'),
    '--stun-port', String(3478 + i),
    ...ports.filter((p) => p !== port).flatMap((p) => ['--peer', url(p)]),
  ];
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`local-mesh: relay on ${port} exited (${signal ?? code}); stopping the others`);
      stop('SIGTERM', code ?? 1);
    }
  });
  return child;
});

console.log(`local-mesh: relays at ${ports.map(url).join(', ')}; open ${url(ports[0])}`);

let stopping = false;
let exitCode = 0;
/** @param {NodeJS.Signals} signal @param {number} code */
function stop(signal, code = 0) {
  if (stopping) return;
  stopping = true;
  exitCode = code;
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(signal);
  let left = children.filter((c) => c.exitCode === null && c.signalCode === null).length;
  if (left === 0) process.exit(exitCode);
  for (const c of children)
    c.once('exit', (c2) => {
      if (c2 !== 0) exitCode = exitCode || 1;
      if (--left === 0) process.exit(exitCode);
    });
}
process.on('SIGINT', () => stop('SIGTERM'));
process.on('SIGTERM', () => stop('SIGTERM'));
