import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { turnCredential } from '../../relay/stun/turn-credentials.ts';
import { cleanup, type RelayProcess, startRelay } from './harness.ts';

const started: RelayProcess[] = [];
afterAll(async () => {
  await cleanup(...started);
});

describe('GET /v1/turn', () => {
  it('hands out fresh coturn REST credentials when configured, and says so in /v1/status', async () => {
    const secret = 'north-wind';
    const r = await startRelay({ args: ['--turn-url', 'turn:127.0.0.1:3479?transport=udp,turns:turn.example.org:5349', '--turn-secret', secret] });
    started.push(r);
    const res = await fetch(`${r.url}/v1/turn`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const a = (await res.json()) as { urls: string[]; username: string; credential: string; expiresAt: number };
    expect(a.urls).toEqual(['turn:127.0.0.1:3479?transport=udp', 'turns:turn.example.org:5349']);
    expect(a.username).toMatch(/^\d+:[A-Za-z0-9_-]+$/);
    expect(Number(a.username.split(':')[0])).toBe(a.expiresAt);
    expect(a.expiresAt * 1000).toBeGreaterThan(Date.now() + 3600_000);
    expect(a.credential).toBe(turnCredential(secret, a.username));
    // Independent check of the HMAC with openssl.
    const ssl = spawnSync('openssl', ['dgst', '-sha1', '-hmac', secret, '-binary'], { input: a.username });
    if (ssl.status === 0) expect(ssl.stdout.toString('base64')).toBe(a.credential);
    const b = (await (await fetch(`${r.url}/v1/turn`)).json()) as { username: string };
    expect(b.username).not.toBe(a.username);
    expect(((await (await fetch(`${r.url}/v1/status`)).json()) as { turn: boolean }).turn).toBe(true);
    const post = await fetch(`${r.url}/v1/turn`, { method: 'POST' });
    expect(post.status).toBe(405);
  });

  it('answers 404 turn_not_configured without --turn-url/--turn-secret', async () => {
    const r = await startRelay();
    started.push(r);
    const res = await fetch(`${r.url}/v1/turn`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('turn_not_configured');
    expect(((await (await fetch(`${r.url}/v1/status`)).json()) as { turn: boolean }).turn).toBe(false);
  });

  it('refuses half a configuration and a bad URL at startup', () => {
    for (const args of [['--turn-url', 'turn:127.0.0.1:3479'], ['--turn-secret', 'x'], ['--turn-url', 'http://x', '--turn-secret', 'x']]) {
      const p = spawnSync(process.execPath, ['relay', '--port', '0', ...args], { cwd: new URL('../..', import.meta.url).pathname, encoding: 'utf8', timeout: 20_000 });
      expect(p.status, args.join(' ')).toBe(2);
      expect(p.stderr).toMatch(/turn/);
    }
  });
});
