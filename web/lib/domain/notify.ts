/**
 * System notifications while the app runs in the background (a hidden tab,
 * a minimised window). Not Web Push: that needs a push service that would
 * learn when we get mail, so nothing notifies while the app is closed.
 * Off until the user turns it on; the message text only when asked for,
 * because the operating system shows, keeps and may sync notifications.
 */
export interface NotifySetting {
  enabled: boolean;
  /** Show the message text (otherwise only who wrote). */
  preview: boolean;
}

export const NOTIFY_OFF: NotifySetting = { enabled: false, preview: false };

export interface NotificationText {
  title: string;
  body: string;
  /** One notification per conversation (a newer one replaces it), and per call. */
  tag: string;
  /** The app route a click opens. */
  open: string;
}

interface From {
  id: string;
  name: string;
  unknown?: boolean;
}

const PREVIEW_CHARS = 120;
const title = (from: From): string => (from.unknown ? `${from.name} (new contact)` : from.name);

/** What to show for a new incoming message, or undefined when nothing should be shown. */
export function messageNotification(s: NotifySetting, visible: boolean, from: From, text: string): NotificationText | undefined {
  if (!s.enabled || visible) return undefined;
  const flat = text.replace(/\s+/g, ' ').trim();
  const body = s.preview && flat ? (flat.length > PREVIEW_CHARS ? `${flat.slice(0, PREVIEW_CHARS - 1)}…` : flat) : 'New message';
  return { title: title(from), body, tag: `msg:${from.id}`, open: `#/chat/${from.id}` };
}

/** What to show while a call rings in the background, or undefined. */
export function callNotification(s: NotifySetting, visible: boolean, from: From): NotificationText | undefined {
  if (!s.enabled || visible) return undefined;
  return { title: title(from), body: 'Incoming voice call', tag: `call:${from.id}`, open: `#/chat/${from.id}` };
}

const ROUTE = /^#\/chat\/[0-9a-f]{64}$/;
/** A route from a notification click (posted by the service worker), checked before the app navigates to it. */
export const notificationRoute = (v: unknown): string | undefined =>
  typeof v === 'object' && v !== null && (v as { type?: unknown }).type === 'open' && typeof (v as { open?: unknown }).open === 'string' && ROUTE.test((v as { open: string }).open)
    ? (v as { open: string }).open
    : undefined;

/** What a window of the app answers when a notification is clicked (service worker ↔ page). */
export interface WindowRole {
  /** This tab runs the device's network engine. */
  engine: boolean;
  /** This tab has a call (ringing or connected). */
  call: boolean;
}
export const ROLE_QUESTION = 'role?';
export const isWindowRole = (v: unknown): v is WindowRole =>
  typeof v === 'object' && v !== null && typeof (v as WindowRole).engine === 'boolean' && typeof (v as WindowRole).call === 'boolean';

/**
 * Which open window a notification click brings forward: the one with a call
 * (it rings there), else the one running the network engine, else the
 * focused one, else the first. With two tabs open the focused or first window
 * may be one that cannot answer the ringing call. `roles[i]` is what
 * `windows[i]` answered (undefined: no answer in time).
 */
export function notificationWindow<W extends { focused: boolean }>(windows: readonly W[], roles: readonly (WindowRole | undefined)[]): W | undefined {
  return windows.find((_, i) => roles[i]?.call) ?? windows.find((_, i) => roles[i]?.engine) ?? windows.find((w) => w.focused) ?? windows[0];
}
