import type { AppStore } from '../db/store.ts';
import type { ContactRecord, MessageRecord, OutboxRecord } from '../db/records.ts';
import { claimedName, readReceipt, uuidV4 } from '../domain/messages.ts';
import { bucketOfMessage } from '../domain/cover.ts';
import { DropWatch } from '../domain/drop-watch.ts';
import { newerThan, parseSync, pictureToBlob, syncExtra, type SyncOp } from '../domain/sync.ts';
import { PROXY_FAILED } from '../net/proxy.ts';
import type { CoverTraffic } from './cover.ts';
import { afterFailure, due, expired, permanentFailure } from '../domain/outbox.ts';
import { parseFrame, subscribeUrl } from '../net/frames.ts';
import { ABORTED, getMessages, postMessage, RelayError } from '../net/relay-api.ts';
import type { RelayMessage } from '../net/wire.ts';
import type { CryptoPort, Notify } from './ports.ts';
import type { ServerManager } from './server-manager.ts';

export type Connection = 'offline' | 'connecting' | 'live' | 'polling';

/** Who this device is; `name` goes with every text message so someone new sees who wrote. */
export interface Me {
  publicKey: string;
  fingerprint: string;
  name?: string;
}

const POLL_LIVE_MS = 60_000;
const POLL_FALLBACK_MS = 10_000;
/**
 * Seconds the RX relay may hold a retrieval that finds nothing (long poll,
 * PROTOCOL.md §8a) when no WebSocket is open to it: always through the dual
 * proxy, where a WebSocket cannot go. A message then arrives within
 * milliseconds instead of at the next 10 s poll.
 */
export const LONG_POLL_S = 10;
/**
 * The hold asked for until a relay has shown it holds on this route: a held
 * poll is what tells the app it is live, so the first one is short and the
 * badge says so after ~2 s instead of after LONG_POLL_S.
 */
const FIRST_HOLD_S = 2;
/** Between held polls that brought messages: never a tight loop, whatever a relay answers. */
const REPOLL_MS = 100;
/** After a held retrieval died on the network: one quick retry before the relay (or proxy) is blamed. */
const HELD_RETRY_MS = 1000;
const SEEN_TTL_MS = 8 * 24 * 3600_000;
const MAX_PAGES = 20;

/**
 * The message pipeline: seal and queue outgoing messages, flush the outbox
 * through the TX relay, receive through the RX relay (live WebSocket
 * subscription, periodic polling as the fallback), open and verify every
 * packet in the worker, store, and notify the UI.
 */
export class Messenger {
  connection: Connection = 'connecting';
  #me: Me | undefined;
  #ws: WebSocket | undefined;
  #wsUrl: string | undefined;
  #wsRetry = 0;
  #pollTimer: ReturnType<typeof setTimeout> | undefined;
  /**
   * The retrieval under way (perhaps held for LONG_POLL_S): the route it
   * took, and how to call it off. Another asked for meanwhile runs right after it.
   */
  #retrieval: { route: string; abort: AbortController } | undefined;
  #pollAgain = false;
  /** The route (#route) on which the RX relay last held a retrieval: long holds from then on (FIRST_HOLD_S). */
  #heldRoute: string | undefined;
  /**
   * Network failures of held retrievals in a row. A held request is open
   * nearly all the time, so any blip (a laptop waking, a network change, a
   * proxy restart) kills one: the first is retried, not counted against the
   * relay, which would otherwise change the route after each of them.
   */
  #heldFailures = 0;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #flushing: Promise<void> | undefined;
  #flushAgain = false;
  #flushForce = false;
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  #receiving: Promise<void> = Promise.resolve();
  #stopped = true;
  /** Cover traffic; real sends ride its schedule (set by the app). */
  cover: CoverTraffic | undefined;
  /** Self-copies sent and not yet seen back through RX: client-side drop detection. */
  readonly #drops = new DropWatch<OutboxRecord[]>();
  readonly #selfCopies = new Map<string, OutboxRecord[]>();
  #dropTimer: ReturnType<typeof setTimeout> | undefined;
  /** Call signalling from a known contact (web/lib/calls validates the content). */
  onCall: ((contact: ContactRecord, content: string, sentAt: number) => void) | undefined;
  /** A new text message from someone else was stored (for notifications). */
  onIncoming: ((contact: ContactRecord, text: string) => void) | undefined;
  /** Another of our devices took (or refused) an incoming call. */
  onCallElsewhere: ((callId: string, answered: boolean) => void) | undefined;

  constructor(
    private readonly store: AppStore,
    private readonly crypto: CryptoPort,
    private readonly servers: ServerManager,
    private readonly notify: Notify,
    private readonly now: () => number = Date.now,
  ) {}

  /** Who we are: enough to send (queue to the outbox) without running the engine. */
  identify(me: Me): void {
    this.#me = { ...me };
  }

  /** Runs the engine: receiving, the outbox. One tab of a device does (EngineLease). */
  start(me: Me): void {
    this.identify(me);
    this.#stopped = false;
    void this.store.pruneSeen(this.now() - SEEN_TTL_MS);
    void this.reconnect().then(() => this.flush(true));
  }

  /** The display name sent from now on. */
  rename(name: string): void {
    if (this.#me) this.#me.name = name;
  }

  stop(): void {
    this.#stopped = true;
    this.#retrieval?.abort.abort();
    this.#closeWs();
    clearTimeout(this.#pollTimer);
    clearTimeout(this.#reconnectTimer);
    clearTimeout(this.#flushTimer);
    clearTimeout(this.#dropTimer);
    this.#setConnection('offline');
  }

  // ------------------------------------------------------------- sending

  /** Seals the message to the contact and a self-copy to us, queues both, tries to send. */
  async send(contact: ContactRecord, text: string): Promise<MessageRecord> {
    const me = this.#requireMe();
    const uuid = uuidV4();
    const timestamp = new Date(this.now()).toISOString();
    const msg: MessageRecord = { contact: contact.id, uuid, dir: 'out', text, time: Date.parse(timestamp), storedAt: this.now(), state: 'queued' };
    const [toThem, toMe] = await Promise.all([
      this.crypto.seal(contact.publicKey, { content: text, uuid, timestamp, ...(me.name ? { extra: { name: me.name } } : {}) }),
      this.crypto.seal(me.publicKey, { content: text, uuid, timestamp, kind: 'sync', extra: { to: contact.publicKey } }),
    ]);
    await this.store.upsertMessage(msg);
    const base = { contact: contact.id, uuid, createdAt: this.now(), attempts: 0, nextAttemptAt: 0 };
    const rows: OutboxRecord[] = [
      { ...base, id: toThem.id, role: 'message', packet: toThem.packet },
      { ...base, id: toMe.id, role: 'self', packet: toMe.packet },
    ];
    await this.store.putOutbox(rows);
    this.#rememberSelfCopy(toMe.id, rows);
    this.notify('messages', contact.id);
    void this.#rideThenFlush();
    return msg;
  }

  /**
   * A sealed self-addressed control message for our other devices (contacts,
   * read state; domain/sync.ts). Queued like any packet.
   */
  async sendSync(op: SyncOp): Promise<void> {
    const me = this.#requireMe();
    const sealed = await this.crypto.seal(me.publicKey, { content: '', kind: 'sync', uuid: uuidV4(), timestamp: new Date(this.now()).toISOString(), extra: syncExtra(op) });
    await this.store.putOutbox([
      { id: sealed.id, contact: me.fingerprint, uuid: sealed.plaintext.uuid, role: 'self', packet: sealed.packet, createdAt: this.now(), attempts: 0, nextAttemptAt: 0 },
    ]);
    void this.#rideThenFlush();
  }

  /** Real sends take the next cover slot when it is close (domain/cover.ts RIDE_MS). */
  async #rideThenFlush(): Promise<void> {
    await this.cover?.ride();
    await this.flush();
  }

  #rememberSelfCopy(id: string, rows: OutboxRecord[]): void {
    if (this.#selfCopies.size >= 200) this.#selfCopies.delete(this.#selfCopies.keys().next().value!);
    this.#selfCopies.set(id, rows);
  }

  /** Self-copies past the bound: blame the TX relay they went through, send again through the (new) TX. */
  async #checkDrops(): Promise<void> {
    clearTimeout(this.#dropTimer);
    if (this.#stopped) return;
    // Nothing comes back while RX is unreachable: that is no evidence against TX.
    if (this.connection !== 'offline') {
      const late = this.#drops.overdue(this.now());
      for (const w of late) await this.servers.missed(w.tx);
      const again = late.flatMap((w) => w.payload).map((r) => ({ ...r, attempts: 0, nextAttemptAt: 0 }));
      if (again.length) {
        await this.store.putOutbox(again);
        void this.flush(true);
      }
    }
    const next = this.#drops.nextDeadline();
    if (next !== undefined) this.#dropTimer = setTimeout(() => void this.#checkDrops(), Math.max(500, next - this.now() + 100));
  }

  /** Sends a read receipt for messages we have shown (best effort, no self-copy). */
  async sendReceipt(contact: ContactRecord, uuids: string[]): Promise<void> {
    if (!uuids.length) return;
    const sealed = await this.crypto.seal(contact.publicKey, { content: '', kind: 'receipt', uuid: uuidV4(), timestamp: new Date(this.now()).toISOString(), extra: { read: uuids.slice(0, 100) } });
    await this.store.putOutbox([
      { id: sealed.id, contact: contact.id, uuid: sealed.plaintext.uuid, role: 'self', packet: sealed.packet, createdAt: this.now(), attempts: 0, nextAttemptAt: 0 },
    ]);
    void this.flush();
  }

  /** Call signalling: sealed like any message, no self-copy, no conversation row. */
  async sendCall(contact: ContactRecord, content: string): Promise<void> {
    const sealed = await this.crypto.seal(contact.publicKey, { content, kind: 'call', uuid: uuidV4(), timestamp: new Date(this.now()).toISOString() });
    await this.store.putOutbox([
      { id: sealed.id, contact: contact.id, uuid: sealed.plaintext.uuid, role: 'self', packet: sealed.packet, createdAt: this.now(), attempts: 0, nextAttemptAt: 0 },
    ]);
    void this.flush();
  }

  /**
   * Sends what is due. A call while a flush runs is not lost: the running one
   * goes round again, since it may have read the outbox before the new rows.
   */
  flush(force = false): Promise<void> {
    // Not running here: the tab that runs the engine sends what this one queued.
    if (this.#stopped) {
      this.notify('outbox');
      return Promise.resolve();
    }
    if (this.#flushing) {
      this.#flushAgain = true;
      this.#flushForce ||= force;
      return this.#flushing;
    }
    this.#flushing = (async () => {
      let f = force;
      do {
        this.#flushAgain = false;
        await this.#flush(f);
        f = this.#flushForce;
        this.#flushForce = false;
      } while (this.#flushAgain && !this.#stopped);
    })()
      .catch((e) => console.warn('meshchat: flush failed', e))
      .finally(() => {
        this.#flushing = undefined;
        void this.#scheduleFlush();
      });
    return this.#flushing;
  }

  /** Rows left in back-off get a timer, so nothing waits for the next user action. */
  async #scheduleFlush(): Promise<void> {
    clearTimeout(this.#flushTimer);
    if (this.#stopped) return;
    const rows = await this.store.outbox();
    if (!rows.length) return;
    const next = Math.min(...rows.map((r) => r.nextAttemptAt));
    const wait = Math.min(Math.max(next - this.now(), 500), 60_000);
    this.#flushTimer = setTimeout(() => void this.flush(), wait);
  }

  async #flush(force: boolean): Promise<void> {
    for (let round = 0; round < 3; round++) {
      const tx = this.servers.choice.tx;
      const rows = due(await this.store.outbox(), this.now(), force);
      if (!rows.length) return;
      if (!tx) {
        await this.servers.refresh(false);
        if (!this.servers.choice.tx) return;
        continue;
      }
      let broke = false;
      for (const row of rows) {
        if (expired(row, this.now())) {
          await this.#finish(row, 'failed');
          continue;
        }
        try {
          await postMessage(tx, row.packet, await this.servers.via('tx'));
          await this.#finish(row, 'sent');
          // Fakes take the sizes of real packets as they leave, whichever tab queued them:
          // self-copies too, which carry the recipient's key and can be a bucket larger.
          this.cover?.learn(bucketOfMessage(row.packet.message));
          // A message queued by another tab (or before a reload) pairs up from the outbox.
          const watched = this.#selfCopies.get(row.id) ?? (row.role === 'self' ? withMessage(row, rows) : undefined);
          if (watched) {
            this.#drops.watch(row.id, tx, this.now(), watched);
            if (this.#drops.size === 1) void this.#checkDrops();
          }
        } catch (e) {
          const err = e instanceof RelayError ? e : new RelayError(0, 'network', String(e));
          if (err.status !== 0 && permanentFailure(err.status)) {
            await this.#finish(row, 'failed');
            continue;
          }
          await this.store.putOutbox([afterFailure(row, this.now(), `${err.code}: ${err.message}`)]);
          if (typeof navigator !== 'undefined' && navigator.onLine === false) return;
          await this.servers.failed(err.code === PROXY_FAILED ? (this.servers.choice.txProxy ?? tx) : tx);
          broke = true;
          break;
        }
      }
      if (!broke) return;
      force = true;
    }
  }

  async #finish(row: OutboxRecord, state: 'sent' | 'failed'): Promise<void> {
    await this.store.deleteOutbox(row.id);
    if (row.role === 'message' && (await this.store.setDelivery(row.contact, row.uuid, state))) this.notify('messages', row.contact);
  }

  // ------------------------------------------------------------- receiving

  /**
   * (Re)connects to the current RX relay: WebSocket first, polling alongside
   * as the fallback. `networkChanged`: the browser just came back online, so
   * a held retrieval may sit on a connection that died meanwhile (it would
   * only time out 20 s later); it is called off and asked again.
   */
  async reconnect(networkChanged = false): Promise<void> {
    if (this.#stopped) return;
    clearTimeout(this.#reconnectTimer);
    if (!this.servers.choice.rx) await this.servers.refresh();
    const rx = this.servers.choice.rx;
    if (!rx) {
      this.#setConnection('offline');
      this.#schedulePoll(POLL_FALLBACK_MS);
      return;
    }
    // Dual proxy: a WebSocket cannot go through the proxy, so RX is long-polled through it instead.
    // Not awaited: a held poll may take LONG_POLL_S, and the outbox flush waits for reconnect().
    if (this.servers.choice.rxProxy) {
      this.#closeWs();
      if (this.connection !== 'live') this.#setConnection('polling');
      void this.poll(networkChanged);
      return;
    }
    // #wsUrl is set synchronously when a socket starts opening, so concurrent
    // reconnects (route change + poll failure) never open two subscriptions.
    if (this.#wsUrl !== rx) {
      this.#closeWs();
      await this.#openWs(rx);
    }
    void this.poll(networkChanged);
  }

  /**
   * The `wait` of a retrieval now, real or fake (cover traffic asks the same,
   * so both have one shape): held when no WebSocket is open or opening to the
   * RX relay (briefly until a hold has been seen on this route, FIRST_HOLD_S),
   * not held while one is (the poll is then only a backstop).
   */
  pollWait(): number {
    if (!this.servers.choice.rxProxy && this.#wsUrl) return 0;
    return this.#heldRoute === this.#route() ? LONG_POLL_S : FIRST_HOLD_S;
  }

  async #openWs(rx: string): Promise<void> {
    this.#wsUrl = rx;
    const abandon = () => {
      if (this.#wsUrl === rx && !this.#ws) this.#wsUrl = undefined;
    };
    let packet: unknown;
    let id: string | undefined;
    try {
      id = await this.servers.relayId(rx);
      if (!id || this.#stopped || this.#wsUrl !== rx) return abandon();
      const cursors = (await this.store.getSetting('cursors')) ?? {};
      packet = (await this.crypto.signRetrieval(id, cursors[id])).packet;
    } catch {
      return abandon();
    }
    if (this.#wsUrl !== rx) return;
    let ws: WebSocket;
    try {
      ws = new WebSocket(subscribeUrl(rx));
    } catch {
      return abandon();
    }
    const relayId = id;
    this.#ws = ws;
    this.#setConnection('connecting');
    ws.onopen = () => {
      ws.send(JSON.stringify(packet));
      this.#setConnection('live');
    };
    ws.onmessage = (ev) => {
      const f = parseFrame(ev.data);
      // Only an accepted subscription resets the back-off (a refused one closes right after opening).
      if (f.kind === 'messages' || f.kind === 'ready') this.#wsRetry = 0;
      if (f.kind === 'messages') void this.#enqueueReceive(f.messages, rx, relayId, f.cursor);
      else if (f.kind === 'error') console.warn(`meshchat: subscription refused by ${rx}: ${f.code}`);
    };
    ws.onclose = () => {
      if (this.#ws !== ws) return;
      clearTimeout(this.#reconnectTimer);
      this.#ws = undefined;
      this.#wsUrl = undefined;
      if (this.#stopped) return;
      this.#setConnection('polling');
      const delay = Math.min(30_000, 1000 * 2 ** this.#wsRetry++);
      this.#reconnectTimer = setTimeout(() => void this.reconnect(), delay);
    };
  }

  #closeWs(): void {
    const ws = this.#ws;
    this.#ws = undefined;
    this.#wsUrl = undefined;
    ws?.close();
  }

  /**
   * Pulls everything after our cursor from the RX relay, then schedules the
   * next retrieval: at once after a held one (long poll), 60 s later while
   * the WebSocket is live (a backstop), 10 s later otherwise. Resolves when
   * this round is done, which may be LONG_POLL_S later. Asked for while one
   * is under way, it runs right after; the one under way is called off first
   * when it took a route we have since left, or when `restart` says so.
   */
  async poll(restart = false): Promise<void> {
    clearTimeout(this.#pollTimer);
    if (this.#retrieval) {
      this.#pollAgain = true;
      if (restart || this.#retrieval.route !== this.#route()) this.#retrieval.abort.abort();
      return;
    }
    const abort = new AbortController();
    this.#retrieval = { route: this.#route(), abort };
    let next = POLL_FALLBACK_MS;
    try {
      next = await this.#retrieve(abort.signal);
    } finally {
      this.#retrieval = undefined;
      if (this.#pollAgain) {
        this.#pollAgain = false;
        next = 0;
      }
      if (!this.#stopped) this.#schedulePoll(next);
    }
  }

  /** The route retrievals take now: RX relay, and RX proxy when there is one. */
  #route(): string {
    return `${this.servers.choice.rx ?? ''} ${this.servers.choice.rxProxy ?? ''}`;
  }

  /** One round of retrieval; returns when to start the next (ms). `signal` calls it off. */
  async #retrieve(signal: AbortSignal): Promise<number> {
    const rx = this.servers.choice.rx;
    const wait = this.pollWait();
    const route = this.#route();
    const started = this.now();
    let received = 0;
    try {
      if (!rx || this.#stopped) return POLL_FALLBACK_MS;
      const id = await this.servers.relayId(rx);
      if (!id) throw new RelayError(0, 'unreachable', 'relay id unknown');
      for (let page = 0; page < MAX_PAGES; page++) {
        const cursors = (await this.store.getSetting('cursors')) ?? {};
        const { header } = await this.crypto.signRetrieval(id);
        const res = await getMessages(rx, header, cursors[id], 200, await this.servers.via('rx'), wait, signal);
        if (this.#stopped) return POLL_FALLBACK_MS;
        received += res.messages.length;
        await this.#enqueueReceive(res.messages, rx, id, res.cursor);
        if (!res.more || !res.cursor) break;
      }
      await this.servers.succeeded(rx);
      this.#heldFailures = 0;
      if (this.#ws?.readyState === 1) {
        if (this.connection === 'offline') this.#setConnection('live');
        return POLL_LIVE_MS;
      }
      if (wait === 0) {
        if (this.connection === 'offline') this.#setConnection('polling');
        return POLL_FALLBACK_MS;
      }
      // Held until a message came or the wait ran out: hold the next one at once.
      // Empty and quick: this relay did not hold it (full, stopping, or older); poll on a timer.
      const held = received > 0 || this.now() - started >= (wait * 1000) / 2;
      this.#heldRoute = held ? route : undefined;
      this.#setConnection(held ? 'live' : 'polling');
      return held ? REPOLL_MS : Math.max(0, POLL_FALLBACK_MS - (this.now() - started));
    } catch (e) {
      // Called off by us (a new route, the network back), wherever it was: nobody failed; the next one starts at once.
      if (signal.aborted || (e instanceof RelayError && e.code === ABORTED)) return 0;
      if (rx && e instanceof RelayError && e.status === 0) {
        if (wait > 0 && this.#heldFailures++ === 0) return HELD_RETRY_MS;
        this.#setConnection('offline');
        if (typeof navigator === 'undefined' || navigator.onLine !== false) {
          await this.servers.failed(e.code === PROXY_FAILED ? (this.servers.choice.rxProxy ?? rx) : rx);
          if (this.servers.choice.rx && this.servers.choice.rx !== rx) {
            void this.reconnect();
            return POLL_FALLBACK_MS;
          }
        }
      }
      return this.#ws?.readyState === 1 ? POLL_LIVE_MS : POLL_FALLBACK_MS;
    }
  }

  #schedulePoll(ms: number): void {
    clearTimeout(this.#pollTimer);
    this.#pollTimer = setTimeout(() => void this.poll(), ms);
  }

  /** Serialises receive batches so cursors only move forward after their messages are stored. */
  #enqueueReceive(msgs: RelayMessage[], rx: string, relayId: string, cursor?: string): Promise<void> {
    this.#receiving = this.#receiving.then(() => this.#receive(msgs, relayId, cursor)).catch((e) => console.warn('meshchat: receive failed', e));
    return this.#receiving;
  }

  async #receive(msgs: RelayMessage[], relayId: string, cursor?: string): Promise<void> {
    for (const m of msgs) await this.#handle(m);
    const last = cursor ?? msgs.at(-1)?.cursor;
    if (last) {
      const cursors = (await this.store.getSetting('cursors')) ?? {};
      if (cursors[relayId] !== last) await this.store.setSetting('cursors', { ...cursors, [relayId]: last });
    }
  }

  async #handle(m: RelayMessage): Promise<void> {
    const me = this.#requireMe();
    if (m.packet.recipient !== me.publicKey) return;
    const via = this.#drops.arrived(m.id);
    if (via) {
      this.#selfCopies.delete(m.id);
      void this.servers.arrived(via);
    }
    if (await this.store.hasSeen(m.id)) return;
    const r = await this.crypto.open(m.packet);
    await this.store.markSeen(m.id, this.now());
    if (!r.ok) {
      await this.store.bump('dropped');
      await this.store.bump(`dropped:${r.code}`);
      this.notify('counters');
      return;
    }
    const msg = r.message;
    const time = Date.parse(msg.timestamp);
    if (msg.kind === 'sync') {
      // Our own self-copy: only accepted when we signed it.
      if (msg.sender !== me.publicKey) return this.#drop('sync_not_self');
      const op = parseSync(msg.extra);
      if (!op) return this.#drop('bad_sync');
      if (op.type !== 'message') return this.#applySync(op);
      const contact = await this.#contactFor(op.to, false);
      const res = await this.store.upsertMessage({ contact: contact.id, uuid: msg.uuid, dir: 'out', text: msg.content, time, storedAt: this.now(), state: 'delivered' });
      if (res.inserted || res.record.state === 'delivered') this.notify('messages', contact.id);
      return;
    }
    if (msg.kind === 'receipt') {
      const { fingerprint } = await this.crypto.fingerprint(msg.sender);
      for (const uuid of readReceipt(msg.extra)) await this.store.setDelivery(fingerprint, uuid, 'read');
      this.notify('messages', fingerprint);
      return;
    }
    if (msg.kind === 'call') {
      // Calls ring only for people already in the contact list; strangers cannot make a phone ring.
      if (msg.sender === me.publicKey) return;
      const { fingerprint } = await this.crypto.fingerprint(msg.sender);
      const contact = await this.store.contact(fingerprint);
      if (!contact || contact.unknown) return this.#drop('call_not_contact');
      this.onCall?.(contact, msg.content, time);
      return;
    }
    if (msg.kind !== undefined && msg.kind !== 'text') return; // call signalling, cover traffic, …: other issues.
    if (msg.sender === me.publicKey) return;
    const contact = await this.#contactFor(msg.sender, true, claimedName(msg.extra));
    const res = await this.store.upsertMessage({ contact: contact.id, uuid: msg.uuid, dir: 'in', text: msg.content, time, storedAt: this.now(), state: 'delivered' });
    if (res.inserted) this.onIncoming?.(contact, msg.content);
    this.notify('messages', contact.id);
    this.notify('contacts');
  }

  /** A contact or read-state change made on another of our devices. */
  async #applySync(op: Exclude<SyncOp, { type: 'message' }>): Promise<void> {
    if (op.type === 'call') return this.onCallElsewhere?.(op.call_id, op.answered);
    const me = this.#requireMe();
    if (op.key === me.publicKey) return;
    const { fingerprint } = await this.crypto.fingerprint(op.key);
    if (op.type === 'read') {
      const c = await this.store.contact(fingerprint);
      if (c && c.unread > 0 && (c.lastMessageAt ?? 0) <= op.upTo) {
        await this.store.markRead(fingerprint);
        this.notify('contacts');
      }
      return;
    }
    const existing = await this.store.contact(fingerprint);
    if (!newerThan(op, existing)) return;
    if (op.deleted) {
      if (existing) await this.store.deleteContact(fingerprint);
      this.notify('contacts');
      return;
    }
    const c: ContactRecord = existing
      ? { ...existing, name: op.name, updatedAt: op.at }
      : { id: fingerprint, name: op.name, publicKey: op.key, relays: [], createdAt: op.at, updatedAt: op.at, unread: 0 };
    delete c.unknown;
    if (op.picture) {
      try {
        c.picture = pictureToBlob(op.picture);
      } catch {
        delete c.picture;
      }
    } else delete c.picture;
    await this.store.putContact(c);
    this.notify('contacts');
  }

  async #drop(code: string): Promise<void> {
    await this.store.bump('dropped');
    await this.store.bump(`dropped:${code}`);
    this.notify('counters');
  }

  /**
   * The contact for a key; someone new writing first becomes an "unknown"
   * contact to review, labelled with the name they gave (`claimed`) until
   * the user keeps or names them. A kept contact's name is the user's.
   */
  async #contactFor(publicKey: string, incoming: boolean, claimed?: string): Promise<ContactRecord> {
    const { fingerprint, safetyCode } = await this.crypto.fingerprint(publicKey);
    const existing = await this.store.contact(fingerprint);
    if (existing) {
      if (!existing.unknown || !claimed || claimed === existing.name) return existing;
      const renamed = { ...existing, name: claimed, updatedAt: this.now() };
      await this.store.putContact(renamed);
      this.notify('contacts');
      return renamed;
    }
    const now = this.now();
    const c: ContactRecord = {
      id: fingerprint,
      name: (incoming && claimed) || `Unknown ${safetyCode.slice(0, 11)}`,
      publicKey,
      relays: [],
      createdAt: now,
      updatedAt: now,
      unread: 0,
    };
    if (incoming) c.unknown = true;
    await this.store.putContact(c);
    this.notify('contacts');
    return c;
  }

  #requireMe(): Me {
    if (!this.#me) throw new Error('no identity');
    return this.#me;
  }

  #setConnection(c: Connection): void {
    if (this.connection === c) return;
    this.connection = c;
    this.notify('connection');
  }
}

/** A self-copy and the message it copies (same uuid), when both were due together. */
function withMessage(self: OutboxRecord, rows: OutboxRecord[]): OutboxRecord[] | undefined {
  const message = rows.find((r) => r.role === 'message' && r.uuid === self.uuid);
  return message && [message, self];
}
