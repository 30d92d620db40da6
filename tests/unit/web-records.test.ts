import { describe, expect, it } from 'vitest';
import { settingValidators, validContact, validCounter, validMessage, validOutbox, validServer } from '../../web/lib/db/records.ts';

const FP = 'a'.repeat(64);
const UUID = '123e4567-e89b-42d3-a456-426614174000';
const contact = { id: FP, name: 'Ann', publicKey: 'K'.repeat(392), relays: ['https://r.example'], createdAt: 1, updatedAt: 1, unread: 0 };
const message = { contact: FP, uuid: UUID, dir: 'in', text: 'hi', time: 1, storedAt: 2, state: 'delivered' };
const outbox = { id: FP, contact: FP, uuid: UUID, role: 'message', packet: { recipient: 'r', message: 'm', signature: 's' }, createdAt: 1, attempts: 0, nextAttemptAt: 0 };
const server = { url: 'https://r.example', source: 'learned', failures: 0 };

describe('IndexedDB record validation', () => {
  it('accepts well-formed records', () => {
    expect(validContact(contact)).toBeTruthy();
    expect(validContact({ ...contact, picture: new Blob(['x']) })).toBeTruthy();
    expect(validMessage(message)).toBeTruthy();
    for (const outcome of ['missed', 'answered-elsewhere', 'declined-elsewhere']) expect(validMessage({ ...message, call: { outcome } })).toBeTruthy();
    expect(validOutbox(outbox)).toBeTruthy();
    expect(validServer(server)).toBeTruthy();
    expect(validServer({ ...server, id: FP, load: 0.3, publicKey: 'K', keyChanged: true })).toBeTruthy();
    expect(validCounter({ name: 'dropped', value: 3 })).toBeTruthy();
  });

  it.each([
    ['contact id not a fingerprint', validContact, { ...contact, id: 'x' }],
    ['contact picture not a blob', validContact, { ...contact, picture: 'data:…' }],
    ['contact name too long', validContact, { ...contact, name: 'x'.repeat(65) }],
    ['contact negative unread', validContact, { ...contact, unread: -1 }],
    ['contact relays not strings', validContact, { ...contact, relays: [1] }],
    ['message bad direction', validMessage, { ...message, dir: 'sideways' }],
    ['message bad state', validMessage, { ...message, state: 'lost' }],
    ['message bad uuid', validMessage, { ...message, uuid: 'nope' }],
    ['message NaN time', validMessage, { ...message, time: NaN }],
    ['message unknown call outcome', validMessage, { ...message, call: { outcome: 'teleported' } }],
    ['outbox packet missing', validOutbox, { ...outbox, packet: undefined }],
    ['outbox role', validOutbox, { ...outbox, role: 'other' }],
    ['server url scheme', validServer, { ...server, url: 'javascript:alert(1)' }],
    ['server source', validServer, { ...server, source: 'evil' }],
    ['server id', validServer, { ...server, id: 'XYZ' }],
    ['counter value', validCounter, { name: 'x', value: '3' }],
    ['null', validContact, null],
    ['array', validMessage, []],
  ] as const)('refuses: %s', (_label, fn, rec) => {
    expect((fn as (v: unknown) => unknown)(rec)).toBeUndefined();
  });

  it('validates settings per key', () => {
    expect(settingValidators.profile({ name: 'A', publicKey: 'K', fingerprint: FP })).toEqual({ name: 'A', publicKey: 'K', fingerprint: FP });
    expect(settingValidators.profile({ name: 'A', publicKey: 'K', fingerprint: 'x' })).toBeUndefined();
    expect(settingValidators.cursors({ [FP]: 'c1', bad: 'c2', [FP.replace(/a/g, 'b')]: 5 })).toEqual({ [FP]: 'c1' });
    expect(settingValidators.choice({ at: 5, tx: 'http://a', rx: 7 })).toEqual({ at: 5, tx: 'http://a' });
    expect(settingValidators.choice('nope')).toBeUndefined();
    expect(settingValidators.notify({ enabled: true, preview: false, extra: 1 })).toEqual({ enabled: true, preview: false });
    expect(settingValidators.notify({ enabled: 'yes', preview: false })).toBeUndefined();
    expect(settingValidators.notify({ enabled: true })).toBeUndefined();
    expect(settingValidators.coverBuckets([1024, 2048])).toEqual([1024, 2048]);
    for (const v of ['1024', [1024, '2048'], [1.5], Array(65).fill(1024)]) expect(settingValidators.coverBuckets(v)).toBeUndefined();
  });
});
