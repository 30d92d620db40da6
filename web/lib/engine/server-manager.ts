import type { AppStore } from '../db/store.ts';
import type { ServerRecord, ServerSource } from '../db/records.ts';
import { checkPin, chooseProxies, chooseRelays, normalise, recordFailure, recordSuccess, seedList, type Choice } from '../domain/servers.ts';
import { afterMiss } from '../domain/drop-watch.ts';
import { getServers, getStatus, type Forward } from '../net/relay-api.ts';
import type { RelayStatus } from '../net/wire.ts';
import { forwardVia, PROXY_FAILED } from '../net/proxy.ts';
import type { CryptoPort, Notify } from './ports.ts';

const MAX_SERVERS = 64;
const offline = (): boolean => typeof navigator !== 'undefined' && navigator.onLine === false;

/**
 * Keeps the known-relay list fresh: status (load, id, key pin) of each relay,
 * discovery through /v1/servers with every descriptor verified in the
 * worker, and the TX/RX choice.
 */
export class ServerManager {
  choice: Choice = { shared: false };
  warnings: string[] = [];
  /** Dual proxy wanted (setting, on unless the user turned it off). */
  proxyWanted = true;
  #busy: Promise<void> | undefined;

  constructor(
    private readonly store: AppStore,
    private readonly crypto: CryptoPort,
    private readonly notify: Notify,
    private readonly now: () => number = Date.now,
  ) {}

  async seed(origin: string | undefined, bundled: unknown): Promise<void> {
    const known = new Set((await this.store.servers()).map((s) => s.url));
    for (const { url, source } of seedList(origin, bundled)) if (!known.has(url)) await this.store.putServer({ url, source, failures: 0 });
    await this.reload();
  }

  /** The proxy setting and the TX/RX choice as saved (another tab may have changed them). */
  async reload(): Promise<void> {
    this.proxyWanted = (await this.store.getSetting('proxy')) ?? true;
    const saved = await this.store.getSetting('choice');
    // Proxies are re-derived at once, so a restart never talks to TX/RX directly before the first refresh.
    if (saved) this.choice = chooseProxies(await this.store.servers(), this.now(), { ...saved, shared: saved.tx !== undefined && saved.tx === saved.rx }, this.proxyWanted);
  }

  async add(url: string, source: ServerSource): Promise<boolean> {
    const u = normalise(url);
    if (!u) return false;
    const all = await this.store.servers();
    if (all.some((s) => s.url === u)) return true;
    if (all.length >= MAX_SERVERS) return false;
    await this.store.putServer({ url: u, source, failures: 0 });
    this.notify('servers');
    return true;
  }

  /** Checks every relay's status, learns new relays, re-chooses. Concurrent calls share one run. */
  refresh(discover = true): Promise<void> {
    this.#busy ??= this.#refresh(discover).finally(() => (this.#busy = undefined));
    return this.#busy;
  }

  async #refresh(discover: boolean): Promise<void> {
    const servers = await this.store.servers();
    await Promise.all(servers.map((s) => this.probe(s)));
    if (discover) await this.#discover();
    await this.rechoose();
  }

  /** One status check: load, id and the pinned key. */
  async probe(s: ServerRecord): Promise<ServerRecord> {
    const now = this.now();
    let next: ServerRecord;
    const via = this.#checkVia(s);
    try {
      const st = await getStatus(s.url, via);
      const { fingerprint } = await this.crypto.fingerprint(st.publicKey);
      if (fingerprint !== st.id) throw new Error('relay id is not the fingerprint of its key');
      const verdict = checkPin(s, st.publicKey);
      next = recordSuccess({ ...s, id: st.id }, now, st.load);
      if (st.version) next.version = st.version;
      if (verdict === 'new') next.publicKey = st.publicKey;
      if (verdict === 'changed') {
        next.keyChanged = true;
        this.#warn(`The key of relay ${s.url} changed since it was first seen. It is not used until you accept the new key in Settings.`);
      }
    } catch (e) {
      // Offline, or a failing proxy, is not this relay's fault: no back-off for that.
      next = offline() || (via && (e as { code?: unknown }).code === PROXY_FAILED) ? s : recordFailure(s, now);
    }
    await this.store.putServer(next);
    return next;
  }

  /**
   * With the dual proxy in use, status and server-list checks of every relay
   * other than the proxies go through the TX proxy too: a direct check would
   * show the TX and RX relays the client's address after all. Relays whose
   * key is not pinned yet (first contact) are checked directly.
   */
  /** A relay's status, through the TX proxy when the dual proxy is in use (see #checkVia). */
  async status(url: string): Promise<RelayStatus> {
    const rec = (await this.store.servers()).find((x) => x.url === url);
    return getStatus(url, rec ? this.#checkVia(rec) : undefined);
  }

  #checkVia(s: ServerRecord): Forward | undefined {
    const proxy = this.choice.txProxy;
    if (!proxy || !this.proxyWanted || s.url === proxy || s.url === this.choice.rxProxy) return undefined;
    if (!s.id || !s.publicKey || s.keyChanged) return undefined;
    return forwardVia(this.crypto, proxy, { id: s.id, publicKey: s.publicKey });
  }

  async #discover(): Promise<void> {
    const servers = await this.store.servers();
    const reachable = servers.filter((s) => s.failures === 0 && s.lastSeen !== undefined && !s.keyChanged).slice(0, 3);
    const byUrl = new Map(servers.map((s) => [s.url, s]));
    let learned = false;
    for (const s of reachable) {
      let raw: unknown[];
      try {
        raw = await getServers(s.url, this.#checkVia(s));
      } catch {
        continue;
      }
      const results = await this.crypto.verifyDescriptors(raw, this.now());
      for (const r of results) {
        if (!r.ok) continue;
        const d = r.descriptor;
        const known = byUrl.get(d.url);
        if (known) {
          if (checkPin(known, d.public_key) === 'changed' && !known.keyChanged) {
            const flagged = { ...known, keyChanged: true };
            await this.store.putServer(flagged);
            byUrl.set(d.url, flagged);
            this.#warn(`Relay ${d.url} is announced with a different key than the one pinned.`);
          }
          continue;
        }
        if (byUrl.size >= MAX_SERVERS) break;
        const rec: ServerRecord = { url: d.url, id: d.id, publicKey: d.public_key, source: 'learned', failures: 0 };
        await this.store.putServer(rec);
        byUrl.set(d.url, rec);
        learned = true;
        await this.probe(rec);
      }
    }
    if (learned) this.notify('servers');
  }

  async rechoose(): Promise<Choice> {
    const servers = await this.store.servers();
    const next = chooseProxies(servers, this.now(), chooseRelays(servers, this.now(), this.choice.rx), this.proxyWanted);
    const changed = next.tx !== this.choice.tx || next.rx !== this.choice.rx || next.txProxy !== this.choice.txProxy || next.rxProxy !== this.choice.rxProxy;
    this.choice = next;
    const saved: { tx?: string; rx?: string; at: number } = { at: this.now() };
    if (next.tx) saved.tx = next.tx;
    if (next.rx) saved.rx = next.rx;
    await this.store.setSetting('choice', saved);
    this.notify(changed ? 'route' : 'servers');
    return next;
  }

  async setProxy(on: boolean): Promise<void> {
    this.proxyWanted = on;
    await this.store.setSetting('proxy', on);
    await this.rechoose();
  }

  /**
   * How to reach the current TX or RX relay: a Forward through its proxy when
   * the dual proxy is in use, undefined for a direct call.
   */
  async via(role: 'tx' | 'rx'): Promise<Forward | undefined> {
    const proxy = role === 'tx' ? this.choice.txProxy : this.choice.rxProxy;
    const target = role === 'tx' ? this.choice.tx : this.choice.rx;
    if (!proxy || !target) return undefined;
    const s = (await this.store.servers()).find((x) => x.url === target);
    if (!s?.id || !s.publicKey) return undefined;
    return forwardVia(this.crypto, proxy, { id: s.id, publicKey: s.publicKey });
  }

  /** Drop detection: a self-copy sent through `tx` never came back. Enough misses in a row make it suspect. */
  async missed(tx: string): Promise<void> {
    let suspect = false;
    await this.store.updateServer(tx, (s) => {
      if (!s) return undefined;
      const m = afterMiss(s.misses, this.now());
      suspect = m.suspectUntil !== undefined;
      return { ...s, ...m };
    });
    if (suspect) this.#warn(`Relay ${tx} accepted messages that never arrived: it is avoided for sending for now.`);
    await this.rechoose();
  }

  /** A self-copy sent through `tx` came back: its miss streak ends. */
  async arrived(tx: string): Promise<void> {
    await this.store.updateServer(tx, (s) => (s && s.misses ? { ...s, misses: 0 } : undefined));
  }

  /** A call to `url` failed: count it and move traffic elsewhere. */
  async failed(url: string): Promise<void> {
    if (offline()) return;
    await this.store.updateServer(url, (s) => (s ? recordFailure(s, this.now()) : undefined));
    if (this.choice.rx === url) this.choice = { ...this.choice, rx: undefined };
    await this.rechoose();
  }

  async succeeded(url: string): Promise<void> {
    await this.store.updateServer(url, (s) => (s && s.failures > 0 ? recordSuccess(s, this.now()) : undefined));
  }

  /** The user accepted a relay's new key: pin it. */
  async acceptKey(url: string): Promise<void> {
    await this.store.updateServer(url, (s) => (s ? { ...s, publicKey: undefined, keyChanged: false } : undefined));
    const s = (await this.store.servers()).find((x) => x.url === url);
    if (s) await this.probe(s);
    await this.rechoose();
  }

  async remove(url: string): Promise<void> {
    await this.store.deleteServer(url);
    await this.rechoose();
  }

  async relayId(url: string): Promise<string | undefined> {
    const s = (await this.store.servers()).find((x) => x.url === url);
    if (s?.id) return s.id;
    if (s) return (await this.probe(s)).id;
    return undefined;
  }

  #warn(msg: string): void {
    if (!this.warnings.includes(msg)) this.warnings = [...this.warnings, msg].slice(-5);
  }
}
