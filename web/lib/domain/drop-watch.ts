/**
 * Client-side drop detection. After the TX relay accepts a self-copy, it must
 * come back through the RX relay (over the mesh) within BOUND_MS; a TX relay
 * whose self-copies keep going missing is suspect: it accepts packets and
 * drops them. Plain logic; the messenger feeds it and acts on the verdicts.
 */
export const DROP_BOUND_MS = 25_000;
/** Misses in a row before a TX relay is suspect. */
export const SUSPECT_AFTER = 2;
/** How long a suspect TX relay is avoided before it gets another chance. */
export const SUSPECT_FOR_MS = 30 * 60_000;

export interface Watched<T> {
  id: string;
  tx: string;
  sentAt: number;
  payload: T;
}

export class DropWatch<T> {
  readonly #open = new Map<string, Watched<T>>();
  constructor(
    private readonly bound = DROP_BOUND_MS,
    private readonly max = 200,
  ) {}

  watch(id: string, tx: string, sentAt: number, payload: T): void {
    if (this.#open.size >= this.max) this.#open.delete(this.#open.keys().next().value!);
    this.#open.set(id, { id, tx, sentAt, payload });
  }

  /** The self-copy came back: returns the TX relay it went through, if it was watched. */
  arrived(id: string): string | undefined {
    const w = this.#open.get(id);
    this.#open.delete(id);
    return w?.tx;
  }

  /** Watches past the bound, removed and returned. */
  overdue(now: number): Watched<T>[] {
    const out: Watched<T>[] = [];
    for (const w of this.#open.values()) if (now - w.sentAt > this.bound) out.push(w);
    for (const w of out) this.#open.delete(w.id);
    return out;
  }

  nextDeadline(): number | undefined {
    let min: number | undefined;
    for (const w of this.#open.values()) min = min === undefined ? w.sentAt + this.bound : Math.min(min, w.sentAt + this.bound);
    return min;
  }

  get size(): number {
    return this.#open.size;
  }
}

/** A server's miss count after one more miss, and whether that makes it suspect. */
export function afterMiss(misses: number | undefined, now: number): { misses: number; suspectUntil?: number } {
  const m = (misses ?? 0) + 1;
  return m >= SUSPECT_AFTER ? { misses: m, suspectUntil: now + SUSPECT_FOR_MS } : { misses: m };
}

export const isSuspect = (s: { suspectUntil?: number }, now: number): boolean => s.suspectUntil !== undefined && s.suspectUntil > now;
