import { describe, expect, it } from 'vitest';
import { callNotification, messageNotification, NOTIFY_OFF, notificationRoute, notificationWindow, isWindowRole } from '../../web/lib/domain/notify.ts';

const ID = 'ab'.repeat(32);
const bob = { id: ID, name: 'Bob' };
const on = { enabled: true, preview: false };

describe('background notifications', () => {
  it('say nothing while off or while the user is looking', () => {
    expect(messageNotification(NOTIFY_OFF, false, bob, 'hi')).toBeUndefined();
    expect(messageNotification(on, true, bob, 'hi')).toBeUndefined();
    expect(callNotification(NOTIFY_OFF, false, bob)).toBeUndefined();
    expect(callNotification(on, true, bob)).toBeUndefined();
  });

  it('name who wrote, and show the text only when asked', () => {
    expect(messageNotification(on, false, bob, 'the secret plan')).toEqual({ title: 'Bob', body: 'New message', tag: `msg:${ID}`, open: `#/chat/${ID}` });
    expect(messageNotification({ enabled: true, preview: true }, false, bob, '  the\n\nsecret   plan ')?.body).toBe('the secret plan');
    const long = messageNotification({ enabled: true, preview: true }, false, bob, 'x'.repeat(500))!.body;
    expect(long).toHaveLength(120);
    expect(long.endsWith('…')).toBe(true);
    expect(messageNotification({ enabled: true, preview: true }, false, bob, ' \n ')?.body).toBe('New message');
    // Someone not yet kept as a contact: their name is only their claim.
    expect(messageNotification(on, false, { ...bob, unknown: true }, 'hi')?.title).toBe('Bob (new contact)');
    expect(callNotification(on, false, bob)).toEqual({ title: 'Bob', body: 'Incoming voice call', tag: `call:${ID}`, open: `#/chat/${ID}` });
  });

  it('a click opens only a conversation route', () => {
    expect(notificationRoute({ type: 'open', open: `#/chat/${ID}` })).toBe(`#/chat/${ID}`);
    for (const v of [null, 'x', { type: 'open' }, { type: 'open', open: 'https://evil.example/' }, { type: 'open', open: `#/chat/${ID}/x` }, { type: 'go', open: `#/chat/${ID}` }])
      expect(notificationRoute(v)).toBeUndefined();
  });

  it('a click brings forward the window with the call, else the engine, else the focused one', () => {
    const [a, b, c] = [{ focused: false }, { focused: true }, { focused: false }];
    const idle = { engine: false, call: false };
    expect(notificationWindow([a, b, c], [idle, { engine: true, call: false }, { engine: false, call: true }])).toBe(c);
    expect(notificationWindow([a, b, c], [idle, idle, { engine: true, call: false }])).toBe(c);
    // No answer (a window still loading) counts as neither.
    expect(notificationWindow([a, b, c], [undefined, undefined, undefined])).toBe(b);
    expect(notificationWindow([a, c], [])).toBe(a);
    expect(notificationWindow([], [])).toBeUndefined();
  });

  it('a window\'s answer is checked before it counts', () => {
    expect(isWindowRole({ engine: true, call: false })).toBe(true);
    for (const v of [null, 'engine', { engine: 'yes', call: false }, { engine: true }]) expect(isWindowRole(v)).toBe(false);
  });
});
