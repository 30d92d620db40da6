// Mesh benchmark: 10 real relay processes on loopback, linked as a line with
// skip links (each relay to the next two: degree 4 inside, 5 hops end to end).
// 500 msg/s are POSTed at relay 0 and a WebSocket subscriber at relay 9 (the
// farthest, in a process of its own) timestamps each push. Run once with plain flooding and once with
// plumtree (eager tree + ihave/graft), same topology, rate and duration, and
// then through the floor (mesh-floor.js: processes doing only the unavoidable
// part of a hop), so the relays' numbers read against what the machine costs.
// MESH_BENCH_DUMP=<prefix> writes each run's measured messages as
// `<send time ms> <latency ms>` lines to <prefix>-<mode>-<rate>.txt: whether
// a p99 comes from a few stalls or from a standing queue. MESH_BENCH_MODES,
// MESH_BENCH_RATE and MESH_BENCH_LOW_RATE (0: skip it) narrow a run.
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as P from '../../protocol/index.ts';
import { cleanup, engine, freePorts, keyPair, shaped, tempDir } from '../relay/harness.ts';
import { linked, type MeshNode, metrics, startMesh, sum } from '../relay/mesh-harness.ts';
import { RawPoster } from './load.ts';
import { contextSwitches, cpuSeconds, niceOf, processesNamed } from './proc.ts';
import { percentile, printTable, verdict } from './table.ts';

const RELAYS = 10;
const RATE = Number(process.env.MESH_BENCH_RATE ?? 500);
/** A rate this shared 2-core machine carries without queueing, for a latency comparison that means something. */
const LOW_RATE = Number(process.env.MESH_BENCH_LOW_RATE ?? 50);
// A relay's hot path reaches V8's optimizing tier after some thousands of
// messages. After a 3 s warm-up at 500 msg/s the measurement still ran
// colder code (~4% more CPU per message over its 15 s), and on this
// saturated machine that made queues that took seconds to drain
// (docs/performance.md). 12 s is the push bench's warm-up counted in
// messages (3 s at 2,000/s); a relay in service has been warm for days.
const WARMUP_S = Number(process.env.MESH_BENCH_WARMUP ?? 12);
const MEASURE_S = Number(process.env.MESH_BENCH_SECONDS ?? 15);
const edges: [number, number][] = [];
for (let i = 0; i < RELAYS; i++) for (const d of [1, 2]) if (i + d < RELAYS) edges.push([i, i + d]);

const idOf = (p: P.ClientMessagePacket): string => createHash('sha256').update(P.packetIdPreimage(p)).digest('hex');

interface Result {
  mode: string;
  rate: number;
  sent: number;
  delivered: number;
  p50: number;
  p99: number;
  copies: number;
  payloadBytes: number;
  meshBytes: number;
  refused: number;
  /** CPU time of all relay processes (every thread) per message sent, ms. */
  cpuMs: number;
  /** Context switches of all relay processes (every thread) per message sent. */
  switches: { voluntary: number; involuntary: number };
}

interface Scraped {
  copies: number;
  payloadBytes: number;
  meshBytes: number;
  /** Peer frames received by all relays, by type. */
  frames: Record<string, number>;
}

const FRAME_TYPES = ['msg', 'ihave', 'iwant', 'graft', 'prune'];

async function scrape(nodes: MeshNode[]): Promise<Scraped> {
  const ms = await Promise.all(nodes.map((n) => metrics(n.url)));
  return {
    copies: ms.reduce((a, m) => a + sum(m, 'relay_mesh_payloads_received_total'), 0),
    payloadBytes: ms.reduce((a, m) => a + sum(m, 'relay_mesh_payload_bytes_received_total'), 0),
    meshBytes: ms.reduce((a, m) => a + sum(m, 'relay_mesh_bytes_received_total'), 0),
    frames: Object.fromEntries(FRAME_TYPES.map((t) => [t, ms.reduce((a, m) => a + sum(m, 'relay_mesh_frames_received_total', `type="${t}"`), 0)])),
  };
}

/** CPU ms per second per relay of the linked mesh with no traffic (housekeeping, gossip every 2 s). */
let idleMsPerS: number | undefined;

/** What a measurement needs from the processes under test. */
interface Target {
  postUrl: string;
  farUrl: string;
  farId: string;
  pids: number[];
  /** Mesh counters (real relays only). */
  scrape?: () => Promise<Scraped>;
}

type Mode = 'flood' | 'plumtree' | 'floor' | 'floor+store' | 'floor+log';

async function run(mode: Mode, rate: number): Promise<Result> {
  if (mode === 'floor' || mode === 'floor+store' || mode === 'floor+log') return runFloor(mode, rate);
  const nodes = await startMesh(RELAYS, edges, { common: ['--mesh-mode', mode, '--max-peers', '8'] });
  try {
    await linked(nodes, edges, 60_000);
    if (idleMsPerS === undefined) {
      // After start-up's own collections have settled.
      await new Promise((r) => setTimeout(r, 8000));
      const c0 = nodes.reduce((a, n) => a + cpuSeconds(n.proc.pid!), 0);
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, 5000));
      idleMsPerS = ((nodes.reduce((a, n) => a + cpuSeconds(n.proc.pid!), 0) - c0) * 1000) / RELAYS / ((performance.now() - t0) / 1000);
    }
    const far = nodes[RELAYS - 1]!;
    return await measure(mode, rate, { postUrl: nodes[0]!.url, farUrl: far.url, farId: far.id, pids: nodes.map((n) => n.proc.pid!), scrape: () => scrape(nodes) });
  } finally {
    await cleanup(...nodes);
  }
}

/**
 * The floor (tests/bench/mesh-floor.js): the same ten processes, topology
 * and client traffic through relays that only hash, dedupe and
 * forward down the eager tree (and with `floor+store`, commit each packet to
 * SQLite too; with `floor+log`, append it to a file). What the machine itself
 * costs for this load.
 */
async function runFloor(mode: 'floor' | 'floor+store' | 'floor+log', rate: number): Promise<Result> {
  const ports = await freePorts(RELAYS);
  // The tree plumtree settles on in this topology: 0 → 1, 2; then i → i + 2 (5 hops to the last).
  const childrenOf = (i: number): number[] => (i === 0 ? [1, 2] : [i + 2]).filter((c) => c < RELAYS);
  const dir = tempDir('mesh-floor-');
  const procs: ChildProcess[] = [];
  try {
    // Leaves first, so every parent finds its children listening.
    for (let i = RELAYS - 1; i >= 0; i--) {
      const store = mode === 'floor+store' ? ['--store', join(dir, `floor-${i}.db`)] : mode === 'floor+log' ? ['--log', join(dir, `floor-${i}.log`)] : [];
      const proc = spawn(process.execPath, [new URL('./mesh-floor.js', import.meta.url).pathname, String(i), String(ports[i]), ...childrenOf(i).map((c) => String(ports[c])), ...store], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      procs.push(proc);
      await new Promise<void>((resolve, reject) => {
        proc.stdout!.once('data', () => resolve());
        proc.once('exit', (code) => reject(new Error(`floor relay ${i} exited with ${code}`)));
      });
    }
    const url = (i: number): string => `http://127.0.0.1:${ports[i]}`;
    return await measure(mode, rate, { postUrl: url(0), farUrl: url(RELAYS - 1), farId: '0'.repeat(64), pids: procs.map((p) => p.pid!) });
  } finally {
    for (const p of procs) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
const epochOffset = Date.now() - nowMs();

/**
 * The subscriber at the far relay, in a process of its own (push-receiver.js),
 * so the time a push arrives is not held up by this process's own work and
 * collections (the load generator's); send and arrival times share the
 * machine's monotonic clock. In this process it measured p99 35.7/38.3 ms
 * against 33.6/38.8 at 500 msg/s, and 37.0/27.2 against 24.0/22.6 at 50 msg/s
 * (docs/performance.md, session 15).
 */
async function subscribeAt(url: string, retrieval: string, arrived: (id: string, at: number) => void): Promise<{ count(): Promise<number>; close(): Promise<void> }> {
  const child = fork(new URL('./push-receiver.js', import.meta.url).pathname, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const reply = <T>(): Promise<T> =>
    new Promise((resolve, reject) => {
      child.once('message', (m) => resolve(m as T));
      child.once('exit', (code) => reject(new Error(`mesh receiver exited (${code})`)));
    });
  const ready = reply<{ ready: true }>();
  child.send({ subscribe: { url, frames: [retrieval], by: 'id' } });
  await ready;
  return {
    count: async () => {
      const r = reply<{ count: number }>();
      child.send({ count: true });
      return (await r).count;
    },
    close: async () => {
      const r = reply<{ received: [string, number][] }>();
      child.send({ report: true });
      for (const [id, at] of (await r).received) arrived(id, at);
    },
  };
}

/** The stall probe (stall-probe.js), in a process of its own beside the run. */
async function stallProbe(): Promise<{ start(): void; report(): Promise<[number, number][]>; close(): void }> {
  const child = fork(new URL('./stall-probe.js', import.meta.url).pathname, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const reply = <T>(): Promise<T> => new Promise((resolve) => child.once('message', (m) => resolve(m as T)));
  await reply<{ ready: true }>();
  return {
    start: () => child.send({ start: true }),
    report: async () => {
      const r = reply<{ stalls: [number, number][] }>();
      child.send({ report: true });
      return (await r).stalls;
    },
    close: () => child.kill(),
  };
}

async function measure(mode: Mode, rate: number, t: Target): Promise<Result> {
  const k = await keyPair();
  const probe = await stallProbe();
  /** Send times (epoch ms) of the measured messages and their latencies, for the stall report. */
  const measured: [number, number][] = [];
  // Send time and whether the message belongs to the measured phase (warm-up
  // messages still arriving after it started must not count).
  const sentAt = new Map<string, { t: number; measured: boolean }>();
  const latencies: number[] = [];
  const timeline: string[] | undefined = process.env.MESH_BENCH_DUMP ? [] : undefined;
  let measuring = false;
  const arrived = (id: string, at: number): void => {
    const e = sentAt.get(id);
    if (e === undefined) return;
    sentAt.delete(id);
    if (!e.measured) return;
    latencies.push(at - e.t);
    measured.push([e.t + epochOffset, at - e.t]);
    // Send time as epoch ms, to line up with other processes' logs.
    timeline?.push(`${(e.t + epochOffset).toFixed(1)} ${(at - e.t).toFixed(2)}`);
  };
  const subscriber = await subscribeAt(t.farUrl, JSON.stringify(await P.signRetrieval(engine, k, t.farId)), arrived);

  // Open loop at RATE: a POST every 1/RATE s whatever the answers do, from a
  // load generator light enough to leave the CPU to the ten relays.
  const poster = await RawPoster.open(t.postUrl, 128);
  let posted = 0;
  // Every packet, warm-up's and the measurement's, is built before the warm-up:
  // the load generator shares the two cores with the relays, so it does as
  // little as it can while they are measured, and the young-generation GC that
  // building 30 MB of packets leaves behind (a 20-40 ms stall of this process,
  // seen right at the start of the measurement) falls in the warm-up instead.
  const build = (seconds: number): { id: string; body: string }[] =>
    Array.from({ length: seconds * rate }, () => {
      const p = shaped(k);
      return { id: idOf(p), body: JSON.stringify(p) };
    });
  const warmupPackets = build(WARMUP_S);
  const measuredPackets = build(MEASURE_S);
  const pace = async (packets: { id: string; body: string }[]): Promise<number> => {
    const total = packets.length;
    const start = performance.now();
    for (let i = 0; i < total; i++) {
      const due = start + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const { id, body } = packets[i]!;
      sentAt.set(id, { t: nowMs(), measured: measuring });
      poster.post('/v1/messages', body);
      posted++;
    }
    await poster.answered(posted);
    return total;
  };
  await pace(warmupPackets);
  await new Promise((r) => setTimeout(r, 1000));
  const before = await t.scrape?.();
  const cpuBefore = t.pids.reduce((a, pid) => a + cpuSeconds(pid), 0);
  const switchesBefore = t.pids.map(contextSwitches);
  const kdamond = processesNamed('kdamond');
  const kdamondBefore = kdamond.reduce((a, pid) => a + cpuSeconds(pid), 0);
  const measureStart = performance.now();
  measuring = true;
  probe.start();
  // Diagnostics: MESH_BENCH_ON_MEASURE is a shell command run as the measured phase starts,
  // with MODE, RATE and PIDS (the relays' process ids, relay 0 first) set
  // (e.g. 'perf record -a -g -o /tmp/perf-$MODE-$RATE.data sleep 15').
  if (process.env.MESH_BENCH_ON_MEASURE) spawn(process.env.MESH_BENCH_ON_MEASURE, { shell: true, stdio: 'inherit', env: { ...process.env, MODE: mode, RATE: String(rate), PIDS: t.pids.join(' ') } });
  const badBefore = poster.bad;
  const sent = await pace(measuredPackets);
  const refused = poster.bad - badBefore;
  // Let the tail arrive.
  const deadline = Date.now() + 10_000;
  while ((await subscriber.count()) < posted && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const stalls = await probe.report();
  const kdamondMsPerS = ((kdamond.reduce((a, pid) => a + cpuSeconds(pid), 0) - kdamondBefore) * 1e6) / (performance.now() - measureStart);
  probe.close();
  await subscriber.close();
  measuring = false;
  reportStalls(mode, rate, stalls, measured);
  if (kdamond.length) {
    console.log(`${mode} ${rate}/s: the kernel's DAMON thread(s) (kdamond, nice ${kdamond.map(niceOf).join('/')}) used ${kdamondMsPerS.toFixed(1)} ms of CPU per second meanwhile, in bursts every sampling interval: the stalls above`);
  }
  const lost = [...sentAt.values()].filter((e) => e.measured).length;
  if (lost) console.log(`${mode} ${rate}/s: ${lost} measured message(s) not pushed at the far end within 10 s`);
  const cpuAfter = t.pids.reduce((a, pid) => a + cpuSeconds(pid), 0);
  const switchesAfter = t.pids.map(contextSwitches);
  const switchesPerMsg = (k: keyof Result['switches']): number => switchesAfter.reduce((a, c, i) => a + c[k] - switchesBefore[i]![k], 0) / sent;
  const after = await t.scrape?.();
  poster.close();
  if (poster.reconnects) console.log(`${mode} ${rate}/s: the relay closed ${poster.reconnects} idle keep-alive connection(s) of the load generator's (requests caught on one were sent again)`);
  if (poster.statuses.size) console.log(`${mode}: refused POSTs by status: ${JSON.stringify(Object.fromEntries(poster.statuses))}`);
  if (timeline) writeFileSync(`${process.env.MESH_BENCH_DUMP}-${mode}-${rate}.txt`, `${timeline.join('\n')}\n`);
  const perRelayMsg = (x: number): number => x / (RELAYS - 1) / sent;
  // How messages travelled: iwant and graft frames mean some went the lazy way (ihave, then a request), which costs latency.
  if (after && before) console.log(`${mode} ${rate}/s: peer frames received per message, all relays: ${FRAME_TYPES.map((f) => `${f} ${((after.frames[f]! - before.frames[f]!) / sent).toFixed(3)}`).join(', ')}`);
  return {
    mode,
    rate,
    sent,
    delivered: latencies.length,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    copies: after && before ? perRelayMsg(after.copies - before.copies) : NaN,
    payloadBytes: after && before ? perRelayMsg(after.payloadBytes - before.payloadBytes) : NaN,
    meshBytes: after && before ? perRelayMsg(after.meshBytes - before.meshBytes) : NaN,
    refused,
    cpuMs: ((cpuAfter - cpuBefore) / sent) * 1000,
    switches: { voluntary: switchesPerMsg('voluntary'), involuntary: switchesPerMsg('involuntary') },
  };
}

/**
 * What the stall probe saw while a run was measured, and how the messages
 * sent within 30 ms before a stall's end fared: when the whole machine stops,
 * a message on its way waits it out at whichever hop it is on.
 */
function reportStalls(mode: string, rate: number, stalls: [number, number][], measured: [number, number][]): void {
  if (stalls.length === 0 || measured.length === 0) return;
  const hit = measured.filter(([t]) => stalls.some(([s, d]) => t >= s - 30 && t <= s + d));
  const rest = measured.filter((m) => !hit.includes(m)).map(([, l]) => l);
  const spanS = (measured.at(-1)![0] - measured[0]![0]) / 1000;
  console.log(
    `${mode} ${rate}/s: machine stalls seen by an idle probe process: ${stalls.length} over ${spanS.toFixed(0)} s (median ${percentile(stalls.map(([, d]) => d), 50).toFixed(1)} ms, longest ${Math.max(...stalls.map(([, d]) => d)).toFixed(1)} ms); ` +
      `${((100 * hit.length) / measured.length).toFixed(1)}% of messages were sent in or just before one (their p99 ${percentile(hit.map(([, l]) => l), 99).toFixed(1)} ms; the rest ${percentile(rest, 99).toFixed(1)} ms)`,
  );
}

const modes = (process.env.MESH_BENCH_MODES ?? 'flood,plumtree,floor,floor+store,floor+log').split(',') as Mode[];
const results: Result[] = [];
const rates = [RATE, LOW_RATE].filter((r) => r > 0);
for (const rate of rates) for (const mode of modes) results.push(await run(mode, rate));
const at = (mode: string, rate: number): Result | undefined => results.find((r) => r.mode === mode && r.rate === rate);
console.log(
  `${RELAYS} relays, each linked to the next two (degree 4 inside, ${Math.ceil((RELAYS - 1) / 2)} hops from relay 0 to relay ${RELAYS - 1}); ` +
    `1 KiB-bucket packets POSTed open-loop at relay 0 for ${MEASURE_S} s after ${WARMUP_S} s warm-up; latency = POST sent → WebSocket push at relay ${RELAYS - 1}. ` +
    `Copies and bytes are received over peer links, per receiving relay (${RELAYS - 1}) per message. Relays run with --sync normal.\n`,
);
printTable(
  ['mode', 'msg/s', 'sent', 'pushed at far end', 'p50 ms', 'p99 ms', 'payload copies / relay / msg', 'payload KB / relay / msg', 'all mesh KB / relay / msg', 'POST refused', 'CPU ms / msg, all 10 relays', 'relay CPU at this rate (cores)'],
  results.map((r) => [r.mode, r.rate, r.sent, r.delivered, r.p50, r.p99, ...[r.copies, r.payloadBytes / 1024, r.meshBytes / 1024].map((v) => (Number.isNaN(v) ? '—' : v)), r.refused, r.cpuMs, (r.cpuMs * r.rate) / 1000]),
);
printTable(
  ['mode', 'msg/s', 'context switches / msg, all 10: voluntary (blocked)', 'involuntary (preempted)'],
  results.map((r) => [r.mode, r.rate, r.switches.voluntary, r.switches.involuntary]),
);
console.log(
  'Context switches of all ten relay processes (every thread) per message, from /proc. On this VM blocking, waking and being preempted are a large part of a hop\'s cost, and the machine\'s periodic stalls are CPU bursts of the kernel\'s DAMON thread, which grow with the memory the load touches (docs/performance.md, sessions 20 and 21).\n',
);
console.log(
  'floor: the same processes, topology and traffic through relays that only hash, dedupe and forward the same binary frames down the eager tree (tests/bench/mesh-floor.js); ' +
    'floor+store: the same, plus a SQLite commit per event-loop turn (the schema of the relay\'s store before the log, WAL, synchronous=NORMAL). What this machine costs for the load before any relay logic. ' +
    'floor+log: the floor plus one append to a log file per turn instead (no index): what the relay\'s log-structured store costs at least.\n',
);
const vsFloor: (string | number)[][] = [];
for (const rate of rates) {
  const p = at('plumtree', rate);
  for (const base of ['floor', 'floor+store', 'floor+log'])
    if (p && at(base, rate)) {
      const b = at(base, rate)!;
      vsFloor.push([`${rate} msg/s`, `plumtree / ${base}`, `${p.p99.toFixed(1)} / ${b.p99.toFixed(1)} ms = ${(p.p99 / b.p99).toFixed(1)}×`, `${p.cpuMs.toFixed(2)} / ${b.cpuMs.toFixed(2)} ms = ${(p.cpuMs / b.cpuMs).toFixed(2)}×`]);
    }
}
if (vsFloor.length) printTable(['rate', 'relays / floor (same run)', 'p99 over 5 hops', 'CPU per message, all 10'], vsFloor);
if (idleMsPerS !== undefined) console.log(`\nIdle (linked, no traffic): ${idleMsPerS.toFixed(1)} ms of CPU per second per relay.\n`);
const targets: (string | number)[][] = [];
for (const rate of rates) {
  const f = at('flood', rate);
  const p = at('plumtree', rate);
  if (p) targets.push([`${rate} msg/s: plumtree payload copies ≤ 1.5 per relay per message`, p.copies.toFixed(2), verdict(p.copies <= 1.5)]);
  if (f && p) targets.push([`${rate} msg/s: plumtree p99 ≤ 2× flooding p99`, `${p.p99.toFixed(1)} vs ${f.p99.toFixed(1)} ms (${(p.p99 / f.p99).toFixed(2)}×)`, verdict(p.p99 <= 2 * f.p99)]);
  for (const r of [f, p]) if (r) targets.push([`${rate} msg/s: ${r.mode} p99 < 25 ms over 5 hops`, `${r.p99.toFixed(1)} ms`, verdict(r.p99 < 25)]);
  for (const r of [f, p]) if (r) targets.push([`${rate} msg/s: ${r.mode} pushes every message at the far end`, `${r.delivered}/${r.sent}`, verdict(r.delivered === r.sent)]);
}
printTable(['target', 'measured', 'verdict'], targets);
process.exit(0);
