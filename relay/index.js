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

register();
await import('./main.ts');
