import type { SignalType } from './signal.ts';

/**
 * The call state machine as a pure function, so every path (and every
 * message arriving in the wrong state) is unit-tested without WebRTC.
 *
 *   out: outgoing → ringing → connecting → active → ended
 *   in:  incoming → connecting → active → ended
 */
export type CallPhase = 'idle' | 'outgoing' | 'ringing' | 'incoming' | 'connecting' | 'active' | 'ended';
export type Direction = 'in' | 'out';
export type CallOutcome = 'completed' | 'missed' | 'declined' | 'busy' | 'cancelled' | 'no-answer' | 'failed' | 'answered-elsewhere' | 'declined-elsewhere';

export type CallEvent =
  | { type: 'remote'; signal: SignalType }
  | { type: 'accept' }
  | { type: 'decline' }
  | { type: 'hangup' }
  | { type: 'timeout' }
  | { type: 'connected' }
  | { type: 'failed' }
  /** Another device of ours accepted or declined this call (a self-addressed sync message). */
  | { type: 'elsewhere'; answered: boolean }
  /** The same caller rang again with a new call while this one was still ringing. */
  | { type: 'superseded' };

export interface Step {
  phase: CallPhase;
  /** A signal to send to the other side (the controller adds the SDP for `answer`). */
  send?: SignalType;
  /** Set when the step ends the call: what the conversation entry says. */
  outcome?: CallOutcome;
}

const end = (outcome: CallOutcome, send?: SignalType): Step => (send ? { phase: 'ended', outcome, send } : { phase: 'ended', outcome });

/** The next step, or undefined when the event means nothing in this phase (ignored, never an error). */
export function step(phase: CallPhase, dir: Direction, ev: CallEvent): Step | undefined {
  const remote = ev.type === 'remote' ? ev.signal : undefined;
  switch (phase) {
    case 'outgoing':
    case 'ringing':
      if (dir !== 'out') return undefined;
      if (remote === 'ringing') return phase === 'outgoing' ? { phase: 'ringing' } : undefined;
      if (remote === 'answer') return { phase: 'connecting' };
      if (remote === 'decline' || remote === 'hangup') return end('declined');
      if (remote === 'busy') return end('busy');
      if (ev.type === 'hangup' || ev.type === 'decline') return end('cancelled', 'hangup');
      if (ev.type === 'timeout') return end('no-answer', 'hangup');
      if (ev.type === 'failed') return end('failed', 'hangup');
      return undefined;
    case 'incoming':
      if (dir !== 'in') return undefined;
      if (ev.type === 'accept') return { phase: 'connecting', send: 'answer' };
      if (ev.type === 'elsewhere') return end(ev.answered ? 'answered-elsewhere' : 'declined-elsewhere');
      if (ev.type === 'superseded') return end('missed');
      if (ev.type === 'decline' || ev.type === 'hangup') return end('declined', 'decline');
      if (remote === 'hangup') return end('missed');
      if (ev.type === 'timeout') return end('missed');
      if (ev.type === 'failed') return end('failed', 'decline');
      return undefined;
    case 'connecting':
      if (ev.type === 'connected') return { phase: 'active' };
      // Two of our devices accepted at once and the caller took the other's answer.
      if (ev.type === 'elsewhere' && dir === 'in' && ev.answered) return end('answered-elsewhere');
      if (remote === 'hangup') return end('completed');
      if (ev.type === 'hangup') return end('completed', 'hangup');
      if (ev.type === 'timeout' || ev.type === 'failed') return end('failed', 'hangup');
      return undefined;
    case 'active':
      if (remote === 'hangup') return end('completed');
      if (ev.type === 'hangup' || ev.type === 'failed') return end('completed', 'hangup');
      return undefined;
    default:
      return undefined;
  }
}

/**
 * Two people calling each other at once ("glare"): both see an offer while
 * their own is out. The call with the smaller id survives on both sides, so
 * exactly one of the two offers is answered.
 */
export const keepOwnCall = (ownId: string, theirId: string): boolean => ownId < theirId;

/** The conversation entry's text for a finished call. */
export function outcomeText(dir: Direction, outcome: CallOutcome, seconds: number): string {
  switch (outcome) {
    case 'completed':
      return `${dir === 'out' ? 'Outgoing' : 'Incoming'} call · ${formatDuration(seconds)}`;
    case 'missed':
      return 'Missed call';
    case 'declined':
      return dir === 'out' ? 'Call declined' : 'Declined call';
    case 'busy':
      return 'Busy — call not answered';
    case 'cancelled':
      return 'Cancelled call';
    case 'no-answer':
      return 'No answer';
    case 'failed':
      return 'Call failed';
    case 'answered-elsewhere':
      return 'Answered on another device';
    case 'declined-elsewhere':
      return 'Declined on another device';
  }
}

/** What the call screen says for the moment it stays up after a call: "Call ended", not the log's "Incoming call", which reads as a new one ringing. */
export function endedScreenText(dir: Direction, outcome: CallOutcome, seconds: number): string {
  return outcome === 'completed' ? `Call ended · ${formatDuration(seconds)}` : outcomeText(dir, outcome, seconds);
}

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}
