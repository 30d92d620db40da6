import { describe, expect, it } from 'vitest';
import type { MessageRecord } from '../../web/lib/db/records.ts';
import { claimedName, dayLabel, laterState, mergeMessage, readReceipt, readSyncExtra, uuidV4 } from '../../web/lib/domain/messages.ts';

const m = (extra: Partial<MessageRecord> = {}): MessageRecord => ({
  contact: 'a'.repeat(64),
  uuid: '123e4567-e89b-42d3-a456-426614174000',
  dir: 'out',
  text: 'hi',
  time: 1,
  storedAt: 1,
  state: 'queued',
  ...extra,
});

describe('message dedupe and delivery state', () => {
  it('inserts a new message', () => {
    expect(mergeMessage(undefined, m())).toMatchObject({ inserted: true, changed: true });
  });

  it('a duplicate (same contact + uuid) changes nothing', () => {
    const r = mergeMessage(m({ state: 'delivered' }), m({ state: 'delivered', text: 'other' }));
    expect(r).toMatchObject({ inserted: false, changed: false });
    expect(r.record.text).toBe('hi');
  });

  it('state only moves forward: queued → sent → delivered → read', () => {
    expect(mergeMessage(m({ state: 'queued' }), m({ state: 'sent' })).record.state).toBe('sent');
    expect(mergeMessage(m({ state: 'delivered' }), m({ state: 'sent' })).changed).toBe(false);
    expect(mergeMessage(m({ state: 'sent' }), m({ state: 'read' })).record.state).toBe('read');
    expect(laterState('failed', 'sent')).toBe('sent');
    expect(laterState('read', 'failed')).toBe('read');
  });

  it('a message claiming the other direction cannot overwrite ours', () => {
    const r = mergeMessage(m({ dir: 'out', state: 'sent' }), m({ dir: 'in', state: 'delivered', text: 'spoof' }));
    expect(r.changed).toBe(false);
    expect(r.record).toMatchObject({ dir: 'out', text: 'hi' });
  });
});

describe('control message extras', () => {
  it('reads the self-copy target only when it looks like a key', () => {
    expect(readSyncExtra({ to: 'x'.repeat(392) })).toEqual({ to: 'x'.repeat(392) });
    expect(readSyncExtra({ to: 'short' })).toBeUndefined();
    expect(readSyncExtra(undefined)).toBeUndefined();
  });
  it('reads bounded, well-formed receipt uuids', () => {
    const u = '123e4567-e89b-42d3-a456-426614174000';
    expect(readReceipt({ read: [u, 'nope', 5] })).toEqual([u]);
    expect(readReceipt({ read: Array(500).fill(u) })).toHaveLength(100);
    expect(readReceipt({})).toEqual([]);
  });
  it('labels days', () => {
    const now = new Date(2024, 5, 15, 12).getTime();
    expect(dayLabel(now, now)).toBe('Today');
    expect(dayLabel(now - 86_400_000, now)).toBe('Yesterday');
  });
});

describe('uuidV4 (works without crypto.randomUUID)', () => {
  it('produces lowercase RFC 4122 v4 uuids', () => {
    const re = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    for (let i = 0; i < 200; i++) expect(uuidV4()).toMatch(re);
    expect(uuidV4(() => new Uint8Array(16).fill(255))).toBe('ffffffff-ffff-4fff-bfff-ffffffffffff');
    expect(uuidV4(() => new Uint8Array(16))).toBe('00000000-0000-4000-8000-000000000000');
  });
});

describe('claimedName', () => {
  it('takes a sender\'s name cleaned like an invite\'s, and nothing else', () => {
    expect(claimedName({ name: '  Bob  ' })).toBe('Bob');
    expect(claimedName({ name: 'Eve\u202egnp.exe\u0007' })).toBe('Evegnp.exe');
    expect(claimedName({ name: 'x'.repeat(80) })).toBe('x'.repeat(64));
    for (const extra of [undefined, {}, { name: '' }, { name: ' \u200b ' }, { name: 42 }, { name: ['Bob'] }, { name: 'y'.repeat(1001) }]) expect(claimedName(extra)).toBeUndefined();
  });
});
