/**
 * Call signalling as it travels inside sealed `kind: 'call'` packets. The
 * content is JSON from another person's browser: untrusted, so every message
 * is checked here, once, before the call state machine sees it.
 */
import { UUID_RE as UUID } from '$protocol/fields.ts';
export const SIGNAL_TYPES = ['offer', 'answer', 'ice', 'hangup', 'decline', 'busy', 'ringing'] as const;
export type SignalType = (typeof SIGNAL_TYPES)[number];

export interface IceCandidate {
  candidate: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
}

export interface CallSignal {
  call_id: string;
  type: SignalType;
  /** offer and answer only. */
  sdp?: string;
  /** ice only: a batch of trickled candidates (an empty `candidate` marks the end). */
  candidates?: IceCandidate[];
  /**
   * Which of the callee's devices the signal concerns (they share one key).
   * From a callee device (answer, ice, hangup): the device that sent it. From
   * the caller: the device it is meant for, in a hangup (an answer the caller
   * did not take) or a re-offer (the answer it took, on a fresh connection).
   */
  device?: string;
}

const DEVICE = /^[0-9a-f]{16}$/;

/** Signals older than this (sender's clock vs ours) are backlog: they must not ring. */
export const STALE_MS = 60_000;
export const MAX_SDP_CHARS = 20_000;
export const MAX_CANDIDATES = 40;
export const MAX_CANDIDATE_CHARS = 512;

type O = Record<string, unknown>;
const isObj = (v: unknown): v is O => typeof v === 'object' && v !== null && !Array.isArray(v);

function candidate(v: unknown): IceCandidate | undefined {
  if (!isObj(v)) return undefined;
  if (Object.keys(v).some((k) => k !== 'candidate' && k !== 'sdpMid' && k !== 'sdpMLineIndex')) return undefined;
  const { candidate: c, sdpMid, sdpMLineIndex } = v;
  // An ICE candidate line (RFC 8839) or '' for end-of-candidates; no control characters.
  if (typeof c !== 'string' || c.length > MAX_CANDIDATE_CHARS || (c !== '' && !/^candidate:[\x20-\x7e]+$/.test(c))) return undefined;
  if (sdpMid !== undefined && sdpMid !== null && (typeof sdpMid !== 'string' || !/^[\w.-]{0,32}$/.test(sdpMid))) return undefined;
  if (sdpMLineIndex !== undefined && sdpMLineIndex !== null && (!Number.isInteger(sdpMLineIndex) || (sdpMLineIndex as number) < 0 || (sdpMLineIndex as number) > 15))
    return undefined;
  const out: IceCandidate = { candidate: c };
  if (sdpMid !== undefined) out.sdpMid = sdpMid as string | null;
  if (sdpMLineIndex !== undefined) out.sdpMLineIndex = sdpMLineIndex as number | null;
  return out;
}

/** The one validator for incoming call content; undefined means "drop it". */
export function parseCallSignal(content: string): CallSignal | undefined {
  if (typeof content !== 'string' || content.length > MAX_SDP_CHARS + 2000) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(content);
  } catch {
    return undefined;
  }
  if (!isObj(v)) return undefined;
  const { call_id, type } = v;
  if (typeof call_id !== 'string' || !UUID.test(call_id)) return undefined;
  if (typeof type !== 'string' || !(SIGNAL_TYPES as readonly string[]).includes(type)) return undefined;
  const t = type as SignalType;
  const allowed = t === 'offer' || t === 'answer' ? ['sdp', 'device'] : t === 'ice' ? ['candidates', 'device'] : t === 'hangup' ? ['device'] : [];
  if (Object.keys(v).some((k) => k !== 'call_id' && k !== 'type' && !allowed.includes(k))) return undefined;
  const out: CallSignal = { call_id, type: t };
  if (v.device !== undefined) {
    if (typeof v.device !== 'string' || !DEVICE.test(v.device)) return undefined;
    out.device = v.device;
  }
  if (t === 'offer' || t === 'answer') {
    const { sdp } = v;
    if (typeof sdp !== 'string' || sdp.length > MAX_SDP_CHARS || !sdp.startsWith('v=0')) return undefined;
    // Audio only: an offer asking for video or data channels is not one we make.
    if (/^m=(?!audio\b)/m.test(sdp)) return undefined;
    out.sdp = sdp;
  }
  if (t === 'ice') {
    const list = v.candidates;
    if (!Array.isArray(list) || list.length === 0 || list.length > MAX_CANDIDATES) return undefined;
    const cands: IceCandidate[] = [];
    for (const c of list) {
      const p = candidate(c);
      if (!p) return undefined;
      cands.push(p);
    }
    out.candidates = cands;
  }
  return out;
}

export const encodeCallSignal = (s: CallSignal): string => JSON.stringify(s);

/** True when a signal sent at `sentAt` (sender's clock) is too old, or implausibly far ahead, to act on. */
export const isStale = (sentAt: number, now: number, maxAge = STALE_MS): boolean => !Number.isFinite(sentAt) || now - sentAt > maxAge || sentAt - now > maxAge;
