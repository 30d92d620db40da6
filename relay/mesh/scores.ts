import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as P from '../../protocol/index.ts';
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';

/**
 * Peer scores and bans, keyed by relay id and kept in <data>/mesh-peers.json
 * so neither survives a restart of this relay nor a reconnect of the peer.
 *
 * A score starts at 0, drops with each penalty, rises with passed canaries
 * (never above MAX_SCORE) and drifts back towards 0 by RECOVERY_PER_MIN.
 * At BAN_THRESHOLD or below the peer is banned for banMs × 2^(bans so far),
 * capped at MAX_BAN_MS, and comes back on probation at PROBATION_SCORE.
 */

export const BAN_THRESHOLD = -100;
export const MAX_SCORE = 50;
export const PROBATION_SCORE = -50;
export const RECOVERY_PER_MIN = 1;
export const MAX_BAN_MS = 7 * 86_400_000;

/** Penalties and rewards (PROTOCOL.md §9.7). */
export const PENALTY = {
  bad_frame: 20,
  bad_packet: 10,
  bad_handshake: 25,
  rate: 1,
  canary_lost: 34,
} as const;
export const CANARY_REWARD = 10;

export type PenaltyReason = keyof typeof PENALTY;

interface Entry {
  score: number;
  bans: number;
  /** Epoch ms; 0 when not banned. */
  banned_until: number;
  /** Last time the score changed (for recovery). */
  at: number;
}

const FILE = 'mesh-peers.json';
const MAX_ENTRIES = 4096;

export class ScoreBook {
  private readonly entries = new Map<string, Entry>();
  private readonly file: string;
  private saveTimer: NodeJS.Timeout | undefined;

  constructor(
    dataDir: string,
    private readonly clock: Clock,
    private readonly banMs: number,
    private readonly log: Logger,
    /** Called once when a peer crosses the threshold. */
    private readonly onBan: (id: string, untilMs: number) => void,
  ) {
    this.file = join(dataDir, FILE);
    this.load();
  }

  private load(): void {
    if (!existsSync(this.file)) return;
    try {
      const o = JSON.parse(readFileSync(this.file, 'utf8')) as { version?: number; peers?: Record<string, Partial<Entry>> };
      for (const [id, e] of Object.entries(o.peers ?? {})) {
        if (!P.isHex64(id)) continue;
        const n = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
        this.entries.set(id, { score: n(e.score), bans: n(e.bans), banned_until: n(e.banned_until), at: n(e.at) || this.clock.now() });
      }
    } catch (err) {
      // A damaged file loses scores, never the relay: start clean and say so.
      this.log.error({ err, file: this.file }, 'could not read peer scores; starting with none');
    }
  }

  private scheduleSave(): void {
    if (this.saveTimer) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      this.save();
    }, 200);
    this.saveTimer.unref();
  }

  save(): void {
    if (this.saveTimer) {
      clearTimeout(this.saveTimer);
      this.saveTimer = undefined;
    }
    const peers: Record<string, Entry> = {};
    for (const [id, e] of this.entries) if (e.score !== 0 || e.bans > 0) peers[id] = e;
    const tmp = `${this.file}.${process.pid}.tmp`;
    try {
      writeFileSync(tmp, JSON.stringify({ version: 1, peers }), { mode: 0o600 });
      renameSync(tmp, this.file);
    } catch (err) {
      this.log.error({ err }, 'could not save peer scores');
    }
  }

  private entry(id: string): Entry {
    let e = this.entries.get(id);
    const now = this.clock.now();
    if (!e) {
      if (this.entries.size >= MAX_ENTRIES) this.evict();
      e = { score: 0, bans: 0, banned_until: 0, at: now };
      this.entries.set(id, e);
    } else if (e.score < 0) {
      // Recovery: a peer that behaves drifts back to neutral over time.
      const mins = (now - e.at) / 60_000;
      if (mins >= 1) {
        e.score = Math.min(0, e.score + Math.floor(mins) * RECOVERY_PER_MIN);
        e.at = now;
      }
    }
    return e;
  }

  /** Drops the least interesting entry (neutral, never banned) to keep the book bounded. */
  private evict(): void {
    for (const [id, e] of this.entries)
      if (e.bans === 0 && e.banned_until === 0) {
        this.entries.delete(id);
        return;
      }
    const first = this.entries.keys().next().value;
    if (first !== undefined) this.entries.delete(first);
  }

  score(id: string): number {
    return this.entries.has(id) ? this.entry(id).score : 0;
  }

  isBanned(id: string): boolean {
    const e = this.entries.get(id);
    return !!e && e.banned_until > this.clock.now();
  }

  bannedUntil(id: string): number {
    return this.entries.get(id)?.banned_until ?? 0;
  }

  /** Lowers a score; returns true when this pushed the peer into a ban. */
  penalise(id: string, reason: PenaltyReason, times = 1): boolean {
    const e = this.entry(id);
    if (e.banned_until > this.clock.now()) return false;
    e.score -= PENALTY[reason] * times;
    e.at = this.clock.now();
    this.scheduleSave();
    if (e.score > BAN_THRESHOLD) return false;
    e.bans += 1;
    const len = Math.min(MAX_BAN_MS, this.banMs * 2 ** (e.bans - 1));
    e.banned_until = this.clock.now() + len;
    e.score = PROBATION_SCORE;
    this.save();
    this.log.warn({ peer: id.slice(0, 16), reason, bans: e.bans, ban_s: Math.round(len / 1000) }, 'peer banned');
    this.onBan(id, e.banned_until);
    return true;
  }

  reward(id: string, points: number): void {
    const e = this.entry(id);
    e.score = Math.min(MAX_SCORE, e.score + points);
    e.at = this.clock.now();
    this.scheduleSave();
  }

  /** Everything worth showing: every scored or banned peer. */
  list(): { id: string; score: number; bans: number; banned_until: string | null }[] {
    const now = this.clock.now();
    return [...this.entries.entries()].map(([id, e]) => ({
      id,
      score: this.entry(id).score,
      bans: e.bans,
      banned_until: e.banned_until > now ? new Date(e.banned_until).toISOString() : null,
    }));
  }

  banned(): string[] {
    const now = this.clock.now();
    return [...this.entries.entries()].filter(([, e]) => e.banned_until > now).map(([id]) => id);
  }
}
