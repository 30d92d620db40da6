import adapter from '@sveltejs/adapter-static';
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

/** @type {import('@sveltejs/kit').Config} */
export default {
  preprocess: vitePreprocess(),
  kit: {
    adapter: adapter({ pages: 'build', assets: 'build', fallback: 'index.html', strict: true }),
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
    typescript: {
      // protocol/, relay/ and workers/ live outside web/ but are type-checked together.
      config(config) {
        config.include.push('../protocol/**/*.ts', '../relay/**/*.ts', '../workers/**/*.ts', '../tests/**/*.ts', '../*.config.ts', '../*.config.js');
      },
    },
  },
};
