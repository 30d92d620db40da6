import type { AppStore } from '../db/store.ts';
import { BucketMix, coverLevel, pickFake, poissonDelay, rideDelay, type CoverLevel } from '../domain/cover.ts';
import { getMessages, postMessage } from '../net/relay-api.ts';
import type { CryptoPort } from './ports.ts';
import type { ServerManager } from './server-manager.ts';

/**
 * Runs cover traffic (domain/cover.ts): Poisson slots while the app is
 * visible; each slot sends a fake POST (sealed between throwaway keys) or a
 * fake retrieval (signed by a throwaway key) through exactly the functions,
 * relays and proxies real traffic uses, so a relay sees the same endpoint,
 * headers and sizes. A real send that is due shortly takes the next slot.
 */
export class CoverTraffic {
  level: CoverLevel = coverLevel(undefined);
  sent = { post: 0, get: 0 };
  /** Called after each fake goes out (the settings page shows the counts). */
  onSent: (() => void) | undefined;
  readonly buckets = new BucketMix();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #nextSlotAt: number | undefined;
  #running = false;
  #visible = true;
  #realWaiting: (() => void) | undefined;
  /** The `wait` real retrievals use now (Messenger.pollWait), so a fake one has the same query. */
  pollWait: () => number = () => 0;

  constructor(
    private readonly store: AppStore,
    private readonly crypto: CryptoPort,
    private readonly servers: ServerManager,
    private readonly now: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {}

  async start(): Promise<void> {
    this.level = coverLevel(await this.store.getSetting('cover'));
    // The sizes learned before a reload or while another tab ran the engine, so fakes do not fall back to the smallest.
    this.buckets.replace((await this.store.getSetting('coverBuckets')) ?? []);
    this.#running = true;
    this.#schedule();
  }

  /** A real message left with this plaintext bucket: fakes take its size from now on, also after a restart. */
  learn(bucket: number): void {
    this.buckets.add(bucket);
    void this.store.setSetting('coverBuckets', this.buckets.recent).catch(() => {});
  }

  stop(): void {
    this.#running = false;
    this.#clear();
  }

  async setLevel(id: CoverLevel['id']): Promise<void> {
    this.level = coverLevel(id);
    await this.store.setSetting('cover', this.level.id);
    this.#schedule();
  }

  /** Paused while the app is hidden (battery, data), resumed when shown. */
  setVisible(visible: boolean): void {
    this.#visible = visible;
    this.#schedule();
  }

  get active(): boolean {
    return this.#running && this.#visible && this.level.meanSeconds > 0;
  }

  /**
   * A real send is ready: resolves when it should go. Within RIDE_MS of the
   * next slot it waits for that slot and takes it (no fake goes then);
   * otherwise it goes at once.
   */
  ride(): Promise<void> {
    const wait = this.active ? rideDelay(this.now(), this.#nextSlotAt) : 0;
    if (wait === 0 || this.#realWaiting) return Promise.resolve();
    return new Promise((resolve) => (this.#realWaiting = resolve));
  }

  #clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#nextSlotAt = undefined;
  }

  #schedule(): void {
    this.#clear();
    if (!this.active) {
      // Nothing may wait for a slot that will not come.
      this.#realWaiting?.();
      this.#realWaiting = undefined;
      return;
    }
    const delay = poissonDelay(this.level.meanSeconds * 1000, this.random());
    this.#nextSlotAt = this.now() + delay;
    this.#timer = setTimeout(() => void this.#slot(), delay);
  }

  async #slot(): Promise<void> {
    const real = this.#realWaiting;
    this.#realWaiting = undefined;
    this.#schedule();
    if (real) return real();
    try {
      if (pickFake(this.random()) === 'post') await this.fakePost();
      else await this.fakeGet();
    } catch {
      // A fake that fails is just lost; real traffic has its own retries and failure accounting.
    }
  }

  /** One fake POST /v1/messages to the current TX relay (through its proxy when on). */
  async fakePost(): Promise<void> {
    const tx = this.servers.choice.tx;
    if (!tx) return;
    const { packet } = await this.crypto.sealCover(this.buckets.pick(this.random()));
    this.sent.post++;
    this.onSent?.();
    await postMessage(tx, packet, await this.servers.via('tx'));
  }

  /** One fake retrieval from the current RX relay, with our real cursor there (same query shape). */
  async fakeGet(): Promise<void> {
    const rx = this.servers.choice.rx;
    if (!rx) return;
    const id = await this.servers.relayId(rx);
    if (!id) return;
    const cursor = ((await this.store.getSetting('cursors')) ?? {})[id];
    const { header } = await this.crypto.signCoverRetrieval(id);
    this.sent.get++;
    this.onSent?.();
    await getMessages(rx, header, cursor, 200, await this.servers.via('rx'), this.pollWait());
  }
}
