/**
 * A timer that runs only while there is work. An idle relay should sleep:
 * on a small VM each wake-up costs ~50 µs of CPU, and a 50 ms interval per
 * housekeeping loop added up to more than the relay's real idle work.
 */
export class Ticker {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  /** `tick` returns whether work is left, in which case it runs again after `ms`. */
  constructor(
    private readonly ms: number,
    private readonly tick: () => boolean,
  ) {}

  /** There is work: make sure a tick runs within `ms`. */
  poke(): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.tick()) this.poke();
    }, this.ms);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
