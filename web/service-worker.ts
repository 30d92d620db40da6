/// <reference types="@sveltejs/kit" />
/// <reference no-default-lib="true"/>
/// <reference lib="esnext" />
/// <reference lib="webworker" />
import { build, files, version } from '$service-worker';
import { isWindowRole, notificationRoute, notificationWindow, ROLE_QUESTION, type WindowRole } from '$lib/domain/notify.ts';

/**
 * App-shell cache: every built asset and static file is cached at install,
 * so the app (and every conversation stored in IndexedDB) opens offline.
 * Relay API calls are never cached: they go to the network, always.
 */
const sw = self as unknown as ServiceWorkerGlobalScope;
const CACHE = `meshchat-shell-${version}`;
const SHELL = ['./', ...build, ...files];

sw.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      await cache.addAll(SHELL);
      await sw.skipWaiting();
    })(),
  );
});

sw.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const key of await caches.keys()) if (key !== CACHE) await caches.delete(key);
      await sw.clients.claim();
    })(),
  );
});

sw.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== sw.location.origin) return;
  if (url.pathname.startsWith('/v1/') || url.pathname === '/healthz' || url.pathname === '/metrics') return;
  const scope = new URL(sw.registration.scope);
  const isShell = req.mode === 'navigate' || url.pathname === scope.pathname || url.pathname === `${scope.pathname}index.html`;
  event.respondWith(
    (async () => {
      const cache = await caches.open(CACHE);
      if (isShell) {
        // Network first for the page so updates arrive; the cached shell when offline.
        try {
          const res = await fetch(req);
          if (res.ok) await cache.put(scope.pathname, res.clone());
          return res;
        } catch {
          const hit = (await cache.match(scope.pathname)) ?? (await cache.match('./'));
          if (hit) return hit;
          throw new Error('offline and no cached shell');
        }
      }
      const hit = await cache.match(req);
      if (hit) return hit;
      return fetch(req);
    })(),
  );
});

/**
 * Asks a window whether it runs the engine or has a call. Asked, not read from
 * `navigator.locks.query()`: Chromium's lock `clientId` is not the Clients
 * API's id. A window that does not answer quickly counts as neither; half a
 * second is well inside the 10 s Chromium allows between a click and focus().
 */
const roleOf = (w: WindowClient): Promise<WindowRole | undefined> =>
  new Promise((resolve) => {
    const channel = new MessageChannel();
    const timer = setTimeout(() => resolve(undefined), 500);
    channel.port1.onmessage = (e) => {
      clearTimeout(timer);
      resolve(isWindowRole(e.data) ? e.data : undefined);
    };
    w.postMessage({ type: ROLE_QUESTION }, [channel.port2]);
  });

// A notification clicked (web/lib/engine/notifier.ts): focus an open window of
// the app (the one with the call or the engine, see notificationWindow) and
// tell it which conversation to open, or open a new one there.
sw.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const open = notificationRoute(event.notification.data) ?? '#/';
  event.waitUntil(
    (async () => {
      const windows = await sw.clients.matchAll({ type: 'window', includeUncontrolled: true });
      const win = notificationWindow(windows, await Promise.all(windows.map(roleOf)));
      if (win) {
        win.postMessage({ type: 'open', open });
        await win.focus();
      } else await sw.clients.openWindow(`${sw.registration.scope}${open}`);
    })(),
  );
});
