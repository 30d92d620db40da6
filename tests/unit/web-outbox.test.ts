import { describe, expect, it } from 'vitest';
import type { OutboxRecord } from '../../web/lib/db/records.ts';
import { afterFailure, due, expired, OUTBOX_GIVE_UP_MS, permanentFailure, retryDelay } from '../../web/lib/domain/outbox.ts';

const row = (id: string, createdAt: number, extra: Partial<OutboxRecord> = {}): OutboxRecord => ({
  id: id.repeat(64).slice(0, 64),
  contact: 'c'.repeat(64),
  uuid: '123e4567-e89b-42d3-a456-426614174000',
  role: 'message',
  packet: { recipient: 'r', message: 'm', signature: 's' },
  createdAt,
  attempts: 0,
  nextAttemptAt: 0,
  ...extra,
});

describe('outbox', () => {
  it('returns due rows oldest first, the message before its self-copy', () => {
    const rows = [row('b', 20), row('a', 10, { role: 'self' }), row('c', 10), row('d', 5, { nextAttemptAt: 1e12 })];
    expect(due(rows, 100).map((r) => r.id[0])).toEqual(['c', 'a', 'b']);
  });

  it('coming back online (force) retries rows still in back-off', () => {
    const rows = [row('d', 5, { nextAttemptAt: 1e12 })];
    expect(due(rows, 100)).toHaveLength(0);
    expect(due(rows, 100, true)).toHaveLength(1);
  });

  it('backs off after each failure, capped', () => {
    const r1 = afterFailure(row('a', 0), 1000, 'network: down');
    expect(r1).toMatchObject({ attempts: 1, nextAttemptAt: 1000 + retryDelay(1), lastError: 'network: down' });
    const r2 = afterFailure(r1, 2000, 'x'.repeat(1000));
    expect(r2.attempts).toBe(2);
    expect(r2.nextAttemptAt - 2000).toBe(2 * retryDelay(1));
    expect(r2.lastError).toHaveLength(200);
    expect(retryDelay(100)).toBe(5 * 60_000);
  });

  it('gives up only after the relays’ retention', () => {
    expect(expired(row('a', 0), OUTBOX_GIVE_UP_MS)).toBe(false);
    expect(expired(row('a', 0), OUTBOX_GIVE_UP_MS + 1)).toBe(true);
  });

  it('treats malformed-packet answers as permanent, others as retryable', () => {
    expect(permanentFailure(400)).toBe(true);
    expect(permanentFailure(413)).toBe(true);
    expect(permanentFailure(429)).toBe(false);
    expect(permanentFailure(503)).toBe(false);
  });
});
