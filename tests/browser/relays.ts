// Real relay processes for the browser tests: `node relay` on free loopback
// ports with temporary data folders, serving the PWA from ./build.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Relay {
  url: string;
  port: number;
  proc: ChildProcess;
  dataDir: string;
  output: () => string;
  stop(): Promise<void>;
}

const root = new URL('../..', import.meta.url).pathname;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/**
 * `n` different free ports. The OS may hand the same port to two calls in a
 * row (each is closed before the next): two relays started on one port meant
 * one answered the other's health check and both announced its URL under two
 * keys (seen once as anonymity.spec (b) finding only 3 of 4 relays).
 */
export async function freePorts(n: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < n) {
    const p = await freePort();
    if (!ports.includes(p)) ports.push(p);
  }
  return ports;
}

/** `extra` flags go last, so they override the defaults (e.g. `--stun-port N`, `--turn-url`). */
export async function startRelay(port: number, peers: number[] = [], extra: string[] = []): Promise<Relay> {
  if (!existsSync(join(root, 'build', 'index.html'))) throw new Error('build/ is missing: run `npx vite build` first (tests/run.js does)');
  const dataDir = mkdtempSync(join(tmpdir(), 'meshchat-pw-'));
  const url = `http://127.0.0.1:${port}`;
  // Diagnostics: BROWSER_RELAY_LOG_DIR keeps each relay's whole log there, at BROWSER_RELAY_LOG_LEVEL (default warn).
  const logDir = process.env.BROWSER_RELAY_LOG_DIR;
  const args = ['relay', '--host', '127.0.0.1', '--port', String(port), '--data', dataDir, '--public-url', url, '--static', 'build', '--stun-port', '0', '--rate-limit', '0', '--log-level', process.env.BROWSER_RELAY_LOG_LEVEL ?? 'warn'];
  for (const p of peers) args.push('--peer', `http://127.0.0.1:${p}`);
  args.push(...extra);
  const proc = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  proc.stderr?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  if (logDir) {
    const file = join(logDir, `relay-${port}-${Date.now()}.log`);
    for (const s of [proc.stdout, proc.stderr]) s?.on('data', (d: Buffer) => appendFileSync(file, d));
  }
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`relay on ${port} exited (${proc.exitCode}):\n${out}`);
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`relay on ${port} did not come up:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    port,
    proc,
    dataDir,
    output: () => out,
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        if (proc.exitCode === null) proc.kill('SIGKILL');
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Two relays peered with each other (the mesh carries messages between them). */
export async function startMesh(n: number, extra: (i: number) => string[] = () => []): Promise<Relay[]> {
  const ports = await freePorts(n);
  return Promise.all(ports.map((p, i) => startRelay(p, ports.filter((q) => q !== p), extra(i))));
}
