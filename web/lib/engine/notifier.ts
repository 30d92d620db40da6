import type { AppStore } from '../db/store.ts';
import { NOTIFY_OFF, type NotificationText, type NotifySetting } from '../domain/notify.ts';

/**
 * Shows and closes system notifications (domain/notify.ts decides what).
 * Through the service worker when there is one, so a click can focus the
 * app and open the conversation even from a minimised window.
 */
export class Notifier {
  constructor(
    private readonly store: AppStore,
    /** Opens an app route (the router's, not `location.hash`: see AppState). */
    private readonly open: (route: string) => void,
  ) {}

  /** Read from the store each time it is needed: another tab may have changed it. */
  async load(): Promise<NotifySetting> {
    return (await this.store.getSetting('notify')) ?? NOTIFY_OFF;
  }

  save(s: NotifySetting): Promise<void> {
    return this.store.setSetting('notify', s);
  }

  /** The browser's permission: 'unsupported' where there is no Notification API. */
  static permission(): NotificationPermission | 'unsupported' {
    return typeof Notification === 'undefined' ? 'unsupported' : Notification.permission;
  }

  static async ask(): Promise<NotificationPermission | 'unsupported'> {
    if (typeof Notification === 'undefined') return 'unsupported';
    return Notification.permission === 'default' ? Notification.requestPermission() : Notification.permission;
  }

  /** Whether the user is looking at the app now (a visible, focused window): then nothing is shown. */
  static looking(): boolean {
    return document.visibilityState === 'visible' && document.hasFocus();
  }

  async show(n: NotificationText | undefined, renotify = true): Promise<void> {
    if (!n || Notifier.permission() !== 'granted') return;
    // renotify: a newer message in the same conversation alerts again (NotificationOptions in lib.dom lacks it).
    const options = { body: n.body, tag: n.tag, renotify, icon: 'icon-192.png', data: { type: 'open', open: n.open } } as NotificationOptions;
    try {
      const reg = await this.#registration();
      if (reg) return await reg.showNotification(n.title, options);
      const shown = new Notification(n.title, options);
      shown.onclick = () => {
        focus();
        this.open(n.open);
        shown.close();
      };
    } catch (e) {
      console.warn('meshchat: notification not shown', e);
    }
  }

  async close(tag: string): Promise<void> {
    const reg = await this.#registration();
    for (const n of (await reg?.getNotifications({ tag }).catch(() => [])) ?? []) n.close();
  }

  async #registration(): Promise<ServiceWorkerRegistration | undefined> {
    if (typeof navigator === 'undefined' || !navigator.serviceWorker) return undefined;
    return navigator.serviceWorker.getRegistration().catch(() => undefined);
  }
}
