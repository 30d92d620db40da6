#!/usr/bin/env node
// `node relay`: TypeScript runs through tsx, no build step.
import { setFlagsFromString } from 'node:v8';
import { register } from 'tsx/esm/api';

// A relay's hot path (a peer frame in, validation, a commit, frames out) runs
// once per message. V8 optimizes a function after a
// fixed amount of bytecode has run in it, so at the rates most relays see the
// hot path stayed unoptimized for minutes. An 8× smaller budget tiers it up
// sooner: at 50 msg/s a 10-relay mesh used ~20% less CPU per message, and
// nothing changed at 500 msg/s (docs/performance.md, session 16). Set before
// any relay module loads, since each function takes its budget when created;
// a budget given on the command line wins.
if (!process.execArgv.some((a) => a.startsWith('--interrupt-budget'))) setFlagsFromString('--interrupt-budget=16384');

// Small Buffers (Buffer.allocUnsafe, Buffer.from) are cut from a shared pool,
// 8 KB by default: a relay makes three or four ~1.4 KB Buffers per message
// (the frame copied out of uWS, `ws`'s masked copy, the store's body), so it
// made a new pool every other message, ~1 µs an allocation against 0.15 µs
// from a 64 KB pool. Nothing long-lived is cut from the pool, so a bigger one
// pins no memory.
Buffer.poolSize = 64 * 1024;

register();
await import('./main.ts');
