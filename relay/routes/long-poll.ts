/**
 * Held retrievals (GET /v1/messages with `wait`): an empty page is not
 * answered at once but when a message for the key is accepted here, or when
 * the wait runs out. This is how a client reading through a proxy, where a
 * WebSocket cannot go, still hears of a message within milliseconds instead
 * of at its next poll. The relay learns nothing it did not know: it already
 * holds the key's messages and sees the key poll.
 *
 * Bounded: at most `max` held in all (past that a retrieval is answered at
 * once and the client falls back to timed polls) and PER_KEY per key (a
 * key's devices and its cover retrievals).
 */
const PER_KEY = 8;

/** The longest wait a client may ask for, in seconds: under a proxy's forward deadline (15 s by default, at least 12 s). */
export const MAX_WAIT_S = 10;

/** Answers one held retrieval: true when woken by a message. */
type Waiter = (woken: boolean) => void;

export class LongPolls {
  private readonly byKey = new Map<string, Set<Waiter>>();
  private held = 0;
  private closed = false;

  constructor(private readonly max: number) {}

  get size(): number {
    return this.held;
  }

  /**
   * Resolves true when a message for `key` is accepted within `ms`, false
   * when the wait ran out, the relay is stopping, or there was no room (then
   * at once). Register synchronously after reading the empty page: a message
   * accepted in between cannot slip past. `onCancel` is handed a function
   * that ends the wait early (false), for when the asker hangs up.
   */
  wait(key: string, ms: number, onCancel?: (cancel: () => void) => void): Promise<boolean> {
    let set = this.byKey.get(key);
    if (this.closed || this.held >= this.max || (set && set.size >= PER_KEY)) return Promise.resolve(false);
    if (!set) this.byKey.set(key, (set = new Set()));
    const waiters = set;
    this.held++;
    return new Promise((resolve) => {
      const done = (woken: boolean): void => {
        clearTimeout(timer);
        if (!waiters.delete(done)) return;
        this.held--;
        if (waiters.size === 0 && this.byKey.get(key) === waiters) this.byKey.delete(key);
        resolve(woken);
      };
      const timer = setTimeout(() => done(false), ms);
      waiters.add(done);
      onCancel?.(() => done(false));
    });
  }

  /** A message for `key` was accepted: every retrieval held for it is answered. */
  wake(key: string): void {
    const set = this.byKey.get(key);
    if (set) for (const w of [...set]) w(true);
  }

  /** The relay is stopping: every held retrieval is answered now (with what there is). */
  close(): void {
    this.closed = true;
    for (const set of [...this.byKey.values()]) for (const w of [...set]) w(false);
  }
}
