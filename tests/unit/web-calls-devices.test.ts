import { describe, expect, it } from 'vitest';
import { CallState } from '../../web/lib/calls/call.svelte.ts';
import { encodeCallSignal, parseCallSignal } from '../../web/lib/calls/signal.ts';
import type { ContactRecord, MessageRecord } from '../../web/lib/db/records.ts';

// The ringing side of CallState without WebRTC (nothing here reaches a peer
// connection, and Node has no AudioContext, so the ringer is silent): what a
// device of a user with several devices says to the caller, to its other
// devices, and writes to the conversation.
const NOW = 1_000_000;
const contact = (name: string): ContactRecord => ({ id: name.padEnd(64, '0'), name, publicKey: 'K', relays: [], createdAt: 0, updatedAt: 0, unread: 0 });
const alice = contact('a1'), carol = contact('c1');
const id = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const offer = (callId: string): string => encodeCallSignal({ call_id: callId, type: 'offer', sdp: 'v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n' });

function device() {
  const sent: { to: string; type: string; call: string }[] = [];
  const told: [string, boolean][] = [];
  const entries: MessageRecord[] = [];
  const rings: string[] = [];
  const call = new CallState({
    send: async (c, content) => {
      const s = parseCallSignal(content)!;
      sent.push({ to: c.name, type: s.type, call: s.call_id });
    },
    record: async (e) => void entries.push(e),
    icePlan: async () => ({ servers: [], policy: 'all' }),
    tellOtherDevices: async (callId, answered) => void told.push([callId, answered]),
    ringing: (c, on) => void rings.push(`${c.name} ${on ? 'on' : 'off'}`),
    now: () => NOW,
  });
  const outcomes = () => entries.map((e) => `${e.uuid.slice(-1)} ${e.call?.outcome}`);
  return { call, sent, told, outcomes, rings };
}

describe('a call on one of several devices', () => {
  it('stops ringing when another device takes or refuses it, and says nothing to the caller', async () => {
    for (const answered of [true, false]) {
      const d = device();
      await d.call.receive(alice, offer(id(1)), NOW);
      expect(d.call.phase).toBe('incoming');
      d.call.elsewhere(id(1), answered);
      expect(d.call.phase).toBe('ended');
      await Promise.resolve();
      expect(d.outcomes()).toEqual([`1 ${answered ? 'answered' : 'declined'}-elsewhere`]);
      expect(d.sent).toEqual([{ to: 'a1', type: 'ringing', call: id(1) }]);
      expect(d.told).toEqual([]);
      // The app's background notification follows the ringing.
      expect(d.rings).toEqual(['a1 on', 'a1 off']);
    }
  });

  it('never rings for a call another device settled before the offer got here', async () => {
    const d = device();
    d.call.elsewhere(id(2), true);
    await d.call.receive(alice, offer(id(2)), NOW);
    expect(d.call.phase).toBe('idle');
    expect(d.outcomes()).toEqual(['2 answered-elsewhere']);
    expect(d.sent).toEqual([]);
  });

  it('tells the other devices when it declines', async () => {
    const d = device();
    await d.call.receive(alice, offer(id(3)), NOW);
    d.call.decline();
    expect(d.told).toEqual([[id(3), false]]);
    expect(d.sent.map((s) => s.type)).toEqual(['ringing', 'decline']);
  });

  it('while only ringing, never answers "busy" (that would end the call for the other devices too)', async () => {
    const d = device();
    await d.call.receive(alice, offer(id(4)), NOW);
    // Someone else calls meanwhile: a missed call, and it keeps ringing for the first.
    await d.call.receive(carol, offer(id(5)), NOW);
    expect(d.call.phase).toBe('incoming');
    expect(d.call.contactId).toBe(alice.id);
    // The same caller rings again (a new call): the old one is missed, the new one rings.
    await d.call.receive(alice, offer(id(6)), NOW);
    expect(d.call.phase).toBe('incoming');
    await Promise.resolve();
    expect(d.outcomes().sort()).toEqual(['4 missed', '5 missed']);
    expect(d.sent.map((s) => `${s.type} ${s.call.slice(-1)}`)).toEqual(['ringing 4', 'ringing 6']);
    expect(d.rings).toEqual(['a1 on', 'a1 off', 'a1 on']);
    expect(d.told).toEqual([]);
  });
});
