import type { OutboxRecord } from '../db/records.ts';

/**
 * Outbox policy. Packets wait here while offline or while no relay accepts
 * them; retries back off so a dead network does not spin. Nothing is dropped
 * for age before the relays' retention (7 days) — after that a message could
 * not be delivered anyway, so it is marked failed.
 */
const RETRY_BASE_MS = 2_000;
const RETRY_MAX_MS = 5 * 60_000;
export const OUTBOX_GIVE_UP_MS = 7 * 24 * 3600_000;

export function retryDelay(attempts: number): number {
  return Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.max(0, Math.min(attempts - 1, 16)));
}

/** Rows to try now, oldest first; `force` (coming back online) ignores back-off. */
export function due(rows: OutboxRecord[], now: number, force = false): OutboxRecord[] {
  return rows
    .filter((r) => force || r.nextAttemptAt <= now)
    .sort((a, b) => a.createdAt - b.createdAt || (a.role === 'message' ? -1 : 1));
}

export function afterFailure(r: OutboxRecord, now: number, error: string): OutboxRecord {
  const attempts = r.attempts + 1;
  return { ...r, attempts, nextAttemptAt: now + retryDelay(attempts), lastError: error.slice(0, 200) };
}

export const expired = (r: OutboxRecord, now: number): boolean => now - r.createdAt > OUTBOX_GIVE_UP_MS;

/** A relay answer that means "retrying cannot help": the packet itself is bad. */
export function permanentFailure(status: number): boolean {
  return status === 400 || status === 413 || status === 422;
}
