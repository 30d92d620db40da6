/**
 * Plumtree's graft timeout, adapted to how late eager pushes arrive here.
 *
 * A graft is spurious when the payload also arrives from a peer we did not
 * ask: the eager push was late, not lost. On a busy mesh (queues of hundreds
 * of ms) a fixed timeout turns lateness into grafts, grafts into duplicate
 * payloads, and duplicates into more load. So each spurious graft lengthens
 * the timeout by a quarter, and each second without one shortens it by a
 * tenth, down to the configured base. A relay whose peer really drops
 * messages keeps the base: its grafts are answered and no other copy comes.
 * While the timeout is well above the base the mesh only fetches late ids
 * (iwant) instead of grafting, so it stops adding eager links to a tree that
 * works, unless nothing pushes to the relay any more (Mesh.missingSweep).
 */
export class GraftTimer {
  private current: number;
  private decayedAt: number;
  /** Ids grafted recently, by insertion (= time) order: who was asked, and when. */
  private readonly grafted = new Map<string, { peer: string; at: number }>();
  spurious = 0;

  constructor(
    readonly base: number,
    readonly max = Math.max(base, 2000),
    private readonly now: () => number = () => performance.now(),
  ) {
    this.current = base;
    this.decayedAt = now();
  }

  /** How long an announced id may stay missing before it is grafted. */
  get ms(): number {
    const t = this.now();
    const seconds = (t - this.decayedAt) / 1000;
    if (seconds >= 1) {
      this.current = Math.max(this.base, this.current * 0.9 ** Math.floor(seconds));
      this.decayedAt += Math.floor(seconds) * 1000;
    }
    return this.current;
  }

  /** Recent grafts were mostly spurious: fetch late ids without changing the tree. */
  get backedOff(): boolean {
    return this.ms >= 2 * this.base;
  }

  /** We asked `peer` for `id` (graft or iwant). */
  sent(id: string, peer: string): void {
    const t = this.now();
    // Bounded by age (and count): a copy that comes later than this says nothing about timeouts.
    for (const [old, g] of this.grafted) {
      if (t - g.at < WINDOW_MS && this.grafted.size < MAX_TRACKED) break;
      this.grafted.delete(old);
    }
    this.grafted.delete(id);
    this.grafted.set(id, { peer, at: t });
  }

  /** A payload for `id` came from `from`; call for every payload frame. */
  payload(id: string, from: string): void {
    if (this.grafted.size === 0) return;
    const g = this.grafted.get(id);
    if (!g || g.peer === from) return;
    this.grafted.delete(id);
    this.spurious++;
    this.current = Math.min(this.max, this.ms * 1.25);
    this.decayedAt = this.now();
  }
}

const WINDOW_MS = 10_000;
const MAX_TRACKED = 50_000;
