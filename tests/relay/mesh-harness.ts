// Mesh helpers on top of harness.ts: start several real relays with a given
// link topology, wait for links, scrape /metrics and /v1/status.
import { freePort, type RelayProcess, startRelay, tempDir } from './harness.ts';

export interface MeshNode extends RelayProcess {
  index: number;
  args: string[];
}

/** Fast timings for tests; the production defaults are minutes. */
export const TEST_MESH_ARGS = ['--target-peers', '0', '--canary-interval', '0', '--gossip-interval', '2s', '--rate-limit', '0', '--sync', 'normal'];

/**
 * Starts `n` relays; `edges` are [dialer, listener] index pairs (each relay
 * dials its listeners with --peer). Ports are picked first so every URL is
 * known before anything starts.
 */
export async function startMesh(
  n: number,
  edges: [number, number][],
  opts: { args?: (i: number) => string[]; common?: string[] } = {},
): Promise<MeshNode[]> {
  const ports: number[] = [];
  while (ports.length < n) {
    const p = await freePort();
    if (!ports.includes(p)) ports.push(p);
  }
  const url = (i: number): string => `http://127.0.0.1:${ports[i]}`;
  const nodes = await Promise.all(
    ports.map(async (port, i) => {
      const peers = edges.filter(([a]) => a === i).flatMap(([, b]) => ['--peer', url(b)]);
      const args = [...TEST_MESH_ARGS, ...(opts.common ?? []), ...peers, ...(opts.args?.(i) ?? [])];
      const r = await startRelay({ port, args, dataDir: tempDir('mesh-test-') });
      return Object.assign(r, { index: i, args });
    }),
  );
  return nodes;
}

/** Restarts a stopped node on the same port and data folder with the same arguments. */
export async function restart(node: MeshNode): Promise<MeshNode> {
  const r = await startRelay({ port: node.port, dataDir: node.dataDir, args: node.args });
  return Object.assign(r, { index: node.index, args: node.args });
}

export async function status(url: string): Promise<any> {
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
