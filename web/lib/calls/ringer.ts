/**
 * The incoming-call ring, synthesised with WebAudio: no audio file to ship
 * or fetch. A two-tone 440+480 Hz ring, 2 s on and 4 s off.
 */
export class Ringer {
  #ctx: AudioContext | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;

  start(): void {
    if (this.#ctx || typeof AudioContext === 'undefined') return;
    const ctx = (this.#ctx = new AudioContext());
    // Without a user gesture the context may stay suspended: the screen still shows the call.
    void ctx.resume().catch(() => {});
    const gain = ctx.createGain();
    gain.gain.value = 0;
    gain.connect(ctx.destination);
    for (const f of [440, 480]) {
      const o = ctx.createOscillator();
      o.frequency.value = f;
      o.connect(gain);
      o.start();
    }
    const burst = () => {
      const t = ctx.currentTime;
      gain.gain.cancelScheduledValues(t);
      gain.gain.setValueAtTime(0, t);
      gain.gain.linearRampToValueAtTime(0.12, t + 0.05);
      gain.gain.setValueAtTime(0.12, t + 1.95);
      gain.gain.linearRampToValueAtTime(0, t + 2);
    };
    burst();
    this.#timer = setInterval(burst, 6000);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    const ctx = this.#ctx;
    this.#ctx = undefined;
    void ctx?.close().catch(() => {});
  }
}
