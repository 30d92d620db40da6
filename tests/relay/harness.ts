// Test harness: real relay processes (`node relay …`) on loopback ports
// chosen free at runtime, temp data folders, and packet builders that use
// the protocol module.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import WebSocket from 'ws';
import * as P from '../../protocol/index.ts';

export const root = new URL('../..', import.meta.url).pathname;
export const engine = P.webCryptoEngine;

// Relay JSON as the tests read it: shapes are asserted field by field with expect().
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export type KeyPair = { privateKey: P.PrivateKeyHandle; publicKey: P.PublicKeyHandle };

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** `n` different free ports: the OS may hand one port to two calls in a row, each closed before the next. */
export async function freePorts(n: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < n) {
    const p = await freePort();
    if (!ports.includes(p)) ports.push(p);
  }
  return ports;
}

export const tempDir = (prefix = 'relay-test-'): string => mkdtempSync(join(tmpdir(), prefix));

export interface RelayProcess {
  url: string;
  port: number;
  dataDir: string;
  proc: ChildProcess;
  id: string;
  output: () => string;
  /** Sends a signal and resolves with the exit code (or signal name). */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

export async function startRelay(opts: { dataDir?: string; args?: string[]; port?: number; env?: Record<string, string> } = {}): Promise<RelayProcess> {
  const port = opts.port ?? (await freePort());
  const dataDir = opts.dataDir ?? tempDir();
  const url = `http://127.0.0.1:${port}`;
  const args = [join(root, 'relay'), '--host', '127.0.0.1', '--port', String(port), '--data', dataDir, '--public-url', url, '--stun-port', '0', '--log-level', 'warn', ...(opts.args ?? [])];
  // RELAY_NODE_ARGS: node flags for every relay started here (profiling, e.g. '--cpu-prof --cpu-prof-dir=/tmp/prof').
  const nodeArgs = process.env.RELAY_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const proc = spawn(process.execPath, [...nodeArgs, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | string>((resolve) => proc.on('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  const deadline = Date.now() + 30_000;
  let status: { id: string } | undefined;
  while (!status) {
    if (proc.exitCode !== null) throw new Error(`relay exited during start: ${out}`);
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`relay did not start: ${out}`);
    }
    try {
      const r = await fetch(`${url}/v1/status`);
      if (r.ok) status = (await r.json()) as { id: string };
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    url,
    port,
    dataDir,
    proc,
    id: status.id,
    output: () => out,
    stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

export async function cleanup(...relays: (RelayProcess | undefined)[]): Promise<void> {
  for (const r of relays) {
    if (!r) continue;
    // A profiled relay (RELAY_NODE_ARGS) must exit on its own to write its profile.
    await r.stop(process.env.RELAY_NODE_ARGS ? 'SIGTERM' : 'SIGKILL');
    rmSync(r.dataDir, { recursive: true, force: true });
  }
}

export const keyPair = (): Promise<KeyPair> => engine.generateKeyPair(true);

/** For a test file: one relay (rate limit off) and two keys, ready before its tests and removed after. Read the fields inside tests. */
export function relayAndTwoKeys(): { readonly relay: RelayProcess; readonly alice: KeyPair; readonly bob: KeyPair } {
  const s = {} as { relay: RelayProcess; alice: KeyPair; bob: KeyPair };
  beforeAll(async () => {
    [s.alice, s.bob] = await Promise.all([keyPair(), keyPair()]);
    s.relay = await startRelay({ args: ['--rate-limit', '0'] });
  });
  afterAll(() => cleanup(s.relay));
  return s;
}
export const publicKeyOf = (k: KeyPair): string => P.encodePublicKey(k.publicKey.spki);

/** A real sealed packet from `from` to `to`. */
export async function sealed(from: KeyPair, to: KeyPair, content = 'hello'): Promise<P.ClientMessagePacket> {
  return (await P.sealPacket(engine, from, to.publicKey, { content })).packet;
}

/**
 * A packet with the exact shape a relay checks (valid recipient key,
 * envelopes of bucket sizes with version byte 1) but random envelope bytes:
 * relays cannot open envelopes, so to them it is indistinguishable from a
 * sealed one, and it costs no RSA work (for bulk tests).
 */
export function shaped(to: KeyPair | string, bucket = 1024): P.ClientMessagePacket {
  const env = (n: number): string => {
    const b = randomBytes(n + P.ENVELOPE_OVERHEAD);
    b[0] = P.ENVELOPE_VERSION;
    return b.toString('base64');
  };
  return { recipient: typeof to === 'string' ? to : publicKeyOf(to), message: env(bucket), signature: env(P.SIGNATURE_BUCKET) };
}

export const idOf = (p: P.ClientMessagePacket): Promise<string> => P.packetId(p, (d) => engine.sha256(d));

export async function retrievalHeader(k: KeyPair, relayId: string, opts: { now?: number; after?: string } = {}): Promise<string> {
  return P.encodeRetrievalHeader(await P.signRetrieval(engine, k, relayId, opts));
}

export async function post(url: string, body: unknown, raw = false): Promise<{ status: number; json: Json; headers: Headers }> {
  const r = await fetch(`${url}/v1/messages`, { method: 'POST', body: raw ? (body as string) : JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : undefined, headers: r.headers };
}

export async function getMessages(url: string, header: string | undefined, query = ''): Promise<{ status: number; json: Json }> {
  const r = await fetch(`${url}/v1/messages${query}`, { headers: header === undefined ? {} : { 'x-retrieval': header } });
  return { status: r.status, json: await r.json() };
}

/** Every message for a key, paging with the cursor. */
export async function getAll(url: string, k: KeyPair, relayId: string): Promise<Json[]> {
  const out: Json[] = [];
  let after = '';
  for (;;) {
    const r = await getMessages(url, await retrievalHeader(k, relayId), `?limit=500${after ? `&after=${after}` : ''}`);
    if (r.status !== 200) throw new Error(`GET failed ${r.status} ${JSON.stringify(r.json)}`);
    out.push(...r.json.messages);
    after = r.json.cursor;
    if (!r.json.more) return out;
  }
}

/** Resolves once the relay answers /healthz. */
export async function serving(url: string): Promise<boolean> {
  const r = await fetch(`${url}/healthz`);
  return r.status === 200;
}

/** A WebSocket client that collects frames. */
export class WsClient {
  readonly ws: WebSocket;
  readonly frames: Json[] = [];
  closed: { code: number; reason: string } | undefined;
  private waiters: (() => void)[] = [];
  readonly opened: Promise<void>;

  constructor(url: string) {
    this.ws = new WebSocket(url.replace(/^http/, 'ws') + '/v1/subscribe');
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.ws.on('error', () => {});
    this.ws.on('message', (d) => {
      this.frames.push(JSON.parse(d.toString()));
      this.wake();
    });
    this.ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  async until(pred: () => boolean, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out; frames: ${JSON.stringify(this.frames).slice(0, 500)} closed: ${JSON.stringify(this.closed)}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
  }

  messages(): Json[] {
    return this.frames.filter((f) => f.type === 'messages').flatMap((f) => f.messages);
  }

  close(): void {
    this.ws.close();
  }
}
