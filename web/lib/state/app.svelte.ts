import { goto } from '$app/navigation';
import { resolve } from '$app/paths';
import { AppStore } from '../db/store.ts';
import type { ContactRecord, ServerRecord } from '../db/records.ts';
import { cryptoWorker, errorText, progressCallback, type Crypto, type KeygenStage } from '../crypto/client.ts';
import { cleanName, type Invite } from '../domain/invite.ts';
import { Messenger, type Connection } from '../engine/messenger.ts';
import { EngineLease } from '../engine/engine-lease.ts';
import type { ChangeKind } from '../engine/ports.ts';
import { ServerManager } from '../engine/server-manager.ts';
import type { Choice } from '../domain/servers.ts';
import { CoverTraffic } from '../engine/cover.ts';
import { coverLevel, type CoverLevel } from '../domain/cover.ts';
import { MAX_SYNC_PICTURE } from '../domain/sync.ts';
import { thumbnailDataUrl } from '../domain/images.ts';
import { CallState } from '../calls/call.svelte.ts';
import { loadIcePlan } from '../calls/ice-config.ts';
import { callNotification, messageNotification, NOTIFY_OFF, notificationRoute, type NotifySetting, ROLE_QUESTION, type WindowRole } from '../domain/notify.ts';
import { Notifier } from '../engine/notifier.ts';
import type { MessageRecord } from '../db/records.ts';

export interface Profile {
  name: string;
  publicKey: string;
  fingerprint: string;
  safetyCode: string;
}

interface InstallPrompt extends Event {
  prompt(): Promise<void>;
  userChoice: Promise<{ outcome: string }>;
}

const REFRESH_MS = 5 * 60_000;
const CONNECTIONS: readonly Connection[] = ['offline', 'connecting', 'live', 'polling'];

/** App-wide state: identity, contacts, relays and connection. One instance per tab. */
export class AppState {
  phase = $state<'loading' | 'welcome' | 'ready' | 'error'>('loading');
  fatal = $state('');
  profile = $state<Profile | undefined>();
  contacts = $state<ContactRecord[]>([]);
  servers = $state<ServerRecord[]>([]);
  choice = $state<Choice>({ shared: false });
  warnings = $state<string[]>([]);
  counters = $state<Record<string, number>>({});
  connection = $state<Connection>('connecting');
  online = $state(true);
  keygen = $state<{ stage: KeygenStage; startedAt: number } | undefined>();
  installPrompt = $state<InstallPrompt | undefined>();
  /** Bumped on every change to a conversation, so open chats reload. */
  messageVersion = $state<Record<string, number>>({});
  engine = $state('');
  /** Cover traffic level and what it sent this session (settings shows both). */
  cover = $state<CoverLevel>(coverLevel(undefined));
  coverSent = $state({ post: 0, get: 0 });
  /** The sizes fake POSTs are drawn from (learned from real ones), for the cost Settings shows. */
  coverBuckets = $state<number[]>([]);
  /** Dual proxy wanted (the route shows whether it is in use). */
  proxyWanted = $state(true);
  /** Whether this tab runs the device's network engine (EngineLease); other tabs show what it reports. */
  engineHere = $state(false);

  unreadTotal = $derived(this.contacts.reduce((n, c) => n + c.unread, 0));

  readonly store = new AppStore();
  // Routes opened from outside the page go through the router: a bare
  // `location.hash =` bypasses its history bookkeeping (set that way from a
  // test, it sometimes reloaded the whole page instead of navigating).
  readonly notifier = new Notifier(this.store, (route) => this.#openRoute(route));
  /** System notifications in the background (Settings). */
  notify = $state<NotifySetting>(NOTIFY_OFF);
  /** The voice call of this tab (web/lib/calls). */
  readonly calls: CallState = new CallState({
    send: (c, content) => this.messenger.sendCall(c, content),
    record: (entry) => this.#recordCall(entry),
    tellOtherDevices: (callId, answered) => this.messenger.sendSync({ type: 'call', call_id: callId, answered }),
    ringing: (contact, on) => {
      if (on) void this.notifier.load().then((s) => this.notifier.show(callNotification(s, Notifier.looking(), contact), false));
      else void this.notifier.close(`call:${contact.id}`);
    },
    icePlan: async () => {
      const { tx, rx } = this.choice;
      const hide = (await this.store.getSetting('calls'))?.hideAddress ?? false;
      return loadIcePlan([rx, tx].filter((u): u is string => !!u), hide, Date.now(), (u) => this.serverManager.status(u));
    },
  });
  #crypto: Crypto | undefined;
  #servers: ServerManager | undefined;
  #messenger: Messenger | undefined;
  #cover: CoverTraffic | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #started = false;
  #channel: BroadcastChannel | undefined;
  readonly #lease = new EngineLease(typeof navigator === 'undefined' ? undefined : navigator.locks, (held) => void this.#leading(held));

  get crypto(): Crypto {
    this.#crypto ??= cryptoWorker();
    return this.#crypto;
  }
  get messenger(): Messenger {
    if (!this.#messenger) throw new Error('not ready');
    return this.#messenger;
  }
  get serverManager(): ServerManager {
    if (!this.#servers) throw new Error('not ready');
    return this.#servers;
  }

  async init(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    this.online = navigator.onLine;
    addEventListener('online', () => {
      this.online = true;
      void this.#messenger?.flush(true);
      void this.#messenger?.reconnect(true);
    });
    addEventListener('offline', () => (this.online = false));
    addEventListener('beforeinstallprompt', (e) => {
      e.preventDefault();
      this.installPrompt = e as InstallPrompt;
    });
    addEventListener('appinstalled', () => (this.installPrompt = undefined));
    try {
      // Other tabs of the app share the database; tell them what changed so their views stay current.
      const channel = (this.#channel = typeof BroadcastChannel === 'undefined' ? undefined : new BroadcastChannel('meshchat-changes'));
      channel?.addEventListener('message', (e: MessageEvent) => {
        const d = e.data as { kind?: unknown; contact?: unknown; state?: unknown };
        // The engine's tab reports its connection; the others show it (and ask when they start).
        if (d?.kind === 'connection') {
          if (!this.#lease.held && CONNECTIONS.includes(d.state as Connection)) this.connection = d.state as Connection;
          return;
        }
        if (d?.kind === 'connection?') return this.#tellConnection();
        if (d?.kind === 'settings') return void this.#settingsChanged();
        if (d?.kind === 'logout') return this.#halt();
        if (d?.kind === 'logged-out') {
          location.hash = '#/';
          return location.reload();
        }
        const kinds: ChangeKind[] = ['contacts', 'messages', 'servers', 'counters', 'outbox'];
        if (typeof d?.kind === 'string' && kinds.includes(d.kind as ChangeKind))
          void this.#onChange(d.kind as ChangeKind, typeof d.contact === 'string' ? d.contact : undefined);
      });
      const notify = (k: ChangeKind, c?: string) => {
        void this.#onChange(k, c);
        if (k === 'connection') this.#tellConnection();
        // Other tabs re-read the saved choice (ServerManager.reload) on 'servers'.
        else channel?.postMessage({ kind: k === 'route' ? 'servers' : k, contact: c });
      };
      this.#servers = new ServerManager(this.store, this.crypto, notify);
      this.#messenger = new Messenger(this.store, this.crypto, this.#servers, notify);
      this.#cover = this.#messenger.cover = new CoverTraffic(this.store, this.crypto, this.#servers);
      const messenger = this.#messenger;
      this.#cover.pollWait = () => messenger.pollWait();
      this.#cover.onSent = () => (this.coverSent = { ...this.#cover!.sent });
      this.#messenger.onCall = (contact, content, sentAt) => void this.calls.receive(contact, content, sentAt);
      this.#messenger.onCallElsewhere = (callId, answered) => this.calls.elsewhere(callId, answered);
      // The setting is read again each time: another tab may have changed it.
      this.#messenger.onIncoming = (contact, text) =>
        void this.notifier.load().then((s) => this.notifier.show(messageNotification(s, Notifier.looking(), contact, text)));
      this.notify = await this.notifier.load();
      // A notification clicked: the service worker asks which window has the call or
      // the engine, focuses that one and names the conversation to open.
      navigator.serviceWorker?.addEventListener('message', (e: MessageEvent) => {
        if ((e.data as { type?: unknown } | null)?.type === ROLE_QUESTION) e.ports[0]?.postMessage({ engine: this.engineHere, call: this.calls.busy } satisfies WindowRole);
        const route = notificationRoute(e.data);
        if (route) this.#openRoute(route);
      });
      this.engine = await this.crypto.engine();
      const [id, profile] = await Promise.all([this.crypto.identity(), this.store.getSetting('profile')]);
      await this.#servers.seed(this.#originIfRelay(), await this.#bundledRelays());
      await this.#reloadServers();
      if (id && profile && profile.publicKey === id.publicKey) {
        this.profile = { ...profile, safetyCode: id.safetyCode };
        await this.#enter();
      } else this.phase = 'welcome';
    } catch (e) {
      this.fatal = errorText(e);
      this.phase = 'error';
    }
  }

  // ------------------------------------------------------------- identity

  async createIdentity(name: string): Promise<void> {
    this.keygen = { stage: 'generating', startedAt: performance.now() };
    try {
      const id = await this.crypto.generate(progressCallback((stage) => (this.keygen = { stage, startedAt: this.keygen?.startedAt ?? 0 })));
      await this.#adopt(name, id);
    } finally {
      this.keygen = undefined;
    }
  }

  async importIdentity(kind: 'pem' | 'backup', text: string, passphrase: string, name: string): Promise<void> {
    const id = kind === 'pem' ? await this.crypto.importPem(text) : await this.crypto.importBackup(text, passphrase);
    await this.#adopt(name || id.name || 'Me', id);
  }

  async #adopt(name: string, id: { publicKey: string; fingerprint: string; safetyCode: string }): Promise<void> {
    const profile = { name: cleanName(name) || 'Me', publicKey: id.publicKey, fingerprint: id.fingerprint };
    await this.store.setSetting('profile', profile);
    this.profile = { ...profile, safetyCode: id.safetyCode };
    await this.#enter();
  }

  async rename(name: string): Promise<void> {
    if (!this.profile) return;
    const n = cleanName(name);
    if (!n) return;
    const { safetyCode: _s, ...p } = this.profile;
    await this.store.setSetting('profile', { ...p, name: n });
    this.profile = { ...this.profile, name: n };
    this.#messenger?.rename(n);
  }

  /** Turns background notifications on or off (asking the browser first); false when the browser refuses. */
  async setNotify(s: NotifySetting): Promise<boolean> {
    if (s.enabled && (await Notifier.ask()) !== 'granted') return false;
    await this.notifier.save(s);
    this.notify = s;
    return true;
  }

  exportBackup(passphrase: string): Promise<string> {
    return this.crypto.exportBackup(passphrase, this.profile?.name);
  }

  /** Forgets the identity and every local record on this device. */
  async logout(): Promise<void> {
    // Every tab of the app stops first (none may write to what is being erased), then starts over.
    this.#channel?.postMessage({ kind: 'logout' });
    this.#halt();
    await this.crypto.forget();
    await this.store.clearAll();
    this.#channel?.postMessage({ kind: 'logged-out' });
    this.profile = undefined;
    this.contacts = [];
    this.phase = 'welcome';
    location.hash = '#/';
    location.reload();
  }

  /** Stops the network engine in this tab for good (logout). */
  #halt(): void {
    this.#lease.release();
    this.#messenger?.stop();
    this.#cover?.stop();
    clearInterval(this.#timer);
  }

  async #enter(): Promise<void> {
    this.phase = 'ready';
    await Promise.all([this.#reloadContacts(), this.#reloadCounters()]);
    const p = this.profile!;
    this.#messenger!.identify({ publicKey: p.publicKey, fingerprint: p.fingerprint, name: p.name });
    this.cover = coverLevel(await this.store.getSetting('cover'));
    this.proxyWanted = this.#servers!.proxyWanted;
    // Cover traffic only while the app is visible: battery and data stay reasonable.
    // The tab the user turns to runs the engine (EngineLease says why).
    const vis = () => {
      const shown = document.visibilityState !== 'hidden';
      this.#cover!.setVisible(shown);
      if (shown) void this.#lease.take();
    };
    document.addEventListener('visibilitychange', vis);
    addEventListener('focus', () => void this.#lease.take());
    // A tab opened in the background waits in line; one in front takes the engine (vis).
    if (document.visibilityState === 'hidden') this.#lease.join();
    vis();
    if (!this.#lease.held) this.#channel?.postMessage({ kind: 'connection?' });
    // A call keeps the engine in its tab; starting one from another tab takes the engine there first.
    $effect.root(() => {
      $effect(() => {
        const busy = this.calls.busy;
        this.#lease.pinForCall(busy);
        if (busy) void this.#lease.take(true);
      });
    });
  }

  /** This tab starts or stops running the network engine (EngineLease). */
  async #leading(held: boolean): Promise<void> {
    this.engineHere = held;
    const messenger = this.#messenger!;
    const cover = this.#cover!;
    clearInterval(this.#timer);
    if (!held) {
      cover.stop();
      messenger.stop();
      this.connection = 'connecting';
      this.#channel?.postMessage({ kind: 'connection?' });
      return;
    }
    // Another tab may have changed the route or the settings while this one was not running.
    await this.#servers!.reload();
    if (!this.#lease.held) return;
    const p = this.profile!;
    messenger.start({ publicKey: p.publicKey, fingerprint: p.fingerprint, name: p.name });
    await cover.start();
    this.cover = cover.level;
    this.proxyWanted = this.#servers!.proxyWanted;
    void this.#servers!.refresh().then(() => this.#reloadServers());
    this.#timer = setInterval(() => {
      void this.#servers!.refresh().then(() => this.#messenger?.reconnect());
    }, REFRESH_MS);
  }

  /** The engine's tab tells the others its connection. */
  #tellConnection(): void {
    if (this.#lease.held && this.#messenger) this.#channel?.postMessage({ kind: 'connection', state: this.#messenger.connection });
  }

  // ------------------------------------------------------------- contacts

  async addContact(inv: Invite, name: string, picture?: Blob): Promise<ContactRecord> {
    const { fingerprint } = await this.crypto.fingerprint(inv.publicKey);
    if (fingerprint === this.profile?.fingerprint) throw new Error('That is your own invite.');
    const now = Date.now();
    const existing = await this.store.contact(fingerprint);
    const c: ContactRecord = existing
      ? { ...existing, name: cleanName(name) || existing.name, unknown: false, updatedAt: now, relays: inv.relays.length ? inv.relays : existing.relays }
      : { id: fingerprint, name: cleanName(name) || 'Contact', publicKey: inv.publicKey, relays: inv.relays, createdAt: now, updatedAt: now, unread: 0 };
    delete c.unknown;
    if (picture) c.picture = picture;
    await this.store.putContact(c);
    void this.#syncContact(c.id);
    for (const r of inv.relays) await this.#servers?.add(r, 'invite');
    await this.#reloadContacts();
    this.#channel?.postMessage({ kind: 'contacts' });
    void this.#servers?.refresh(false).then(() => this.#reloadServers());
    return c;
  }

  async updateContact(id: string, patch: { name?: string; picture?: Blob | null }): Promise<void> {
    await this.store.updateContact(id, (c) => {
      const next = { ...c, updatedAt: Date.now() };
      if (patch.name !== undefined) next.name = cleanName(patch.name) || c.name;
      if (patch.picture === null) delete next.picture;
      else if (patch.picture) next.picture = patch.picture;
      delete next.unknown;
      return next;
    });
    void this.#syncContact(id);
    await this.#reloadContacts();
    this.#channel?.postMessage({ kind: 'contacts' });
  }

  /** Opens a conversation route from a notification (`#/chat/<id>`: made by domain/notify.ts, or checked by notificationRoute when it came from the service worker). */
  #openRoute(route: string): void {
    void goto(resolve('/chat/[id]', { id: route.slice('#/chat/'.length) }));
  }

  /** Tells our other devices about a contact change (sealed self-addressed sync, domain/sync.ts). */
  async #syncContact(id: string, deleted = false): Promise<void> {
    const c = await this.store.contact(id);
    if (!c || c.unknown || !this.#messenger) return;
    const picture = !deleted && c.picture ? await thumbnailDataUrl(c.picture, MAX_SYNC_PICTURE) : undefined;
    const op = { type: 'contact' as const, key: c.publicKey, name: c.name, at: deleted ? Date.now() : c.updatedAt };
    await this.#messenger.sendSync(deleted ? { ...op, deleted: true } : picture ? { ...op, picture } : op).catch((e) => console.warn('meshchat: sync failed', e));
  }

  /** We read a conversation: our other devices clear its unread count too. */
  async syncRead(c: ContactRecord): Promise<void> {
    if (c.unknown || c.lastMessageAt === undefined) return;
    await this.#messenger?.sendSync({ type: 'read', key: c.publicKey, upTo: c.lastMessageAt }).catch(() => {});
  }

  /** Reads the learned fake sizes; whichever tab runs the engine saved them last. */
  async loadCoverBuckets(): Promise<void> {
    this.coverBuckets = (await this.store.getSetting('coverBuckets')) ?? [];
  }

  async setCover(id: CoverLevel['id']): Promise<void> {
    await this.#cover?.setLevel(id);
    if (this.#cover) this.cover = this.#cover.level;
    this.#channel?.postMessage({ kind: 'settings' });
  }

  async setProxy(on: boolean): Promise<void> {
    await this.serverManager.setProxy(on);
    this.proxyWanted = on;
    await this.#reloadServers();
    this.#channel?.postMessage({ kind: 'settings' });
  }

  /** Another tab changed cover traffic or the dual proxy: the engine, wherever it runs, follows. */
  async #settingsChanged(): Promise<void> {
    const cover = this.#cover;
    if (!cover || !this.#servers) return;
    if (this.#lease.held) await cover.start();
    else cover.level = coverLevel(await this.store.getSetting('cover'));
    this.cover = cover.level;
    await this.#servers.reload();
    this.proxyWanted = this.#servers.proxyWanted;
    await this.#reloadServers();
    if (this.#lease.held) void this.#messenger?.reconnect();
  }

  async deleteContact(id: string): Promise<void> {
    await this.#syncContact(id, true);
    await this.store.deleteContact(id);
    await this.#reloadContacts();
    this.#channel?.postMessage({ kind: 'contacts' });
  }

  contact(id: string): ContactRecord | undefined {
    return this.contacts.find((c) => c.id === id);
  }

  // ------------------------------------------------------------- servers

  async addServer(url: string): Promise<boolean> {
    const ok = await this.serverManager.add(url, 'user');
    await this.serverManager.refresh(false);
    await this.#reloadServers();
    return ok;
  }
  async refreshServers(): Promise<void> {
    await this.serverManager.refresh();
    await this.#reloadServers();
    void this.#messenger?.reconnect();
  }
  async acceptServerKey(url: string): Promise<void> {
    await this.serverManager.acceptKey(url);
    await this.#reloadServers();
  }
  async removeServer(url: string): Promise<void> {
    await this.serverManager.remove(url);
    await this.#reloadServers();
  }

  async install(): Promise<void> {
    const p = this.installPrompt;
    if (!p) return;
    await p.prompt();
    await p.userChoice;
    this.installPrompt = undefined;
  }

  // ------------------------------------------------------------- plumbing

  async #onChange(kind: ChangeKind, contact?: string): Promise<void> {
    if (kind === 'messages' || kind === 'contacts') await this.#reloadContacts();
    if (kind === 'messages' && contact) this.messageVersion = { ...this.messageVersion, [contact]: (this.messageVersion[contact] ?? 0) + 1 };
    // Not running the engine: the route is the one the engine's tab saved.
    if (kind === 'servers' && !this.#lease.held) await this.#servers?.reload();
    if (kind === 'servers' || kind === 'connection' || kind === 'route') await this.#reloadServers();
    // A new TX/RX choice: move the subscription (and retry the outbox) right away.
    if (kind === 'route' && this.phase === 'ready') {
      void this.#messenger?.reconnect();
      void this.#messenger?.flush();
    }
    if (kind === 'counters') await this.#reloadCounters();
    if (kind === 'outbox' && this.#lease.held) void this.#messenger?.flush();
  }

  /** A finished call becomes an entry in its conversation (and other tabs hear of it). */
  async #recordCall(entry: MessageRecord): Promise<void> {
    await this.store.upsertMessage(entry);
    await this.#onChange('messages', entry.contact);
    this.#channel?.postMessage({ kind: 'messages', contact: entry.contact });
  }

  async #reloadContacts(): Promise<void> {
    const list = await this.store.contacts();
    list.sort((a, b) => (b.lastMessageAt ?? b.createdAt) - (a.lastMessageAt ?? a.createdAt));
    this.contacts = list;
  }
  async #reloadServers(): Promise<void> {
    this.servers = (await this.store.servers()).sort((a, b) => a.url.localeCompare(b.url));
    if (this.#servers) {
      this.choice = this.#servers.choice;
      this.warnings = this.#servers.warnings;
    }
    if (this.#messenger && this.#lease.held) this.connection = this.#messenger.connection;
    if (this.#cover) this.coverSent = { ...this.#cover.sent };
  }
  async #reloadCounters(): Promise<void> {
    this.counters = await this.store.counters();
  }

  /** The page's own origin is a relay when the relay served the app (the usual deployment). */
  #originIfRelay(): string | undefined {
    return location.protocol === 'http:' || location.protocol === 'https:' ? location.origin : undefined;
  }

  async #bundledRelays(): Promise<unknown> {
    try {
      // Relative to the page, so the app also works when hosted under a sub-path.
      const res = await fetch('./relays.json', { cache: 'no-cache' });
      return res.ok ? await res.json() : [];
    } catch {
      return [];
    }
  }
}

export const app = new AppState();
