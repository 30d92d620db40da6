import { describe, expect, it } from 'vitest';
import { type CallEvent, type CallPhase, type Direction, endedScreenText, formatDuration, keepOwnCall, outcomeText, step } from '../../web/lib/calls/machine.ts';
import { SIGNAL_TYPES } from '../../web/lib/calls/signal.ts';

/** Runs events from a phase; ignored events leave the phase as it was. */
function run(dir: Direction, phase: CallPhase, events: CallEvent[]) {
  const sent: string[] = [];
  let outcome: string | undefined;
  for (const ev of events) {
    const s = step(phase, dir, ev);
    if (!s) continue;
    if (s.send) sent.push(s.send);
    phase = s.phase;
    outcome = s.outcome ?? outcome;
  }
  return { phase, sent, outcome };
}
const remote = (signal: (typeof SIGNAL_TYPES)[number]): CallEvent => ({ type: 'remote', signal });

describe('call state machine', () => {
  it('caller: ringing, answer, connected, remote hang-up', () => {
    expect(run('out', 'outgoing', [remote('ringing'), remote('answer'), { type: 'connected' }, remote('hangup')])).toEqual({
      phase: 'ended',
      sent: [],
      outcome: 'completed',
    });
  });

  it('callee: accept sends the answer; local hang-up sends hangup', () => {
    expect(run('in', 'incoming', [{ type: 'accept' }, { type: 'connected' }, { type: 'hangup' }])).toEqual({
      phase: 'ended',
      sent: ['answer', 'hangup'],
      outcome: 'completed',
    });
  });

  it('decline on both sides', () => {
    expect(run('in', 'incoming', [{ type: 'decline' }])).toEqual({ phase: 'ended', sent: ['decline'], outcome: 'declined' });
    expect(run('out', 'ringing', [remote('decline')])).toEqual({ phase: 'ended', sent: [], outcome: 'declined' });
  });

  it('busy, no answer, cancel → missed', () => {
    expect(run('out', 'outgoing', [remote('busy')]).outcome).toBe('busy');
    expect(run('out', 'ringing', [{ type: 'timeout' }])).toEqual({ phase: 'ended', sent: ['hangup'], outcome: 'no-answer' });
    expect(run('out', 'ringing', [{ type: 'hangup' }])).toEqual({ phase: 'ended', sent: ['hangup'], outcome: 'cancelled' });
    expect(run('in', 'incoming', [remote('hangup')])).toEqual({ phase: 'ended', sent: [], outcome: 'missed' });
    expect(run('in', 'incoming', [{ type: 'timeout' }]).outcome).toBe('missed');
  });

  it('taken or refused on another of our devices: this one stops ringing and tells no one', () => {
    expect(run('in', 'incoming', [{ type: 'elsewhere', answered: true }])).toEqual({ phase: 'ended', sent: [], outcome: 'answered-elsewhere' });
    expect(run('in', 'incoming', [{ type: 'elsewhere', answered: false }])).toEqual({ phase: 'ended', sent: [], outcome: 'declined-elsewhere' });
    // Two of our devices accepted at once and the caller took the other's answer: this one stops, quietly.
    expect(run('in', 'connecting', [{ type: 'elsewhere', answered: true }])).toEqual({ phase: 'ended', sent: [], outcome: 'answered-elsewhere' });
    // Otherwise only a ringing callee cares: once a call is under way here, or on the caller, it means nothing.
    for (const p of ['outgoing', 'ringing', 'connecting', 'active', 'idle', 'ended'] as const)
      for (const d of ['in', 'out'] as const) if (!(p === 'connecting' && d === 'in')) expect(step(p, d, { type: 'elsewhere', answered: true })).toBeUndefined();
    expect(step('connecting', 'in', { type: 'elsewhere', answered: false })).toBeUndefined();
    // The same caller rang again while this call was still ringing: this one is missed, quietly.
    expect(run('in', 'incoming', [{ type: 'superseded' }])).toEqual({ phase: 'ended', sent: [], outcome: 'missed' });
    expect(step('active', 'in', { type: 'superseded' })).toBeUndefined();
    expect(outcomeText('in', 'answered-elsewhere', 0)).toBe('Answered on another device');
    expect(outcomeText('in', 'declined-elsewhere', 0)).toBe('Declined on another device');
  });

  it('media that never connects fails the call and tells the other side', () => {
    expect(run('out', 'connecting', [{ type: 'timeout' }])).toEqual({ phase: 'ended', sent: ['hangup'], outcome: 'failed' });
    expect(run('in', 'incoming', [{ type: 'failed' }])).toEqual({ phase: 'ended', sent: ['decline'], outcome: 'failed' });
  });

  it('ignores signals that mean nothing in the current phase (replays, reordering, wrong direction)', () => {
    // A second "ringing", an "answer" to the callee, "accept" on the caller: no change.
    expect(step('ringing', 'out', remote('ringing'))).toBeUndefined();
    expect(step('incoming', 'in', remote('answer'))).toBeUndefined();
    expect(step('outgoing', 'out', { type: 'accept' })).toBeUndefined();
    expect(step('outgoing', 'in', remote('answer'))).toBeUndefined();
    expect(step('active', 'out', remote('answer'))).toBeUndefined();
    expect(step('active', 'in', remote('busy'))).toBeUndefined();
    for (const s of SIGNAL_TYPES) {
      expect(step('idle', 'out', remote(s))).toBeUndefined();
      expect(step('ended', 'in', remote(s))).toBeUndefined();
    }
    // Nothing leads out of "ended" except a new call.
    for (const t of ['accept', 'decline', 'hangup', 'timeout', 'connected', 'failed'] as const) expect(step('ended', 'out', { type: t })).toBeUndefined();
  });

  it('every ending carries an outcome, and only endings do', () => {
    const phases: CallPhase[] = ['idle', 'outgoing', 'ringing', 'incoming', 'connecting', 'active', 'ended'];
    const events: CallEvent[] = [
      ...SIGNAL_TYPES.map(remote),
      ...(['accept', 'decline', 'hangup', 'timeout', 'connected', 'failed'] as const).map((type) => ({ type })),
      { type: 'elsewhere', answered: true },
      { type: 'elsewhere', answered: false },
      { type: 'superseded' },
    ];
    for (const p of phases)
      for (const d of ['in', 'out'] as const)
        for (const e of events) {
          const s = step(p, d, e);
          if (s) expect(s.phase === 'ended', `${p} ${d} ${JSON.stringify(e)}`).toBe(s.outcome !== undefined);
        }
  });

  it('glare: exactly one of two crossing calls survives', () => {
    const a = '00000000-0000-4000-8000-000000000001';
    const b = 'ffffffff-0000-4000-8000-000000000001';
    expect(keepOwnCall(a, b)).toBe(true);
    expect(keepOwnCall(b, a)).toBe(false);
  });

  it('entry texts and durations', () => {
    expect(outcomeText('out', 'completed', 83)).toBe('Outgoing call · 1:23');
    expect(outcomeText('in', 'completed', 3725)).toBe('Incoming call · 1:02:05');
    // The call screen, just after: "ended", never a direction that reads as a new call.
    expect(endedScreenText('in', 'completed', 83)).toBe('Call ended · 1:23');
    expect(endedScreenText('out', 'declined', 0)).toBe('Call declined');
    expect(outcomeText('in', 'missed', 0)).toBe('Missed call');
    expect(outcomeText('out', 'declined', 0)).toBe('Call declined');
    expect(outcomeText('in', 'declined', 0)).toBe('Declined call');
    expect(formatDuration(-3)).toBe('0:00');
  });
});
