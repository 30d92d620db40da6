import adapter from '@sveltejs/adapter-static';
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

/** @type {import('@sveltejs/kit').Config} */
export default {
  preprocess: vitePreprocess(),
  kit: {
    // One static page; routes live in the fragment (#/chat/…), so any static
    // host (or a relay) can serve the app and invite fragments never reach a server.
    adapter: adapter({ pages: 'build', assets: 'build', strict: true }),
    router: { type: 'hash' },
    files: {
      src: 'web',
      routes: 'web/routes',
      lib: 'web/lib',
      appTemplate: 'web/app.html',
      errorTemplate: 'web/error.html',
      hooks: { client: 'web/hooks.client', server: 'web/hooks.server', universal: 'web/hooks' },
      params: 'web/params',
      serviceWorker: 'web/service-worker',
      assets: 'static',
    },
    alias: { $protocol: 'protocol', $workers: 'workers' },
    // The bootstrap script is the only inline script; 'hash' mode puts its
    // SHA-256 into a <meta> CSP. Relays serving the build send the same policy
    // as a header (they read it from build/index.html).
    csp: {
      mode: 'hash',
      directives: {
        'default-src': ['self'],
        'script-src': ['self'],
        // Inline style attributes only (SvelteKit's route announcer sets one); scripts stay hash-only.
        'style-src': ['self', 'unsafe-inline'],
        'img-src': ['self', 'blob:', 'data:'],
        'font-src': ['self'],
        // Other relays are reached directly, over HTTP(S) and WebSocket.
        'connect-src': ['self', 'http:', 'https:', 'ws:', 'wss:'],
        'worker-src': ['self'],
        'manifest-src': ['self'],
        'media-src': ['self', 'blob:'],
        'object-src': ['none'],
        'base-uri': ['none'],
        'form-action': ['none'],
      },
    },
    version: { pollInterval: 0 },
    typescript: {
      // protocol/, relay/ and workers/ live outside web/ but are type-checked together.
      config(config) {
        config.include.push('../protocol/**/*.ts', '../relay/**/*.ts', '../workers/**/*.ts', '../tests/**/*.ts', '../*.config.ts', '../*.config.js');
      },
    },
  },
};
