import { b64Len, BUCKETS, ENVELOPE_OVERHEAD } from '$protocol/limits.ts';

/**
 * Cover traffic policy (plain logic; the scheduler in engine/cover.ts runs it).
 *
 * Fakes leave at Poisson times (exponential gaps, so their timing carries no
 * rhythm a relay could tell from a person's), half fake POSTs, half fake
 * retrievals. A real send that would go out shortly before the next slot
 * waits for it and takes the slot instead of the fake, so real and fake
 * share one schedule at a cost of at most RIDE_MS of latency.
 */
export interface CoverLevel {
  id: 'off' | 'low' | 'default' | 'high' | 'max';
  label: string;
  /** Mean seconds between fakes; 0 = off. */
  meanSeconds: number;
}

export const COVER_LEVELS: readonly CoverLevel[] = [
  { id: 'off', label: 'Off', meanSeconds: 0 },
  { id: 'low', label: 'Low (about one every 2 minutes)', meanSeconds: 120 },
  { id: 'default', label: 'Normal (about one every 30 s)', meanSeconds: 30 },
  { id: 'high', label: 'High (about one every 10 s)', meanSeconds: 10 },
  { id: 'max', label: 'Maximum (about one every 3 s)', meanSeconds: 3 },
];
export const DEFAULT_COVER: CoverLevel['id'] = 'default';

/** Longest a real send waits to take the next slot instead of going at once. */
export const RIDE_MS = 1500;

export const coverLevel = (id: unknown): CoverLevel => COVER_LEVELS.find((l) => l.id === id) ?? COVER_LEVELS.find((l) => l.id === DEFAULT_COVER)!;

/**
 * Exponential gap with mean `meanMs` from a uniform `u` in [0, 1). Bounded
 * below (no bursts of back-to-back requests) and above (a long tail would
 * leave long silences that real traffic then stands out against).
 */
export function poissonDelay(meanMs: number, u: number): number {
  const x = -Math.log(1 - Math.min(Math.max(u, 0), 0.999999)) * meanMs;
  return Math.round(Math.min(Math.max(x, meanMs / 20, 200), meanMs * 8));
}

export type FakeKind = 'post' | 'get';
export const pickFake = (u: number): FakeKind => (u < 0.5 ? 'post' : 'get');

/**
 * Approximate bytes on the wire per fake, both directions, including HTTP
 * headers: a smallest-bucket packet (~3.9 KB JSON) for a POST, a signed
 * retrieval header (~1.2 KB) with an empty page for a GET.
 */
export const FAKE_POST_BYTES = 4400;
export const FAKE_GET_BYTES = 1700;

const isBucket = (b: number): boolean => (BUCKETS as readonly number[]).includes(b);

/** Characters of a sealed `message` field: base64 of the bucket plus the envelope. */
export const sealedChars = (bucket: number): number => b64Len(bucket + ENVELOPE_OVERHEAD);

/** Bytes of a fake POST whose message has this plaintext bucket: the smallest one's, plus the larger sealed field. */
export const fakePostBytes = (bucket: number): number => FAKE_POST_BYTES + sealedChars(bucket) - sealedChars(BUCKETS[0]!);

/**
 * What cover traffic costs per hour at a level. Fake POSTs take their sizes
 * from `buckets` (the learned mix, BucketMix.recent), so a user who sends
 * long messages or pictures is shown what their fakes really cost.
 */
export function coverCost(meanSeconds: number, buckets: readonly number[] = []): { packetsPerHour: number; kbPerHour: number } {
  if (meanSeconds <= 0) return { packetsPerHour: 0, kbPerHour: 0 };
  const packetsPerHour = Math.round(3600 / meanSeconds);
  const sizes = buckets.filter(isBucket);
  const post = sizes.length ? sizes.reduce((a, b) => a + fakePostBytes(b), 0) / sizes.length : FAKE_POST_BYTES;
  const kbPerHour = Math.round((packetsPerHour * (post + FAKE_GET_BYTES)) / 2 / 1024);
  return { packetsPerHour, kbPerHour };
}

/** How long a real send should wait: until the next slot when that is within RIDE_MS, else 0. */
export function rideDelay(now: number, nextSlotAt: number | undefined, rideMs = RIDE_MS): number {
  if (nextSlotAt === undefined) return 0;
  const wait = nextSlotAt - now;
  return wait >= 0 && wait <= rideMs ? wait : 0;
}

/** How many recent real sizes fakes are drawn from (kept across restarts). */
export const BUCKET_MEMORY = 20;
/** Plaintext bucket of a sealed `message` field (base64 of bucket + 285 bytes of envelope); 0 if none. */
export function bucketOfMessage(b64: string): number {
  return BUCKETS.find((b) => sealedChars(b) === b64.length) ?? 0;
}

/**
 * Buckets fakes are drawn from: the buckets our own recent real packets used
 * (so fake sizes follow real ones), the smallest bucket while there are none.
 */
export class BucketMix {
  readonly #recent: number[] = [];
  constructor(private readonly max = BUCKET_MEMORY) {}
  add(bucket: number): void {
    if (!isBucket(bucket)) return;
    this.#recent.push(bucket);
    if (this.#recent.length > this.max) this.#recent.shift();
  }
  /** Starts over from saved sizes (oldest first). */
  replace(saved: readonly number[]): void {
    this.#recent.length = 0;
    for (const b of saved) this.add(b);
  }
  /** The sizes remembered, oldest first (what is saved). */
  get recent(): number[] {
    return [...this.#recent];
  }
  pick(u: number): number {
    if (!this.#recent.length) return 1024;
    return this.#recent[Math.min(this.#recent.length - 1, Math.floor(u * this.#recent.length))]!;
  }
}
