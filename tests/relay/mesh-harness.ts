// Mesh helpers on top of harness.ts: start several real relays with a given
// link topology, wait for links, scrape /metrics and /v1/status.
import { cleanup, freePorts, type Json, type RelayProcess, startRelay, tempDir } from './harness.ts';

export interface MeshNode extends RelayProcess {
  index: number;
  args: string[];
}

const START_BATCH = 4;

/** Fast timings for tests; the production defaults are minutes. */
export const TEST_MESH_ARGS = ['--target-peers', '0', '--canary-interval', '0', '--gossip-interval', '2s', '--rate-limit', '0', '--sync', 'normal'];

/**
 * Starts `n` relays linked by `edges` (index pairs; with `asGiven`, [dialer,
 * listener], each relay dialing its listeners with --peer). Ports are picked first so every URL is
 * known before anything starts.
 */
export async function startMesh(
  n: number,
  edges: [number, number][],
  opts: { args?: (i: number, ports: number[]) => string[]; common?: string[]; asGiven?: boolean } = {},
): Promise<MeshNode[]> {
  // Nodes start in index order, a few at a time; unless told otherwise the later one of each
  // pair dials, so nobody sits in reconnect backoff waiting for a listener that is not up yet.
  const has = (a: number, b: number): boolean => edges.some(([x, y]) => x === a && y === b);
  const dials = opts.asGiven ? edges : edges.map(([a, b]): [number, number] => (has(b, a) || a > b ? [a, b] : [b, a]));
  const ports = await freePorts(n);
  const url = (i: number): string => `http://127.0.0.1:${ports[i]}`;
  const startOne = async (port: number, i: number): Promise<MeshNode> => {
    const peers = dials.filter(([a]) => a === i).flatMap(([, b]) => ['--peer', url(b)]);
    const args = [...TEST_MESH_ARGS, ...(opts.common ?? []), ...peers, ...(opts.args?.(i, ports) ?? [])];
    const dataDir = tempDir('mesh-test-');
    let r: RelayProcess;
    try {
      r = await startRelay({ port, args, dataDir });
    } catch {
      // startRelay allows 30 s; on a 2-core machine shared with builds and browsers a start can
      // take longer. One more try on the same port and folder before giving up.
      r = await startRelay({ port, args, dataDir });
    }
    return Object.assign(r, { index: i, args });
  };
  // A few at a time: starting many tsx processes at once on 2 cores can take longer than startRelay waits.
  const settled: PromiseSettledResult<MeshNode>[] = [];
  for (let i = 0; i < n; i += START_BATCH) settled.push(...(await Promise.allSettled(ports.slice(i, i + START_BATCH).map((p, j) => startOne(p, i + j)))));
  const nodes = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    // Do not leave the ones that did start running.
    await cleanup(...nodes);
    throw failed.reason;
  }
  return nodes;
}

/** Restarts a stopped node on the same port and data folder with the same arguments. */
export async function restart(node: MeshNode): Promise<MeshNode> {
  const r = await startRelay({ port: node.port, dataDir: node.dataDir, args: node.args });
  return Object.assign(r, { index: node.index, args: node.args });
}

export async function status(url: string): Promise<Json> {
  const r = await fetch(`${url}/v1/status`);
  return r.json();
}

/** Parses Prometheus text into name{labels} → value, summing nothing. */
export async function metrics(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/** Sum of every series of a metric whose labels contain all of `match` (e.g. 'result="new"'). */
export function sum(m: Map<string, number>, name: string, ...match: string[]): number {
  let s = 0;
  for (const [k, v] of m) if ((k === name || k.startsWith(`${name}{`)) && match.every((x) => k.includes(x))) s += v;
  return s;
}

export async function until(pred: () => Promise<boolean> | boolean, ms: number, what: string, every = 100): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/** Waits until each node has at least as many links up as its degree in `edges`. */
export async function linked(nodes: MeshNode[], edges: [number, number][], ms = 20_000): Promise<void> {
  const degree = nodes.map((_, i) => edges.filter(([a, b]) => a === i || b === i).length);
  await until(async () => (await Promise.all(nodes.map((n) => status(n.url)))).every((s, i) => s.peers >= degree[i]!), ms, 'peer links');
}

export async function rssBytes(url: string): Promise<number> {
  return sum(await metrics(url), 'relay_process_resident_memory_bytes');
}
