/** The Web Lock held by the tab that runs this device's network engine. */
export const ENGINE_LOCK = 'meshchat-engine';
/** Held by a tab while it has a call: its signalling must keep reaching it. */
export const CALL_LOCK = 'meshchat-call';

/**
 * Which tab of this device runs the network engine: the subscription and
 * retrievals, the outbox, cover traffic, notifications and ringing. With one
 * engine per tab, two tabs meant two subscriptions, twice the cover traffic
 * (a pattern a relay can count), two notifications per message and two
 * ringing tabs per call. One Web Lock decides. The tab the user turns to
 * takes it at once (take): a background tab's timers are throttled to once a
 * minute after a while, and a call must ring where the user is. When the
 * holder closes, a tab waiting in line (join) gets it. The other tabs stay
 * current through the database and the app's BroadcastChannel.
 *
 * Without Web Locks (an insecure origin) every tab runs its own engine, as
 * before.
 */
export class EngineLease {
  held = false;
  #waiting = false;
  #release: (() => void) | undefined;
  #taking = false;
  #pinned = false;
  #callRelease: (() => void) | undefined;
  #closed = false;

  constructor(
    private readonly locks: LockManager | undefined,
    private readonly onChange: (held: boolean) => void,
  ) {}

  /** Waits in line for the engine (granted when no tab runs it); once per tab. */
  join(): void {
    if (this.#closed) return;
    if (!this.locks) {
      if (!this.held) this.#set(true);
      return;
    }
    if (this.#waiting) return;
    this.#waiting = true;
    void this.#request(false);
  }

  /**
   * Takes the engine from whichever tab runs it now, unless that tab has a
   * call (`evenDuringCall`: this tab is starting one itself).
   */
  async take(evenDuringCall = false): Promise<void> {
    if (!this.locks) return this.join();
    // One at a time: a second steal would take it from the first (focus and visibility often come together).
    if (this.held || this.#taking || this.#closed) return;
    this.#taking = true;
    const callElsewhere = !evenDuringCall && !!(await this.locks.query()).held?.some((l) => l.name === CALL_LOCK);
    if (callElsewhere || this.held) {
      this.#taking = false;
      if (!this.held) this.join();
      return;
    }
    void this.#request(true);
  }

  /** Holds CALL_LOCK while `busy` (a call in any phase but idle or ended). */
  pinForCall(busy: boolean): void {
    if (!this.locks || busy === this.#pinned) return;
    this.#pinned = busy;
    if (busy)
      void this.locks.request(CALL_LOCK, () => (this.#pinned ? new Promise<void>((r) => (this.#callRelease = r)) : undefined));
    else {
      this.#callRelease?.();
      this.#callRelease = undefined;
    }
  }

  /** Gives the engine up for good (logout, before the page reloads); another tab in line gets it. */
  release(): void {
    this.#closed = true;
    this.#release?.();
  }

  /** Resolves when this request's hold ends: released, or stolen by another tab (an AbortError). */
  async #request(steal: boolean): Promise<void> {
    let granted = false;
    try {
      await this.locks!.request(ENGINE_LOCK, steal ? { steal: true } : {}, () => new Promise<void>((release) => {
        // Granted: this tab's place in line (if this was it) is used up.
        if (steal) this.#taking = false;
        else this.#waiting = false;
        granted = true;
        this.#release = release;
        this.#set(true);
      }));
    } catch (e) {
      // Stolen while held: the lock is already another tab's. Anything else is a browser refusing Web Locks.
      if ((e as Error)?.name !== 'AbortError') console.warn('meshchat: engine lock', e);
      if (!granted) {
        if (steal) this.#taking = false;
        else this.#waiting = false;
      }
    }
    if (granted) {
      this.#release?.();
      this.#release = undefined;
      this.#set(false);
      // Back in line, so this tab takes over when the one that took it closes.
      this.join();
    }
  }

  #set(held: boolean): void {
    this.held = held;
    this.onChange(held);
  }
}
