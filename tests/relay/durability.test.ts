import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packetIdOf } from '../../relay/ingest.ts';
import { writeLegacyStore } from './legacy-store.ts';
import { cleanup, getAll, keyPair, type KeyPair, type RelayProcess, root, shaped, startRelay, tempDir } from './harness.ts';

const started: RelayProcess[] = [];
afterAll(() => cleanup(...started));

/**
 * Streams POSTs with `concurrency` in flight until stopped; returns the ids
 * that got 202. Failures after the relay dies are expected and ignored.
 */
function stream(url: string, to: KeyPair, concurrency: number): { accepted: string[]; stop: () => Promise<void>; count: () => number } {
  const accepted: string[] = [];
  let running = true;
  const worker = async (): Promise<void> => {
    while (running) {
      try {
        const r = await fetch(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify(shaped(to)) });
        const body = (await r.json()) as { id: string };
        if (r.status === 202) accepted.push(body.id);
      } catch {
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  return {
    accepted,
    count: () => accepted.length,
    stop: async () => {
      running = false;
      await Promise.all(workers);
    },
  };
}

async function waitFor(pred: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

describe('durability', () => {
  // full: each group commit is fdatasync'd before its 202s; normal: only written, which survives a process crash.
  it.each(['full', 'normal'])('every id that got 202 survives SIGKILL mid-stream and a restart (--sync %s)', async (sync) => {
    const bob = await keyPair();
    const relay = await startRelay({ args: ['--rate-limit', '0', '--sync', sync] });
    started.push(relay);
    const s = stream(relay.url, bob, 32);
    // A count, not a time: on a loaded machine the relay may be slow, and what
    // matters is that the kill lands while 32 POSTs are in flight.
    await waitFor(() => s.count() >= 400, 90_000);
    expect(await relay.stop('SIGKILL')).toBe('SIGKILL');
    await s.stop();
    const accepted = [...s.accepted];
    expect(accepted.length).toBeGreaterThanOrEqual(400);

    const again = await startRelay({ dataDir: relay.dataDir, args: ['--rate-limit', '0', '--sync', sync] });
    started.push(again);
    expect(again.id).toBe(relay.id);
    const held = new Set((await getAll(again.url, bob, again.id)).map((m) => m.id));
    const lost = accepted.filter((id) => !held.has(id));
    expect(lost).toEqual([]);
  });

  it('SIGTERM stops accepting, commits what is queued and exits 0; nothing acknowledged is lost', async () => {
    const carol = await keyPair();
    const relay = await startRelay({ args: ['--rate-limit', '0'] });
    started.push(relay);
    const s = stream(relay.url, carol, 32);
    await waitFor(() => s.count() >= 500, 20_000);
    const code = await relay.stop('SIGTERM');
    await s.stop();
    expect(code).toBe(0);
    expect(relay.output()).not.toMatch(/"level":50/);
    const again = await startRelay({ dataDir: relay.dataDir, args: ['--rate-limit', '0'] });
    started.push(again);
    const held = new Set((await getAll(again.url, carol, again.id)).map((m) => m.id));
    expect(s.accepted.filter((id) => !held.has(id))).toEqual([]);
    expect(held.size).toBeGreaterThanOrEqual(s.accepted.length);
  });

  it('a relay upgraded from the SQLite store imports it at start, serves what it held, and deletes the old file', async () => {
    const bob = await keyPair();
    const dataDir = tempDir('relay-legacy-');
    const ps = Array.from({ length: 4 }, () => shaped(bob));
    writeLegacyStore(join(dataDir, 'messages.db'), ps, Date.now() - 60_000, 2_000_000, 1);
    const relay = await startRelay({ dataDir });
    started.push(relay);
    expect((await getAll(relay.url, bob, relay.id)).map((m) => m.id)).toEqual([0, 2, 3].map((i) => packetIdOf(ps[i]!)));
    expect(existsSync(join(dataDir, 'messages.db'))).toBe(false);
    // Posted again, the deleted one is a duplicate: its tombstone came along.
    const r = await fetch(`${relay.url}/v1/messages`, { method: 'POST', body: JSON.stringify(ps[1]) });
    expect(((await r.json()) as { duplicate?: boolean }).duplicate).toBe(true);
  });

  it('a second relay on a data folder in use refuses to start, and the first keeps everything', async () => {
    const dave = await keyPair();
    const first = await startRelay({ args: ['--rate-limit', '0'] });
    started.push(first);
    const posted = await fetch(`${first.url}/v1/messages`, { method: 'POST', body: JSON.stringify(shaped(dave)) });
    expect(posted.status).toBe(202);
    const { id } = (await posted.json()) as { id: string };
    // Same folder, its own port: it must not open the store at all.
    await expect(startRelay({ dataDir: first.dataDir, args: ['--rate-limit', '0'] })).rejects.toThrow(/data folder .* is in use by another relay/);
    expect((await fetch(`${first.url}/healthz`)).status).toBe(200);
    expect((await getAll(first.url, dave, first.id)).map((m) => m.id)).toEqual([id]);
    // The lock goes with the process, however it ends (the SIGKILL test above restarts on a killed relay's folder).
    expect(await first.stop('SIGTERM')).toBe(0);
    const again = await startRelay({ dataDir: first.dataDir, args: ['--rate-limit', '0'] });
    started.push(again);
    expect((await getAll(again.url, dave, again.id)).map((m) => m.id)).toEqual([id]);
  });

  it('a second relay on a port in use refuses to start instead of sharing the port', async () => {
    const first = await startRelay({ args: ['--rate-limit', '0'] });
    started.push(first);
    // uWS listens with SO_REUSEPORT unless told otherwise: the second would start and take half the clients.
    const dataDir = tempDir();
    const second = spawn(process.execPath, [join(root, 'relay'), '--host', '127.0.0.1', '--port', String(first.port), '--data', dataDir, '--stun-port', '0', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    second.stdout!.on('data', (d) => (out += d));
    second.stderr!.on('data', (d) => (out += d));
    const code = await new Promise<number | string | null>((resolve) => {
      const t = setTimeout(() => resolve('still running after 20 s'), 20_000);
      second.once('exit', (c) => resolve((clearTimeout(t), c)));
    });
    second.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
    expect(typeof code === 'number' && code !== 0, `exit: ${code}`).toBe(true);
    expect(out).toMatch(new RegExp(`cannot listen on 127\\.0\\.0\\.1:${first.port}`));
    const ids = new Set<string>();
    for (let i = 0; i < 20; i++) ids.add(((await (await fetch(`${first.url}/v1/status`)).json()) as { id: string }).id);
    expect([...ids]).toEqual([first.id]);
  });
});
