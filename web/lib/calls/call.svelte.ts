import type { ContactRecord, MessageRecord } from '../db/records.ts';
import { uuidV4 } from '../domain/messages.ts';
import type { IcePlan } from './ice.ts';
import { type CallEvent, type CallOutcome, type CallPhase, type Direction, endedScreenText, keepOwnCall, outcomeText, step } from './machine.ts';
import { Ringer } from './ringer.ts';
import { type CallSignal, encodeCallSignal, type IceCandidate, isStale, parseCallSignal } from './signal.ts';

/** What a call needs from the rest of the app (injected, so the app owns the plumbing). */
export interface CallDeps {
  send(contact: ContactRecord, content: string): Promise<void>;
  record(entry: MessageRecord): Promise<void>;
  icePlan(): Promise<IcePlan>;
  /** Tells our other devices (a self-addressed sync message) that this one took or refused the call, so they stop ringing. */
  tellOtherDevices?(callId: string, answered: boolean): Promise<void>;
  /** The phone starts (true) or stops (false) ringing for `contact`: the app's background notification. */
  ringing?(contact: ContactRecord, on: boolean): void;
  now?: () => number;
}

/** How long the phone rings before it counts as not answered. */
export const RING_MS = 45_000;
/** From "accepted" to media flowing. */
const CONNECT_MS = 30_000;
/** Candidates gathered this quickly ride in the offer/answer SDP itself; later ones trickle in batches. */
const GATHER_WAIT_MS = 1000;
const TRICKLE_BATCH_MS = 400;
/** ICE for calls we have not seen the offer of yet (packets can overtake each other in the mesh). */
const MAX_EARLY_CALLS = 4;
const ENDED_SHOW_MS = 1500;
/** Calls another device of ours took or refused, remembered in case their offer reaches this one later. */
const MAX_ELSEWHERE = 8;

export interface CallStats {
  phase: CallPhase;
  connectionState: RTCPeerConnectionState | 'none';
  packetsReceived: number;
  /** Local microphone tracks still live (0 once a call ended cleanly). */
  liveTracks: number;
  /** candidateType of the local side of the selected pair: host, srflx, prflx or relay. */
  localCandidate?: string;
  iceTransportPolicy?: RTCIceTransportPolicy;
}

/** One call at a time: its phase, the peer connection, mute and duration. One instance per tab. */
export class CallState {
  phase = $state<CallPhase>('idle');
  direction = $state<Direction>('out');
  contactId = $state<string | undefined>();
  muted = $state(false);
  /** Seconds connected, ticking while active. */
  elapsed = $state(0);
  error = $state('');
  /** The summary shown for a moment after the call ends. */
  endedText = $state('');

  #contact: ContactRecord | undefined;
  #callId = '';
  /** Callee side: this device's tag in the call it accepted (CallSignal.device). */
  #device: string | undefined;
  /** Caller side: the device whose answer this call took. */
  #answeredBy: string | undefined;
  /** Caller side: a re-offer to #answeredBy is out and its answer not yet applied. */
  #reoffered = false;
  #startedAt = 0;
  #connectedAt: number | undefined;
  #pc: RTCPeerConnection | undefined;
  #local: MediaStream | undefined;
  #lastLocal: MediaStream | undefined;
  #audio: HTMLAudioElement | undefined;
  #offer: string | undefined;
  #remoteSet = false;
  #pending: RTCIceCandidateInit[] = [];
  // eslint-disable-next-line svelte/prefer-svelte-reactivity -- a private buffer, never rendered
  #early = new Map<string, RTCIceCandidateInit[]>();
  #outBatch: IceCandidate[] = [];
  #batchTimer: ReturnType<typeof setTimeout> | undefined;
  #canTrickle = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #tick: ReturnType<typeof setInterval> | undefined;
  #ringer = new Ringer();
  /** Whom the phone rings for now (told to deps.ringing when it stops). */
  #ringingFor: ContactRecord | undefined;
  // eslint-disable-next-line svelte/prefer-svelte-reactivity -- a private memo, never rendered
  #elsewhere = new Map<string, boolean>();
  #policy: RTCIceTransportPolicy | undefined;

  constructor(private readonly deps: CallDeps) {}

  get busy(): boolean {
    return this.phase !== 'idle' && this.phase !== 'ended';
  }
  get contact(): ContactRecord | undefined {
    return this.#contact;
  }
  #now(): number {
    return (this.deps.now ?? Date.now)();
  }

  // ------------------------------------------------------------- local actions

  async start(contact: ContactRecord): Promise<void> {
    if (this.busy) return;
    this.#reset();
    const id = (this.#callId = uuidV4());
    this.#answeredBy = undefined;
    this.#reoffered = false;
    this.#contact = contact;
    this.contactId = contact.id;
    this.direction = 'out';
    this.phase = 'outgoing';
    this.#startedAt = this.#now();
    try {
      if (await this.#sendOffer(id)) this.#arm(RING_MS, { type: 'timeout' });
    } catch (e) {
      if (this.#callId === id) this.#fail(e);
    }
  }

  /** Makes an offer on a new connection and sends it; `device` names the one callee device a re-offer is for. */
  async #sendOffer(id: string, device?: string): Promise<boolean> {
    const pc = await this.#connection();
    if (this.#callId !== id) return false;
    await pc.setLocalDescription(await pc.createOffer());
    await this.#gathered(pc);
    if (this.#callId !== id || !this.busy) return false;
    const sdp = pc.localDescription!.sdp;
    await this.#send(device ? { call_id: id, type: 'offer', sdp, device } : { call_id: id, type: 'offer', sdp });
    this.#startTrickle();
    return true;
  }

  /**
   * Two of the callee's devices answered the same offer, so both reached our
   * ICE endpoint and sent us a DTLS hello before we had either answer. Our
   * connection keeps the last hello it saw; when that is the other device's,
   * DTLS never completes with the one we took. While not yet connected, start
   * over: a fresh connection (new ICE credentials and certificate) offered to
   * the taken device only.
   */
  async #reoffer(device: string): Promise<void> {
    const id = this.#callId;
    this.#dropPc();
    this.#reoffered = true;
    try {
      if (await this.#sendOffer(id, device)) this.#arm(CONNECT_MS, { type: 'timeout' });
    } catch (e) {
      if (this.#callId === id) this.#fail(e);
    }
  }

  async accept(): Promise<void> {
    if (this.phase !== 'incoming' || !this.#offer) return;
    const id = this.#callId;
    this.#device = [...crypto.getRandomValues(new Uint8Array(8))].map((b) => b.toString(16).padStart(2, '0')).join('');
    this.#silence();
    this.#apply({ type: 'accept' });
    await this.#answer(id, this.#offer);
  }

  /** Answers `offer` on a new connection: on accepting, and again when the caller re-offers to this device (#reoffer). */
  async #answer(id: string, offer: string): Promise<void> {
    try {
      const pc = await this.#connection();
      if (this.#callId !== id) return;
      await pc.setRemoteDescription({ type: 'offer', sdp: offer });
      await this.#remoteReady();
      await pc.setLocalDescription(await pc.createAnswer());
      await this.#gathered(pc);
      if (this.#callId !== id || !this.busy) return;
      await this.#send({ call_id: id, type: 'answer', sdp: pc.localDescription!.sdp });
      this.#startTrickle();
      this.#arm(CONNECT_MS, { type: 'timeout' });
    } catch (e) {
      if (this.#callId === id) this.#fail(e);
    }
  }

  decline(): void {
    this.#apply({ type: 'decline' });
  }

  hangup(): void {
    this.#apply({ type: 'hangup' });
  }

  toggleMute(): void {
    this.muted = !this.muted;
    for (const t of this.#local?.getAudioTracks() ?? []) t.enabled = !this.muted;
  }

  /** Another device of ours accepted (or declined) call `callId`: stop ringing here, or never start. */
  elsewhere(callId: string, answered: boolean): void {
    if (this.#elsewhere.size >= MAX_ELSEWHERE) this.#elsewhere.delete(this.#elsewhere.keys().next().value!);
    this.#elsewhere.set(callId, answered);
    if (this.phase === 'incoming' && callId === this.#callId) this.#apply({ type: 'elsewhere', answered });
  }

  // ------------------------------------------------------------- signals from the other side

  /** A sealed `kind: 'call'` message from a known contact, already verified by the worker. */
  async receive(contact: ContactRecord, content: string, sentAt: number): Promise<void> {
    const s = parseCallSignal(content);
    if (!s) return;
    if (isStale(sentAt, this.#now())) {
      // Backlog: a call that rang while we were away is a missed call, never a ringing phone now.
      if (s.type === 'offer' && s.call_id !== this.#callId) await this.#record(contact, s.call_id, 'in', 'missed', 0, sentAt);
      return;
    }
    if (s.type === 'offer' && s.device !== undefined) {
      // A re-offer (#reoffer) never rings: it restarts the connection of the one device it names.
      const mine = this.direction === 'in' && s.call_id === this.#callId && contact.id === this.contactId && s.device === this.#device;
      if (mine && (this.phase === 'connecting' || this.phase === 'active')) {
        this.#dropPc();
        await this.#answer(s.call_id, s.sdp!);
      }
      return;
    }
    if (s.type === 'offer') return this.#incoming(contact, s, sentAt);
    if (s.call_id !== this.#callId || contact.id !== this.contactId || !this.busy) {
      if (s.type === 'ice' && !this.#early.has(s.call_id) && this.#early.size < MAX_EARLY_CALLS) this.#early.set(s.call_id, this.#candidates(s));
      return;
    }
    // Several devices of the callee share its key (PROTOCOL.md, Calls: several devices).
    // Until an answer is taken, candidates from any device pass (the mesh does not keep
    // order; a device whose answer is not taken has candidates that match nothing).
    if (this.direction === 'out' && s.device !== undefined) {
      if (this.#answeredBy === undefined) {
        if (s.type === 'answer') this.#answeredBy = s.device;
      } else if (s.device !== this.#answeredBy) {
        // A second device accepted too: tell it this call went to the other one, and hear nothing more from it.
        if (s.type === 'answer') {
          void this.#send({ call_id: s.call_id, type: 'hangup', device: s.device }).catch(() => {});
          if (this.phase === 'connecting' && !this.#reoffered) await this.#reoffer(this.#answeredBy);
        }
        return;
      }
    }
    if (this.direction === 'in' && s.type === 'hangup' && s.device !== undefined) {
      if (s.device === this.#device) this.#apply({ type: 'elsewhere', answered: true });
      return;
    }
    if (s.type === 'ice') return this.#addRemote(this.#candidates(s));
    if (s.type === 'answer' && this.#reoffered) {
      // The taken device's answer to our re-offer.
      if (!this.#pc || this.phase !== 'connecting') return;
      this.#reoffered = false;
      try {
        await this.#pc.setRemoteDescription({ type: 'answer', sdp: s.sdp! });
        await this.#remoteReady();
      } catch (e) {
        this.#fail(e);
      }
      return;
    }
    if (s.type === 'answer') {
      if (!step(this.phase, this.direction, { type: 'remote', signal: 'answer' })) return;
      this.#apply({ type: 'remote', signal: 'answer' });
      this.#arm(CONNECT_MS, { type: 'timeout' });
      try {
        await this.#pc!.setRemoteDescription({ type: 'answer', sdp: s.sdp! });
        await this.#remoteReady();
      } catch (e) {
        this.#fail(e);
      }
      return;
    }
    this.#apply({ type: 'remote', signal: s.type });
  }

  async #incoming(contact: ContactRecord, s: CallSignal, sentAt: number): Promise<void> {
    if (s.call_id === this.#callId) return;
    const handled = this.#elsewhere.get(s.call_id);
    if (handled !== undefined) return this.#record(contact, s.call_id, 'in', handled ? 'answered-elsewhere' : 'declined-elsewhere', 0, sentAt);
    if (this.phase === 'incoming') {
      // Only ringing, not in a call: never answer "busy", which would end the
      // call for our other devices too. The same person calling again means
      // they gave up on the old call (or it was settled on another device
      // whose word has not reached us): ring for the new one. Someone else:
      // a missed call, and the phone keeps ringing for the first.
      if (contact.id !== this.contactId) return this.#record(contact, s.call_id, 'in', 'missed', 0, sentAt);
      this.#apply({ type: 'superseded' });
    }
    if (this.busy) {
      const glare = (this.phase === 'outgoing' || this.phase === 'ringing') && contact.id === this.contactId;
      if (!glare || keepOwnCall(this.#callId, s.call_id)) {
        if (!glare) await this.deps.send(contact, encodeCallSignal({ call_id: s.call_id, type: 'busy' })).catch(() => {});
        return;
      }
      // Both called at once and theirs wins: drop ours without a trace and take theirs.
      this.#teardown();
    }
    this.#reset();
    this.#callId = s.call_id;
    this.#device = undefined;
    this.#contact = contact;
    this.contactId = contact.id;
    this.direction = 'in';
    this.#offer = s.sdp;
    this.#startedAt = sentAt;
    this.phase = 'incoming';
    const early = this.#early.get(s.call_id);
    if (early) this.#pending.push(...early);
    this.#early.clear();
    this.#ring();
    this.#arm(RING_MS, { type: 'timeout' });
    void this.#send({ call_id: s.call_id, type: 'ringing' }).catch(() => {});
  }

  #candidates(s: CallSignal): RTCIceCandidateInit[] {
    return (s.candidates ?? []).map((c) => ({ candidate: c.candidate, sdpMid: c.sdpMid ?? null, sdpMLineIndex: c.sdpMLineIndex ?? null }));
  }

  async #addRemote(list: RTCIceCandidateInit[]): Promise<void> {
    if (!this.#pc || !this.#remoteSet) {
      this.#pending.push(...list.slice(0, 100 - this.#pending.length));
      return;
    }
    for (const c of list) await this.#pc.addIceCandidate(c).catch(() => {});
  }

  async #remoteReady(): Promise<void> {
    this.#remoteSet = true;
    const early = this.#early.get(this.#callId) ?? [];
    this.#early.delete(this.#callId);
    const list = [...this.#pending, ...early];
    this.#pending = [];
    await this.#addRemote(list);
  }

  // ------------------------------------------------------------- WebRTC

  async #connection(): Promise<RTCPeerConnection> {
    const plan = await this.deps.icePlan();
    if (plan.problem === 'no_turn')
      throw new Error('“Hide my address” is on, but none of your relays offers TURN, so this call cannot hide your address. Turn the option off in Settings to call.');
    // A second connection in the same call (#reoffer) keeps the microphone it has.
    let local = this.#local;
    if (!local) {
      local = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
      this.#local = this.#lastLocal = local;
      for (const t of local.getAudioTracks()) t.enabled = !this.muted;
      if (!this.busy) {
        this.#stopLocal();
        throw new Error('call ended');
      }
    }
    const pc = (this.#pc = new RTCPeerConnection({ iceServers: plan.servers, iceTransportPolicy: plan.policy }));
    this.#policy = plan.policy;
    for (const t of local.getTracks()) pc.addTrack(t, local);
    pc.onicecandidate = (e) => this.#localCandidate(e.candidate);
    pc.ontrack = (e) => {
      const audio = (this.#audio ??= new Audio());
      audio.autoplay = true;
      audio.srcObject = e.streams[0] ?? new MediaStream([e.track]);
      void audio.play().catch(() => {});
    };
    pc.onconnectionstatechange = () => {
      if (this.#pc !== pc) return;
      if (pc.connectionState === 'connected') this.#apply({ type: 'connected' });
      else if (pc.connectionState === 'failed') this.#apply({ type: 'failed' });
    };
    return pc;
  }

  /** Waits (briefly) for gathering, so most candidates ride in the SDP and few ICE packets follow. */
  #gathered(pc: RTCPeerConnection): Promise<void> {
    if (pc.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        pc.removeEventListener('icegatheringstatechange', check);
        resolve();
      };
      const check = () => pc.iceGatheringState === 'complete' && done();
      const t = setTimeout(done, GATHER_WAIT_MS);
      pc.addEventListener('icegatheringstatechange', check);
    });
  }

  #localCandidate(c: RTCIceCandidate | null): void {
    // Before the offer/answer is sent, candidates are in its SDP already.
    if (!this.#canTrickle) return;
    if (c) {
      const j = c.toJSON();
      this.#outBatch.push({ candidate: j.candidate ?? '', sdpMid: j.sdpMid ?? null, sdpMLineIndex: j.sdpMLineIndex ?? null });
    } else this.#outBatch.push({ candidate: '' });
    clearTimeout(this.#batchTimer);
    if (!c || this.#outBatch.length >= 20) this.#flushCandidates();
    else this.#batchTimer = setTimeout(() => this.#flushCandidates(), TRICKLE_BATCH_MS);
  }

  #startTrickle(): void {
    this.#canTrickle = true;
  }

  #flushCandidates(): void {
    clearTimeout(this.#batchTimer);
    const list = this.#outBatch.splice(0, 40);
    if (!list.length || !this.busy) return;
    void this.#send({ call_id: this.#callId, type: 'ice', candidates: list }).catch(() => {});
  }

  // ------------------------------------------------------------- state

  #apply(ev: CallEvent): void {
    const s = step(this.phase, this.direction, ev);
    if (!s) return;
    // Taken or refused on this device: the others ringing for the same call stop.
    if (this.phase === 'incoming' && (ev.type === 'accept' || ev.type === 'decline' || ev.type === 'hangup'))
      void this.deps.tellOtherDevices?.(this.#callId, ev.type === 'accept').catch(() => {});
    if (s.send && s.send !== 'answer' && s.send !== 'offer') void this.#send({ call_id: this.#callId, type: s.send }).catch(() => {});
    this.phase = s.phase;
    if (s.phase !== 'incoming') this.#silence();
    if (s.phase === 'active') {
      clearTimeout(this.#timer);
      this.#connectedAt = this.#now();
      this.elapsed = 0;
      this.#tick = setInterval(() => (this.elapsed = Math.floor((this.#now() - (this.#connectedAt ?? this.#now())) / 1000)), 1000);
    }
    if (s.outcome) this.#end(s.outcome);
  }

  #fail(e: unknown): void {
    this.error = e instanceof Error ? e.message : String(e);
    if (e instanceof DOMException && e.name === 'NotAllowedError') this.error = 'Microphone access was refused, so the call cannot start.';
    this.#apply({ type: 'failed' });
  }

  #end(outcome: CallOutcome): void {
    const contact = this.#contact;
    const seconds = this.#connectedAt ? Math.round((this.#now() - this.#connectedAt) / 1000) : 0;
    const id = this.#callId;
    this.#teardown();
    this.endedText = endedScreenText(this.direction, outcome, seconds);
    if (contact) void this.#record(contact, id, this.direction, outcome, seconds, this.#startedAt);
    setTimeout(() => {
      if (this.phase === 'ended' && this.#callId === id) this.phase = 'idle';
    }, ENDED_SHOW_MS);
  }

  async #record(contact: ContactRecord, callId: string, dir: Direction, outcome: CallOutcome, seconds: number, time: number): Promise<void> {
    const entry: MessageRecord = {
      contact: contact.id,
      uuid: callId,
      dir,
      text: outcomeText(dir, outcome, seconds),
      time,
      storedAt: this.#now(),
      state: 'delivered',
      call: outcome === 'completed' ? { outcome, seconds } : { outcome },
    };
    await this.deps.record(entry).catch((e) => console.warn('meshchat: call entry not stored', e));
  }

  /** Stops everything that holds the microphone, the network or a timer. */
  #teardown(): void {
    clearTimeout(this.#timer);
    clearInterval(this.#tick);
    this.#silence();
    this.#stopLocal();
    this.#dropPc();
    if (this.#audio) {
      this.#audio.pause();
      this.#audio.srcObject = null;
    }
  }
  /** Closes the peer connection and forgets its signalling state; the microphone stays. */
  #dropPc(): void {
    clearTimeout(this.#batchTimer);
    const pc = this.#pc;
    this.#pc = undefined;
    if (pc) {
      pc.onicecandidate = pc.ontrack = pc.onconnectionstatechange = null;
      pc.close();
    }
    this.#outBatch = [];
    this.#canTrickle = false;
    this.#remoteSet = false;
    this.#pending = [];
  }

  #stopLocal(): void {
    for (const t of this.#local?.getTracks() ?? []) t.stop();
    this.#local = undefined;
  }

  #reset(): void {
    this.error = '';
    this.endedText = '';
    this.muted = false;
    this.elapsed = 0;
    this.#connectedAt = undefined;
    this.#offer = undefined;
    this.#remoteSet = false;
    this.#pending = [];
    this.#policy = undefined;
  }

  #ring(): void {
    this.#ringer.start();
    this.#ringingFor = this.#contact;
    if (this.#contact) this.deps.ringing?.(this.#contact, true);
  }

  #silence(): void {
    this.#ringer.stop();
    const c = this.#ringingFor;
    this.#ringingFor = undefined;
    if (c) this.deps.ringing?.(c, false);
  }

  #arm(ms: number, ev: CallEvent): void {
    clearTimeout(this.#timer);
    const id = this.#callId;
    this.#timer = setTimeout(() => this.#callId === id && this.#apply(ev), ms);
  }

  #send(s: CallSignal): Promise<void> {
    if (!this.#contact) return Promise.resolve();
    // What an accepting device sends names it, so the caller can tell our devices apart.
    const tagged = this.direction === 'in' && this.#device && (s.type === 'answer' || s.type === 'ice' || s.type === 'hangup') ? { ...s, device: this.#device } : s;
    return this.deps.send(this.#contact, encodeCallSignal(tagged));
  }

  // ------------------------------------------------------------- read-only view for tests and diagnostics

  async stats(): Promise<CallStats> {
    const out: CallStats = {
      phase: this.phase,
      connectionState: this.#pc?.connectionState ?? 'none',
      packetsReceived: 0,
      liveTracks: (this.#lastLocal?.getTracks() ?? []).filter((t) => t.readyState === 'live').length,
    };
    if (this.#policy) out.iceTransportPolicy = this.#policy;
    const pc = this.#pc;
    if (!pc) return out;
    const report = await pc.getStats();
    let pairId: string | undefined;
    report.forEach((r: { type: string; kind?: string; packetsReceived?: number; selectedCandidatePairId?: string }) => {
      if (r.type === 'inbound-rtp' && r.kind === 'audio') out.packetsReceived += r.packetsReceived ?? 0;
      if (r.type === 'transport' && r.selectedCandidatePairId) pairId = r.selectedCandidatePairId;
    });
    const pair = pairId ? (report.get(pairId) as { localCandidateId?: string } | undefined) : undefined;
    const local = pair?.localCandidateId ? (report.get(pair.localCandidateId) as { candidateType?: string } | undefined) : undefined;
    if (local?.candidateType) out.localCandidate = local.candidateType;
    return out;
  }
}
