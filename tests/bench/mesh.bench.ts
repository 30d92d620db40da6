// Mesh benchmark: 10 real relay processes on loopback, linked as a line with
// skip links (each relay to the next two: degree 4 inside, 5 hops end to end).
// 500 msg/s are POSTed at relay 0 and a WebSocket subscriber at relay 9 (the
// farthest) timestamps each push. Run once with plain flooding and once with
// plumtree (eager tree + ihave/graft), same topology, rate and duration.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import * as P from '../../protocol/index.ts';
import { cleanup, engine, keyPair, shaped } from '../relay/harness.ts';
import { linked, type MeshNode, metrics, startMesh, sum } from '../relay/mesh-harness.ts';
import { RawPoster } from './load.ts';
import { percentile, printTable, verdict } from './table.ts';

const RELAYS = 10;
const RATE = Number(process.env.MESH_BENCH_RATE ?? 500);
/** A rate this shared 2-core machine carries without queueing, for a latency comparison that means something. */
const LOW_RATE = 50;
const WARMUP_S = 3;
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
}

/** user+system CPU seconds of a process so far, every thread (/proc). */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

async function scrape(nodes: MeshNode[]): Promise<{ copies: number; payloadBytes: number; meshBytes: number }> {
  const ms = await Promise.all(nodes.map((n) => metrics(n.url)));
  return {
    copies: ms.reduce((a, m) => a + sum(m, 'relay_mesh_payloads_received_total'), 0),
    payloadBytes: ms.reduce((a, m) => a + sum(m, 'relay_mesh_payload_bytes_received_total'), 0),
    meshBytes: ms.reduce((a, m) => a + sum(m, 'relay_mesh_bytes_received_total'), 0),
  };
}

/** CPU ms per second per relay of the linked mesh with no traffic (housekeeping, gossip every 2 s). */
let idleMsPerS: number | undefined;

async function run(mode: 'flood' | 'plumtree', rate: number): Promise<Result> {
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
    const k = await keyPair();
    const far = nodes[RELAYS - 1]!;
    // Send time and whether the message belongs to the measured phase (warm-up
    // messages still arriving after it started must not count).
    const sentAt = new Map<string, { t: number; measured: boolean }>();
    const latencies: number[] = [];
    let measuring = false;
    const ws = new WebSocket(`${far.url.replace('http', 'ws')}/v1/subscribe`);
    await new Promise((r, j) => ws.once('open', r).once('error', j));
    ws.send(JSON.stringify(await P.signRetrieval(engine, k, far.id)));
    let synced!: () => void;
    const ready = new Promise<void>((r) => (synced = r));
    ws.on('message', (d) => {
      const now = performance.now();
      const f = JSON.parse(d.toString());
      if (f.type === 'synced') synced();
      if (f.type !== 'messages') return;
      for (const m of f.messages) {
        const e = sentAt.get(m.id);
        if (e !== undefined) {
          sentAt.delete(m.id);
          if (e.measured) latencies.push(now - e.t);
        }
      }
    });
    await ready;

    // Open loop at RATE: a POST every 1/RATE s whatever the answers do, from a
    // load generator light enough to leave the CPU to the ten relays.
    const poster = await RawPoster.open(nodes[0]!.url, 128);
    let posted = 0;
    const pace = async (seconds: number): Promise<number> => {
      const total = seconds * rate;
      const start = performance.now();
      for (let i = 0; i < total; i++) {
        const due = start + (i * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
        const p = shaped(k);
        sentAt.set(idOf(p), { t: performance.now(), measured: measuring });
        poster.post('/v1/messages', JSON.stringify(p));
        posted++;
      }
      await poster.answered(posted);
      return total;
    };
    await pace(WARMUP_S);
    await new Promise((r) => setTimeout(r, 1000));
    const before = await scrape(nodes);
    const cpuBefore = nodes.reduce((a, n) => a + cpuSeconds(n.proc.pid!), 0);
    measuring = true;
    const badBefore = poster.bad;
    const sent = await pace(MEASURE_S);
    const refused = poster.bad - badBefore;
    // Let the tail arrive.
    const deadline = Date.now() + 10_000;
    while (latencies.length < sent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    measuring = false;
    const lost = [...sentAt.values()].filter((e) => e.measured).length;
    if (lost) console.log(`${mode} ${rate}/s: ${lost} measured message(s) not pushed at the far end within 10 s`);
    const cpuAfter = nodes.reduce((a, n) => a + cpuSeconds(n.proc.pid!), 0);
    const after = await scrape(nodes);
    ws.close();
    poster.close();
    if (poster.reconnects) console.log(`${mode} ${rate}/s: the load generator replaced ${poster.reconnects} keep-alive connection(s) the relay closed when idle (requests on them were sent again)`);
    if (poster.statuses.size) console.log(`${mode}: refused POSTs by status: ${JSON.stringify(Object.fromEntries(poster.statuses))}`);
    const perRelayMsg = (x: number): number => x / (RELAYS - 1) / sent;
    return {
      mode,
      rate,
      sent,
      delivered: latencies.length,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      copies: perRelayMsg(after.copies - before.copies),
      payloadBytes: perRelayMsg(after.payloadBytes - before.payloadBytes),
      meshBytes: perRelayMsg(after.meshBytes - before.meshBytes),
      refused,
      cpuMs: ((cpuAfter - cpuBefore) / sent) * 1000,
    };
  } finally {
    await cleanup(...nodes);
  }
}

const modes = (process.env.MESH_BENCH_MODES ?? 'flood,plumtree').split(',') as ('flood' | 'plumtree')[];
const results: Result[] = [];
for (const rate of [RATE, LOW_RATE]) for (const mode of modes) results.push(await run(mode, rate));
const at = (mode: string, rate: number): Result | undefined => results.find((r) => r.mode === mode && r.rate === rate);
console.log(
  `${RELAYS} relays, each linked to the next two (degree 4 inside, ${Math.ceil((RELAYS - 1) / 2)} hops from relay 0 to relay ${RELAYS - 1}); ` +
    `1 KiB-bucket packets POSTed open-loop at relay 0 for ${MEASURE_S} s after ${WARMUP_S} s warm-up; latency = POST sent → WebSocket push at relay ${RELAYS - 1}. ` +
    `Copies and bytes are received over peer links, per receiving relay (${RELAYS - 1}) per message. Relays run with --sync normal.\n`,
);
printTable(
  ['mode', 'msg/s', 'sent', 'pushed at far end', 'p50 ms', 'p99 ms', 'payload copies / relay / msg', 'payload KB / relay / msg', 'all mesh KB / relay / msg', 'POST refused', 'CPU ms / msg, all 10 relays', 'relay CPU at this rate (cores)'],
  results.map((r) => [r.mode, r.rate, r.sent, r.delivered, r.p50, r.p99, r.copies, r.payloadBytes / 1024, r.meshBytes / 1024, r.refused, r.cpuMs, (r.cpuMs * r.rate) / 1000]),
);
if (idleMsPerS !== undefined) console.log(`\nIdle (linked, no traffic): ${idleMsPerS.toFixed(1)} ms of CPU per second per relay.\n`);
const targets: (string | number)[][] = [];
for (const rate of [RATE, LOW_RATE]) {
  const f = at('flood', rate);
  const p = at('plumtree', rate);
  if (p) targets.push([`${rate} msg/s: plumtree payload copies ≤ 1.5 per relay per message`, p.copies.toFixed(2), verdict(p.copies <= 1.5)]);
  if (f && p) targets.push([`${rate} msg/s: plumtree p99 ≤ 2× flooding p99`, `${p.p99.toFixed(1)} vs ${f.p99.toFixed(1)} ms (${(p.p99 / f.p99).toFixed(2)}×)`, verdict(p.p99 <= 2 * f.p99)]);
  for (const r of [f, p]) if (r) targets.push([`${rate} msg/s: ${r.mode} p99 < 25 ms over 5 hops`, `${r.p99.toFixed(1)} ms`, verdict(r.p99 < 25)]);
  for (const r of [f, p]) if (r) targets.push([`${rate} msg/s: ${r.mode} pushes every message at the far end`, `${r.delivered}/${r.sent}`, verdict(r.delivered === r.sent)]);
}
printTable(['target', 'measured', 'verdict'], targets);
process.exit(0);
