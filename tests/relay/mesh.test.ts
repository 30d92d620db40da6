// The relay mesh with real relay processes on loopback: delivery across a
// line and a ring, catch-up after downtime, and misbehaving relays banned.
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as P from '../../protocol/index.ts';
import { authContent, encodeMsgFrame, MESH_VERSION, msgFramePacket, msgFrameTtl } from '../../relay/mesh/frames.ts';
import { packetIdOf as idOfSync } from '../../relay/ingest.ts';
import { cleanup, engine, getAll, idOf, keyPair, post, publicKeyOf, shaped, WsClient } from './harness.ts';
import { linked, type MeshNode, metrics, restart, rssBytes, startMesh, status, sum, until } from './mesh-harness.ts';

let started: MeshNode[][] = [];
afterEach(async () => {
  for (const nodes of started) await cleanup(...nodes);
  started = [];
});

/** RSS ceiling checked throughout: a relay's memory must not grow with traffic or misbehaving peers. */
const RSS_LIMIT = 400 * 1024 * 1024;

async function heldIds(node: MeshNode, k: Awaited<ReturnType<typeof keyPair>>): Promise<Set<string>> {
  return new Set((await getAll(node.url, k, node.id)).map((m) => m.id as string));
}

async function postAll(nodes: MeshNode[], packets: P.ClientMessagePacket[], at: (i: number) => number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < packets.length; i++) {
    const r = await post(nodes[at(i)]!.url, packets[i]);
    expect(r.status).toBe(202);
    ids.push(r.json.id);
  }
  return ids;
}

async function everyoneHolds(nodes: MeshNode[], k: Awaited<ReturnType<typeof keyPair>>, ids: string[], ms: number): Promise<void> {
  let lacking: number[] = [];
  try {
    await until(
      async () => {
        lacking = [];
        for (const n of nodes) {
          const held = await heldIds(n, k);
          lacking.push(ids.filter((id) => !held.has(id)).length);
        }
        return lacking.every((n) => n === 0);
      },
      ms,
      'every relay to hold every message',
      250,
    );
  } catch (e) {
    // Which relays lacked how many: a failure here must say where catch-up stalled.
    throw new Error(`${(e as Error).message}; messages lacking per relay: ${lacking.join(', ')} of ${ids.length}`);
  }
}

/**
 * A peer relay played by the test: it does the real handshake (hello, signed
 * auth, descriptor) on /v1/peer and then sends whatever frames the test says,
 * recording every frame the relay sends back.
 */
async function testPeer(node: MeshNode): Promise<{ send: (f: object) => void; sendRaw: (d: string | Buffer) => void; frames: { type: string }[]; close: () => void }> {
  const keys = await keyPair();
  const id = await P.fingerprint(engine, publicKeyOf(keys));
  const url = 'http://127.0.0.1:9';
  const challenge = P.toBase64Url(engine.randomBytes(32));
  const ws = new WebSocket(`${node.url.replace('http', 'ws')}/v1/peer`);
  const frames: { type: string }[] = [];
  let authSent: Promise<void> | undefined;
  const theirAuth = new Promise<void>((resolve, reject) => {
    ws.on('error', reject);
    ws.on('close', (code, reason) => reject(new Error(`closed ${code} ${reason.toString()}`)));
    ws.on('open', () => ws.send(JSON.stringify({ type: 'hello', version: MESH_VERSION, id, challenge })));
    ws.on('message', (data, isBinary) => {
      const buf = data as Buffer;
      // Payloads are binary msg frames; shown to the test as { type: 'msg', ttl, packet }.
      const f = isBinary ? { type: 'msg', ttl: msgFrameTtl(buf), packet: msgFramePacket(buf) } : JSON.parse(buf.toString());
      frames.push(f);
      if (f.type === 'hello') {
        authSent = (async () => {
          const now = Date.now();
          const proof = await P.signMessage(engine, keys, authContent(id, node.id, f.challenge, challenge, url), now);
          ws.send(JSON.stringify({ type: 'auth', proof, descriptor: await P.signDescriptor(engine, keys, url, now) }));
        })();
      }
      if (f.type === 'auth') resolve();
    });
  });
  await theirAuth;
  // Anything sent before our own auth would break the handshake.
  await authSent;
  const send = (f: object): void => {
    const m = f as { type: string; ttl: number; packet: P.ClientMessagePacket };
    ws.send(m.type === 'msg' ? encodeMsgFrame(m.ttl, m.packet) : JSON.stringify(f));
  };
  return { send, sendRaw: (d) => ws.send(d), frames, close: () => ws.close() };
}

describe('mesh', () => {
  it('line of 5: a message posted at one end is retrievable and pushed at the other; self and duplicate links are refused', async () => {
    // 1↔0 dial each other (a duplicate to resolve); 4 also dials itself under another name.
    const edges: [number, number][] = [[1, 0], [0, 1], [2, 1], [3, 2], [4, 3]];
    const nodes = await startMesh(5, edges, { args: (i, ports) => (i === 4 ? ['--peer', `http://localhost:${ports[4]}`] : []) });
    started.push(nodes);
    await until(async () => (await Promise.all(nodes.map((n) => status(n.url)))).every((s, i) => s.peers === (i === 0 || i === 4 ? 1 : 2)), 20_000, 'line links');
    const k = await keyPair();
    const sub = new WsClient(nodes[4]!.url);
    await sub.opened;
    sub.ws.send(JSON.stringify(await P.signRetrieval(engine, k, nodes[4]!.id)));
    await sub.until(() => sub.frames.some((f) => f.type === 'synced'));

    const sealedPacket = (await P.sealPacket(engine, k, k.publicKey, { content: 'across the line' })).packet;
    const r = await post(nodes[0]!.url, sealedPacket);
    expect(r.status).toBe(202);
    await sub.until(() => sub.messages().some((m) => m.id === r.json.id), 10_000);
    const got = (await getAll(nodes[4]!.url, k, nodes[4]!.id)).find((m) => m.id === r.json.id);
    expect(got).toBeDefined();
    const opened = await P.openPacket(engine, k, { recipient: got.recipient, message: got.message, signature: got.signature });
    expect(opened.content).toBe('across the line');
    sub.close();

    // Still exactly one link between 0 and 1 and none from 4 to itself after things settle.
    await new Promise((res) => setTimeout(res, 1500));
    const s = await Promise.all(nodes.map((n) => status(n.url)));
    expect(s.map((x) => x.peers)).toEqual([1, 2, 2, 2, 1]);
    expect(s[4].mesh.peers.map((p: { id: string }) => p.id)).toEqual([nodes[3]!.id]);
    expect(sum(await metrics(nodes[4]!.url), 'relay_mesh_handshakes_total', 'result="self"')).toBeGreaterThan(0);
    // Server lists spread: the far end learned every relay, with verified descriptors.
    await until(async () => {
      const servers = await (await fetch(`${nodes[4]!.url}/v1/servers`)).json();
      return nodes.every((n) => servers.known_servers.includes(n.id));
    }, 15_000, 'server list to spread');
    for (const n of nodes) expect(await rssBytes(n.url)).toBeLessThan(RSS_LIMIT);
  });

  it('ring of 8 with chords: every relay holds every message; payload copies counted', async () => {
    const edges: [number, number][] = [];
    for (let i = 0; i < 8; i++) edges.push([i, (i + 1) % 8]);
    for (let i = 0; i < 4; i++) edges.push([i, i + 4]);
    const nodes = await startMesh(8, edges);
    started.push(nodes);
    await linked(nodes, edges);
    const k = await keyPair();
    const packets = Array.from({ length: 120 }, () => shaped(k));
    const ids = await postAll(nodes, packets, (i) => i % 8);
    await everyoneHolds(nodes, k, ids, 30_000);
    const m = await Promise.all(nodes.map((n) => metrics(n.url)));
    const copies = m.map((x) => sum(x, 'relay_mesh_payloads_received_total'));
    const fresh = m.map((x) => sum(x, 'relay_mesh_payloads_received_total', 'result="new"'));
    // Each relay stored each message it did not get from a client exactly once from a peer.
    for (const f of fresh) expect(f).toBe(105);
    const perRelayPerMsg = copies.reduce((a, b) => a + b, 0) / 8 / 120;
    console.log(`ring-8 plumtree: ${perRelayPerMsg.toFixed(2)} payload copies per relay per message`);
    // Plain flooding over degree 3 would deliver up to 3 copies; plumtree prunes most of them.
    expect(perRelayPerMsg).toBeLessThan(2.5);
    for (const n of nodes) expect(await rssBytes(n.url)).toBeLessThan(RSS_LIMIT);
  });

  it('a relay stopped for 30 s and restarted catches up on everything posted meanwhile, and heals the partition it caused', async () => {
    // 0 — 1 — 2 in a line plus 3 hanging off 1: with 1 down, 0, 2 and 3 are cut off from each other.
    const edges: [number, number][] = [[1, 0], [1, 2], [1, 3]];
    let nodes = await startMesh(4, edges, { asGiven: true });
    started.push(nodes);
    await linked(nodes, edges);
    const k = await keyPair();
    const before = await postAll(nodes, Array.from({ length: 20 }, () => shaped(k)), (i) => i % 4);
    await everyoneHolds(nodes, k, before, 15_000);

    expect(await nodes[1]!.stop('SIGTERM')).toBe(0);
    const during: string[] = [];
    const stoppedAt = Date.now();
    const posters = [0, 2, 3];
    let i = 0;
    while (Date.now() - stoppedAt < 30_000) {
      during.push(...(await postAll(nodes, Array.from({ length: 10 }, () => shaped(k)), () => posters[i++ % 3]!)));
      await new Promise((r) => setTimeout(r, 1000));
    }
    nodes[1] = await restart(nodes[1]!);
    nodes = [...nodes];
    started.push(nodes);
    await linked(nodes, edges, 30_000);
    // A liveness bound, not a speed target: on a loaded 2-core machine this took 15–20 s (quiet: ~5 s).
    await everyoneHolds(nodes, k, [...before, ...during], 60_000);
    const m = await metrics(nodes[1]!.url);
    expect(sum(m, 'relay_mesh_catchup_messages_total')).toBeGreaterThanOrEqual(during.length);
  });

  it('requests whose answers are lost are asked for again: a rejoining relay that ignores every first request still leaves everyone holding everything', async () => {
    // 0 — 1 — 2 with 1 ignoring the first request for each id (--test-fault lose-answers):
    // after 1 rejoins, every id 0 and 2 fetch from it (grafted after its announcements,
    // or pulled by catch-up) goes unanswered once.
    const edges: [number, number][] = [[1, 0], [1, 2]];
    let nodes = await startMesh(3, edges, { asGiven: true, args: (i) => (i === 1 ? ['--test-fault', 'lose-answers'] : []) });
    started.push(nodes);
    await linked(nodes, edges);
    const k = await keyPair();
    expect(await nodes[1]!.stop('SIGTERM')).toBe(0);
    const during = await postAll(nodes, Array.from({ length: 30 }, () => shaped(k)), (i) => (i % 2 ? 0 : 2));
    nodes[1] = await restart(nodes[1]!);
    nodes = [...nodes];
    started.push(nodes);
    await linked(nodes, edges, 30_000);
    await everyoneHolds(nodes, k, during, 40_000);
    const retried = (await Promise.all([0, 2].map(async (i) => sum(await metrics(nodes[i]!.url), 'relay_mesh_requests_retried_total')))).reduce((a, b) => a + b);
    // Each of the 30 ids was fetched from relay 1 by 0 or 2 (whichever lacked it), once in vain.
    expect(retried).toBeGreaterThanOrEqual(30);
  });

  it('anti-entropy: ids no peer announced are found by the next periodic reconciliation', async () => {
    // Relay 1 holds and serves what it accepts but never pushes or announces it (--test-fault no-announce).
    const edges: [number, number][] = [[0, 1]];
    const nodes = await startMesh(2, edges, {
      common: ['--reconcile-interval', '2s'],
      args: (i) => (i === 1 ? ['--test-fault', 'no-announce'] : []),
    });
    started.push(nodes);
    await linked(nodes, edges);
    const k = await keyPair();
    const ids = await postAll(nodes, Array.from({ length: 10 }, () => shaped(k)), () => 1);
    await everyoneHolds(nodes, k, ids, 15_000);
    const m = await metrics(nodes[0]!.url);
    expect(sum(m, 'relay_mesh_reconciliations_total', 'reason="periodic"')).toBeGreaterThanOrEqual(1);
    expect(sum(m, 'relay_mesh_catchup_messages_total')).toBe(10);
  });

  it('a relay that drops what it should forward is banned by its neighbours; every message is still delivered', async () => {
    // Ring of 6 plus the three long chords: every pair of relays has 3 disjoint paths. Relay 2 drops.
    const edges: [number, number][] = [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [5, 0], [0, 3], [1, 4], [2, 5]];
    const dropper = 2;
    const nodes = await startMesh(6, edges, {
      common: ['--canary-interval', '300ms', '--canary-timeout', '2s', '--graft-timeout', '100ms'],
      args: (i) => (i === dropper ? ['--test-fault', 'drop-forward'] : []),
    });
    started.push(nodes);
    // Only the honest links: the dropper may already be losing canaries (and links) by now.
    await linked(nodes, edges.filter(([a, b]) => a !== dropper && b !== dropper));
    const honest = nodes.filter((_, i) => i !== dropper);
    const neighbours = [1, 3, 5].map((i) => nodes[i]!);
    const k = await keyPair();
    const t0 = Date.now();
    const ids: string[] = [];
    // Traffic keeps flowing while the canaries do their work.
    while (Date.now() - t0 < 5000) {
      ids.push(...(await postAll(honest, Array.from({ length: 5 }, () => shaped(k)), (i) => (ids.length + i) % honest.length)));
      await new Promise((r) => setTimeout(r, 250));
    }
    await everyoneHolds(honest, k, ids, 20_000);
    await until(
      async () => (await Promise.all(neighbours.map((n) => status(n.url)))).every((s) => s.mesh.banned.includes(nodes[dropper]!.id)),
      60_000 - (Date.now() - t0),
      'neighbours to ban the dropper',
      500,
    ).catch(async (e) => {
      for (const n of neighbours) console.log(n.index, JSON.stringify((await status(n.url)).mesh).slice(0, 1500));
      throw e;
    });
    console.log(`dropper banned by all neighbours ${((Date.now() - t0) / 1000).toFixed(1)} s after traffic started`);
    // Nobody banned an honest relay, and the ban shows on /metrics, /v1/status and in /v1/servers.
    for (const n of honest) {
      const s = await status(n.url);
      expect(s.mesh.banned.filter((id: string) => id !== nodes[dropper]!.id)).toEqual([]);
    }
    const m = await metrics(neighbours[0]!.url);
    expect(sum(m, 'relay_mesh_peer_banned', `peer="${nodes[dropper]!.id.slice(0, 16)}"`)).toBe(1);
    expect(sum(m, 'relay_mesh_canaries_total', 'result="lost"')).toBeGreaterThan(0);
    const servers = await (await fetch(`${neighbours[0]!.url}/v1/servers`)).json();
    expect(servers.known_servers).not.toContain(nodes[dropper]!.id);
    // After the ban, traffic still reaches everyone without the dropper.
    const after = await postAll(honest, Array.from({ length: 10 }, () => shaped(k)), (i) => i % honest.length);
    await everyoneHolds(honest, k, after, 15_000);
    for (const n of nodes) expect(await rssBytes(n.url)).toBeLessThan(RSS_LIMIT);

    // The ban is persisted: a neighbour restarted still refuses the dropper.
    const nb = neighbours[0]!;
    await nb.stop('SIGTERM');
    const again = await restart(nb);
    started.push([again]);
    const s = await status(again.url);
    expect(s.mesh.banned).toContain(nodes[dropper]!.id);
  });

  it('relays that send garbage or flood their peers are banned', async () => {
    // 0 and 3 are honest hubs; 1 sends garbage frames, 2 floods ihave frames.
    const edges: [number, number][] = [[1, 0], [2, 0], [3, 0], [1, 3], [2, 3]];
    const nodes = await startMesh(4, edges, {
      common: ['--peer-rate', '1000'],
      args: (i) => (i === 1 ? ['--test-fault', 'garbage'] : i === 2 ? ['--test-fault', 'flood'] : []),
    });
    started.push(nodes);
    const bad = [nodes[1]!.id, nodes[2]!.id];
    await until(
      async () => {
        const s = await Promise.all([status(nodes[0]!.url), status(nodes[3]!.url)]);
        return s.every((x) => bad.every((id) => x.mesh.banned.includes(id)));
      },
      60_000,
      'garbage and flooding relays to be banned',
      500,
    );
    const s0 = await status(nodes[0]!.url);
    expect(s0.mesh.peers.map((p: { id: string }) => p.id)).toEqual([nodes[3]!.id]);
    const m = await metrics(nodes[0]!.url);
    expect(sum(m, 'relay_mesh_violations_total', 'reason="bad_frame"')).toBeGreaterThan(0);
    expect(sum(m, 'relay_mesh_violations_total', 'reason="rate"')).toBeGreaterThan(0);
    // Honest relays keep serving and delivering between themselves.
    const k = await keyPair();
    const p = shaped(k);
    const r = await post(nodes[0]!.url, p);
    expect(r.status).toBe(202);
    await until(async () => (await heldIds(nodes[3]!, k)).has(await idOf(p)), 10_000, 'delivery between honest relays');
    for (const n of [nodes[0]!, nodes[3]!]) expect(await rssBytes(n.url)).toBeLessThan(RSS_LIMIT);
  });

  it('plumtree: prune and graft steer one direction each: a duplicate pushed to the relay prunes the pusher (once a second, never the last first-copy pusher), and the relay keeps pushing its way', async () => {
    const [node] = await startMesh(1, []);
    started.push([node!]);
    const a = await testPeer(node!);
    const b = await testPeer(node!);
    const pushed = (peer: typeof b, id: string) => peer.frames.some((f) => f.type === 'msg' && idOfSync((f as unknown as { packet: P.ClientMessagePacket }).packet) === id);
    const prunes = (peer: typeof b) => peer.frames.filter((f) => f.type === 'prune').length;
    const received = async (result: string) => sum(await metrics(node!.url), 'relay_mesh_payloads_received_total', `result="${result}"`);
    try {
      const k = await keyPair();
      const packet = shaped(k);
      // Payloads are binary: a JSON msg frame is a bad frame, and a binary one whose body is not a packet is refused.
      const violations = async (reason: string) => sum(await metrics(node!.url), 'relay_mesh_violations_total', `reason="${reason}"`);
      a.sendRaw(JSON.stringify({ type: 'msg', ttl: 3, packet }));
      await until(async () => (await violations('bad_frame')) === 1, 5000, 'the JSON msg frame to count as a bad frame');
      a.sendRaw(encodeMsgFrame(3, { ...packet, message: 'not base64!' }));
      await until(async () => (await violations('bad_packet')) === 1 && (await received('refused')) === 1, 5000, 'the broken packet to be refused');
      a.send({ type: 'msg', ttl: 3, packet });
      await until(async () => (await received('new')) === 1, 5000, 'the first copy to be stored');
      b.send({ type: 'msg', ttl: 3, packet });
      await until(() => prunes(b) === 1, 5000, 'a prune for the duplicate from B');
      // Copies already on the wire do not each get a prune; A, whose copy came
      // first, is never pruned for a duplicate: it is the one parent kept.
      for (let i = 0; i < 5; i++) b.send({ type: 'msg', ttl: 3, packet });
      a.send({ type: 'msg', ttl: 3, packet });
      await until(async () => (await received('duplicate')) === 7, 5000, 'the duplicates to arrive');
      expect(prunes(b)).toBe(1);
      expect(prunes(a)).toBe(0);
      // The prune said "stop pushing to me"; what the relay pushes to B is B's
      // to prune. A message posted here still goes to B as a payload.
      const mine = shaped(k);
      expect((await post(node!.url, mine)).status).toBe(202);
      await until(() => pushed(b, idOfSync(mine)), 5000, 'the relay to push its next message to the peer it pruned');
      // Once B prunes, the relay only announces to it; a graft turns pushing back on.
      b.send({ type: 'prune' });
      await new Promise((r) => setTimeout(r, 200));
      const later = shaped(k);
      expect((await post(node!.url, later)).status).toBe(202);
      await until(() => b.frames.some((f) => f.type === 'ihave' && (f as unknown as { ids: string[] }).ids.includes(idOfSync(later))), 5000, 'an ihave for the next message');
      expect(pushed(b, idOfSync(later))).toBe(false);
      b.send({ type: 'graft', ids: [] });
      await new Promise((r) => setTimeout(r, 200));
      const last = shaped(k);
      expect((await post(node!.url, last)).status).toBe(202);
      await until(() => pushed(b, idOfSync(last)), 5000, 'a payload again after the graft');
    } finally {
      a.close();
      b.close();
    }
  });

  it('plumtree: grafts that keep turning out spurious (the eager copy was only late) lengthen the timeout, then late ids are fetched without grafting, until nothing is pushed to the relay any more', async () => {
    const [node] = await startMesh(1, []);
    started.push([node!]);
    const a = await testPeer(node!);
    const b = await testPeer(node!);
    const asked = (type: string, id: string) => a.frames.some((f) => f.type === type && (f as unknown as { ids: string[] }).ids.includes(id));
    try {
      const k = await keyPair();
      // A announces, the relay grafts A after the timeout, then the payload comes
      // from B: spurious. Each one lengthens the timeout by a quarter; from twice
      // the base (150 ms) on, the relay stops grafting and only fetches.
      let grafts = 0;
      for (; grafts < 8; grafts++) {
        const packet = shaped(k);
        const id = await idOf(packet);
        a.send({ type: 'ihave', ttl: 3, ids: [id] });
        await until(() => asked('graft', id) || asked('iwant', id), 5000, `a request for announced id ${grafts}`);
        b.send({ type: 'msg', ttl: 3, packet });
        if (asked('iwant', id)) break;
        await until(async () => sum(await metrics(node!.url), 'relay_mesh_spurious_grafts_total') === grafts + 1, 5000, `spurious graft ${grafts + 1} to be counted`);
      }
      expect(grafts).toBeGreaterThanOrEqual(4);
      expect(grafts).toBeLessThan(8);
      expect((await status(node!.url)).mesh.graft_timeout_ms).toBeGreaterThanOrEqual(300);
      // Now a late id is fetched (iwant) and A's link is not made eager again.
      const packet = shaped(k);
      const id = await idOf(packet);
      a.send({ type: 'ihave', ttl: 3, ids: [id] });
      await until(() => asked('iwant', id), 5000, 'an iwant for the late id');
      expect(asked('graft', id)).toBe(false);
      a.send({ type: 'msg', ttl: 3, packet });
      await until(async () => (await getAll(node!.url, k, node!.id)).some((m) => m.id === id), 5000, 'the fetched message to be held');
      expect(sum(await metrics(node!.url), 'relay_mesh_payloads_fetched_total')).toBe(1);

      // More late copies from B push the timeout further up (requests that B's push beats count too)...
      for (let i = 0; i < 4; i++) {
        const p = shaped(k);
        const pid = await idOf(p);
        a.send({ type: 'ihave', ttl: 3, ids: [pid] });
        // (A graft, if this took long enough for the relay to count itself off the tree.)
        await until(() => asked('iwant', pid) || asked('graft', pid), 5000, `a request for late id ${i}`);
        b.send({ type: 'msg', ttl: 3, packet: p });
      }
      await until(async () => (await status(node!.url)).mesh.graft_timeout_ms >= 500, 5000, 'the timeout to pass 500 ms');
      // ...but once nothing has been pushed to the relay for a while (every eager
      // parent pruned), it is off the tree: it grafts again although the timeout
      // is still backed off, or it would fetch every message late from then on.
      await new Promise((r) => setTimeout(r, 1200));
      expect((await status(node!.url)).mesh.graft_timeout_ms).toBeGreaterThanOrEqual(300);
      const last = shaped(k);
      const lastId = await idOf(last);
      a.send({ type: 'ihave', ttl: 3, ids: [lastId] });
      await until(() => asked('graft', lastId) || asked('iwant', lastId), 5000, 'a request for the id announced after the silence');
      expect(asked('graft', lastId)).toBe(true);
    } finally {
      a.close();
      b.close();
    }
  });

  it('learns relays from server lists and links up to --target-peers', async () => {
    // 0 knows only 1; 2 knows only 1. With a target of 2, 0 should learn of 2 through 1 and dial it.
    const edges: [number, number][] = [[0, 1], [2, 1]];
    const nodes = await startMesh(3, edges, { asGiven: true, args: (i) => (i === 0 ? ['--target-peers', '2'] : []) });
    started.push(nodes);
    await until(async () => (await status(nodes[0]!.url)).mesh.peers.some((p: { id: string }) => p.id === nodes[2]!.id), 20_000, 'relay 0 to link with relay 2');
    const servers = await (await fetch(`${nodes[0]!.url}/v1/servers`)).json();
    expect(new Set(servers.known_servers)).toEqual(new Set(nodes.map((n) => n.id)));
    for (const d of servers.servers) await P.verifyDescriptor(engine, d, Date.now());
  });
});
