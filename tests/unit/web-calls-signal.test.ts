import { describe, expect, it } from 'vitest';
import { encodeCallSignal, isStale, MAX_CANDIDATES, MAX_SDP_CHARS, parseCallSignal, STALE_MS } from '../../web/lib/calls/signal.ts';
import { icePlan, parseTurn, stunUrl } from '../../web/lib/calls/ice.ts';
import { validMessage } from '../../web/lib/db/records.ts';

const ID = '123e4567-e89b-42d3-a456-426614174000';
const SDP = 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n';
const CAND = { candidate: 'candidate:1 1 udp 2122260223 192.0.2.2 50000 typ host generation 0', sdpMid: '0', sdpMLineIndex: 0 };
const j = (v: unknown) => JSON.stringify(v);

describe('call signal validation (untrusted content of kind:call packets)', () => {
  it('accepts each well-formed type and round-trips it', () => {
    const good = [
      { call_id: ID, type: 'offer', sdp: SDP },
      { call_id: ID, type: 'answer', sdp: SDP },
      { call_id: ID, type: 'ice', candidates: [CAND, { candidate: '' }] },
      { call_id: ID, type: 'hangup' },
      { call_id: ID, type: 'decline' },
      { call_id: ID, type: 'busy' },
      { call_id: ID, type: 'ringing' },
      // Which of the callee's devices (they share one key) an answer, candidates, hangup or re-offer concern.
      { call_id: ID, type: 'answer', sdp: SDP, device: '0123456789abcdef' },
      { call_id: ID, type: 'offer', sdp: SDP, device: '0123456789abcdef' },
      { call_id: ID, type: 'ice', candidates: [CAND], device: '0123456789abcdef' },
      { call_id: ID, type: 'hangup', device: '0123456789abcdef' },
    ];
    for (const g of good) {
      const p = parseCallSignal(j(g));
      expect(p, g.type).toEqual(g);
      expect(parseCallSignal(encodeCallSignal(p!))).toEqual(p);
    }
  });

  it('refuses anything else', () => {
    const bad: unknown[] = [
      'not json',
      '[]',
      'null',
      { type: 'hangup' },
      { call_id: 'abc', type: 'hangup' },
      { call_id: ID.toUpperCase(), type: 'hangup' },
      { call_id: ID, type: 'video' },
      { call_id: ID, type: 'hangup', extra: 1 },
      { call_id: ID, type: 'hangup', sdp: SDP },
      { call_id: ID, type: 'offer' },
      { call_id: ID, type: 'offer', sdp: 42 },
      { call_id: ID, type: 'offer', sdp: 'hello' },
      { call_id: ID, type: 'offer', sdp: 'v=0' + 'x'.repeat(MAX_SDP_CHARS) },
      { call_id: ID, type: 'offer', sdp: SDP + 'm=video 9 UDP/TLS/RTP/SAVPF 96\r\n' },
      { call_id: ID, type: 'offer', sdp: SDP + 'm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n' },
      { call_id: ID, type: 'ice' },
      { call_id: ID, type: 'ice', candidates: [] },
      { call_id: ID, type: 'ice', candidates: Array(MAX_CANDIDATES + 1).fill(CAND) },
      { call_id: ID, type: 'ice', candidates: [{ ...CAND, candidate: 'candidate:1\n1 udp' }] },
      { call_id: ID, type: 'ice', candidates: [{ ...CAND, candidate: 'a=candidate:1' }] },
      { call_id: ID, type: 'ice', candidates: [{ ...CAND, candidate: 'candidate:' + 'x'.repeat(600) }] },
      { call_id: ID, type: 'ice', candidates: [{ ...CAND, sdpMLineIndex: -1 }] },
      { call_id: ID, type: 'ice', candidates: [{ ...CAND, sdpMLineIndex: 1.5 }] },
      { call_id: ID, type: 'ice', candidates: [{ ...CAND, sdpMid: '<script>' }] },
      { call_id: ID, type: 'ice', candidates: [{ ...CAND, usernameFragment: 'x' }] },
      { call_id: ID, type: 'ice', candidates: ['candidate:1'] },
      { call_id: ID, type: 'ice', candidates: {} },
      { call_id: ID, type: 'offer', sdp: SDP, device: 'not-a-device-tag' },
      { call_id: ID, type: 'decline', device: '0123456789abcdef' },
      { call_id: ID, type: 'hangup', device: '0123456789ABCDEF' },
      { call_id: ID, type: 'hangup', device: 'abc' },
      { call_id: ID, type: 'hangup', device: 7 },
    ];
    for (const b of bad) expect(parseCallSignal(typeof b === 'string' ? b : j(b)), j(b).slice(0, 120)).toBeUndefined();
  });

  it('backlog older than a minute (or from a clock far ahead) is stale', () => {
    const now = 1_700_000_000_000;
    expect(isStale(now - 5_000, now)).toBe(false);
    expect(isStale(now + 5_000, now)).toBe(false);
    expect(isStale(now - STALE_MS - 1, now)).toBe(true);
    expect(isStale(now + STALE_MS + 1, now)).toBe(true);
    expect(isStale(Number.NaN, now)).toBe(true);
  });
});

describe('ICE servers from the relays', () => {
  it('builds stun: URLs from relay hosts', () => {
    expect(stunUrl('https://relay.example.org', 3478)).toBe('stun:relay.example.org:3478');
    expect(stunUrl('http://[::1]:8080', 3478)).toBe('stun:[::1]:3478');
    expect(stunUrl('http://127.0.0.1:8080', 0)).toBeUndefined();
    expect(stunUrl('nonsense', 3478)).toBeUndefined();
  });

  const now = 1_700_000_000_000;
  const turn = { urls: ['turn:127.0.0.1:3479'], username: '1700003600:abc', credential: 'c2VjcmV0', expiresAt: 1_700_003_600 };

  it('validates TURN credentials from a relay', () => {
    expect(parseTurn(turn, now)).toEqual(turn);
    expect(parseTurn({ ...turn, expiresAt: 1_600_000_000 }, now)).toBeUndefined();
    expect(parseTurn({ ...turn, urls: ['http://evil'] }, now)).toBeUndefined();
    expect(parseTurn({ ...turn, urls: [] }, now)).toBeUndefined();
    expect(parseTurn({ ...turn, username: 1 }, now)).toBeUndefined();
    expect(parseTurn(null, now)).toBeUndefined();
  });

  it('plans all-candidates ICE with STUN, relay-only with TURN when hiding the address, and refuses to pretend without TURN', () => {
    const relays = [
      { url: 'http://127.0.0.1:8080', stunPort: 3478 },
      { url: 'http://127.0.0.1:8081', stunPort: 3478, turn: true },
    ];
    expect(icePlan(relays, undefined, false)).toEqual({ servers: [{ urls: ['stun:127.0.0.1:3478'] }], policy: 'all' });
    const withTurn = icePlan(relays, turn, false);
    expect(withTurn.policy).toBe('all');
    expect(withTurn.servers).toHaveLength(2);
    const hidden = icePlan(relays, turn, true);
    expect(hidden.policy).toBe('relay');
    // No STUN when hiding: only the TURN server is contacted.
    expect(hidden.servers).toEqual([{ urls: turn.urls, username: turn.username, credential: turn.credential }]);
    expect(icePlan(relays, undefined, true)).toMatchObject({ policy: 'relay', problem: 'no_turn' });
  });
});

describe('call entries in the message store', () => {
  const base = { contact: 'a'.repeat(64), uuid: ID, dir: 'in', text: 'Missed call', time: 1, storedAt: 1, state: 'delivered' };
  it('accepts a valid call entry and refuses a malformed one', () => {
    expect(validMessage({ ...base, call: { outcome: 'missed' } })).toBeTruthy();
    expect(validMessage({ ...base, call: { outcome: 'completed', seconds: 12 } })).toBeTruthy();
    expect(validMessage({ ...base, call: { outcome: 'won' } })).toBeUndefined();
    expect(validMessage({ ...base, call: { outcome: 'completed', seconds: -1 } })).toBeUndefined();
    expect(validMessage({ ...base, call: 'missed' })).toBeUndefined();
  });
});
