#!/usr/bin/env node
// Benchmark harness: `npm run bench` runs every tests/bench/*.bench.ts,
// `npm run bench -- <name>` just tests/bench/<name>.bench.ts. Each benchmark
// prints its own markdown table; this prints the machine once on top, since
// numbers only mean something next to the hardware they came from.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const all = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.slice(0, -'.bench.ts'.length))
  .sort();
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const unknown = wanted.filter((w) => !all.includes(w));
if (unknown.length) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; available: ${all.join(', ')}`);
  process.exit(2);
}
const run = wanted.length ? wanted : all;

const cpus = os.cpus();
console.log(`# Benchmarks\n`);
console.log(`Machine: ${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ` +
  `${os.platform()} ${os.release()}, Node ${process.version}; ${new Date().toISOString()}\n`);

let failed = 0;
for (const name of run) {
  console.log(`## ${name}\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, `${name}.bench.ts`)], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.log(`\n(${name} exited with ${r.status ?? r.signal})\n`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
