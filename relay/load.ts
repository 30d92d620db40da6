import { performance, type EventLoopUtilization } from 'node:perf_hooks';

/**
 * The `load` figure in /v1/status, 0..1, that clients compare to pick the
 * least loaded relay:
 *
 *   load = min(1, max(elu, connections / maxConnections, queue / maxQueue))
 *
 * elu: event-loop utilisation (share of time the loop was busy), sampled
 * every second and smoothed (EWMA, alpha 0.3, so about the last 3 s count);
 * connections: open push subscribers (WebSockets) over --max-subscribers;
 * queue: packets waiting for the group commit over the ingest queue cap.
 * The max, not a weighted sum, so whichever resource is closest to
 * saturation decides. Rounded to 3 decimals.
 */
export class LoadMeter {
  private last: EventLoopUtilization = performance.eventLoopUtilization();
  private elu = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly connections: () => number,
    private readonly maxConnections: number,
    private readonly queue: () => number,
    private readonly maxQueue: number,
  ) {
    this.timer = setInterval(() => this.sample(), 1000);
    this.timer.unref();
  }

  private sample(): void {
    const now = performance.eventLoopUtilization();
    const d = performance.eventLoopUtilization(now, this.last);
    this.last = now;
    this.elu = 0.7 * this.elu + 0.3 * d.utilization;
  }

  get eventLoopUtilization(): number {
    return this.elu;
  }

  value(): number {
    const v = Math.max(this.elu, this.connections() / this.maxConnections, this.queue() / this.maxQueue);
    return Math.round(Math.min(1, Math.max(0, v)) * 1000) / 1000;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
