import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { extname, join, posix, resolve, sep } from 'node:path';
import { gzipSync } from 'node:zlib';
import { LRUCache } from 'lru-cache';
import { RelayError } from '../errors.ts';
import type { Exchange } from '../http.ts';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
  '.map': 'application/json',
};
const COMPRESSIBLE = new Set(['.html', '.js', '.mjs', '.css', '.json', '.webmanifest', '.svg', '.txt', '.map']);

/**
 * Content-Security-Policy for the PWA. Scripts only from this origin plus the
 * hashes of the inline scripts in the page (SvelteKit's bootstrap, and any
 * hashes its own CSP meta tag lists), so the header never contradicts the
 * meta policy. connect-src is open to any http(s)/ws(s) origin because the
 * client talks to relays other than the one serving it.
 */
export function cspFor(html: string | undefined): string {
  const hashes = new Set<string>();
  if (html !== undefined) {
    for (const m of html.matchAll(/<script\b(?![^>]*\bsrc\s*=)[^>]*>([\s\S]*?)<\/script>/gi))
      if (m[1]!.length) hashes.add(`'sha256-${createHash('sha256').update(m[1]!).digest('base64')}'`);
    const meta = /<meta\s[^>]*http-equiv\s*=\s*["']content-security-policy["'][^>]*>/i.exec(html);
    const content = meta ? /content\s*=\s*"([^"]*)"|content\s*=\s*'([^']*)'/i.exec(meta[0]) : null;
    const policy = content ? (content[1] ?? content[2] ?? '') : '';
    const scriptSrc = policy.split(';').map((d) => d.trim()).find((d) => /^script-src\s/i.test(d));
    if (scriptSrc) for (const tok of scriptSrc.split(/\s+/).slice(1)) if (/^'(sha256|sha384|sha512)-[A-Za-z0-9+/=]+'$/.test(tok)) hashes.add(tok);
  }
  return [
    "default-src 'self'",
    `script-src 'self'${hashes.size ? ` ${[...hashes].join(' ')}` : ''}`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob:",
    "font-src 'self'",
    "connect-src 'self' http: https: ws: wss:",
    "worker-src 'self' blob:",
    "manifest-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "frame-ancestors 'none'",
    "form-action 'self'",
  ].join('; ');
}

interface Entry {
  body: Buffer;
  gz: Buffer | undefined;
  etag: string;
  type: string;
  cache: string;
  csp: string;
  mtimeMs: number;
  checkedAt: number;
}

/** Re-stat a cached file at most this often, so a rebuild shows up without a restart. */
const RECHECK_MS = 1000;

/**
 * Serves the static PWA build. Hashed assets under /_app/immutable/ are
 * cached for a year; everything else (index.html, service-worker.js, the
 * manifest, version.json) must be revalidated (ETag → 304). Unknown paths
 * without a file extension get index.html (SPA fallback).
 */
export class StaticSite {
  private readonly root: string;
  private readonly files = new LRUCache<string, Entry>({ maxSize: 64 * 1024 * 1024, sizeCalculation: (e) => e.body.length + (e.gz?.length ?? 0) + 1 });
  private defaultCsp = cspFor(undefined);

  constructor(root: string) {
    this.root = resolve(root);
  }

  /** Async: stats and reads files. The exchange has onAborted attached. */
  async serve(ex: Exchange, urlPath: string, head: boolean, acceptEncoding: string, ifNoneMatch: string): Promise<void> {
    let path: string;
    try {
      path = decodeURIComponent(urlPath);
    } catch {
      throw new RelayError('not_found', 'bad path');
    }
    if (path.includes('\0')) throw new RelayError('not_found', 'bad path');
    const rel = posix.normalize(path).replace(/^(\.\.(\/|$))+/, '');
    let entry = await this.lookup(rel.endsWith('/') ? `${rel}index.html` : rel);
    if (!entry && !extname(rel)) entry = (await this.lookup(`${rel}.html`)) ?? (await this.lookup(`${rel}/index.html`)) ?? (await this.lookup('/index.html'));
    if (!entry) {
      if (!(await isDir(this.root))) throw new RelayError('not_found', 'no PWA build here (run npm run build)');
      throw new RelayError('not_found', 'no such file');
    }
    const headers: [string, string][] = [
      ['Cache-Control', entry.cache],
      ['ETag', entry.etag],
      ['Content-Security-Policy', entry.csp],
      ['X-Content-Type-Options', 'nosniff'],
      ['Referrer-Policy', 'no-referrer'],
      ['Cross-Origin-Opener-Policy', 'same-origin'],
      ['Vary', 'Accept-Encoding'],
    ];
    if (ifNoneMatch && ifNoneMatch.split(',').some((t) => t.trim() === entry.etag)) {
      ex.send(304, '', '', headers);
      return;
    }
    const gz = entry.gz && /\bgzip\b/.test(acceptEncoding);
    if (gz) headers.push(['Content-Encoding', 'gzip']);
    ex.send(200, head ? '' : gz ? entry.gz! : entry.body, entry.type, headers);
  }

  private async lookup(rel: string): Promise<Entry | undefined> {
    const file = join(this.root, rel);
    if (file !== this.root && !file.startsWith(this.root + sep)) return undefined;
    const now = Date.now();
    const cached = this.files.get(file);
    if (cached && now - cached.checkedAt < RECHECK_MS) return cached;
    let st;
    try {
      st = await fs.stat(file);
    } catch {
      this.files.delete(file);
      return undefined;
    }
    if (!st.isFile()) return undefined;
    if (cached && cached.mtimeMs === st.mtimeMs && cached.body.length === st.size) {
      cached.checkedAt = now;
      return cached;
    }
    const body = await fs.readFile(file);
    const ext = extname(file).toLowerCase();
    const relPosix = rel.startsWith('/') ? rel : `/${rel}`;
    const immutable = relPosix.startsWith('/_app/immutable/');
    const entry: Entry = {
      body,
      gz: COMPRESSIBLE.has(ext) && body.length > 1024 ? gzipSync(body) : undefined,
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
      type: TYPES[ext] ?? 'application/octet-stream',
      cache: immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      csp: ext === '.html' ? cspFor(body.toString('utf8')) : this.defaultCsp,
      mtimeMs: st.mtimeMs,
      checkedAt: now,
    };
    if (relPosix === '/index.html') this.defaultCsp = entry.csp;
    this.files.set(file, entry);
    return entry;
  }
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await fs.stat(p)).isDirectory();
  } catch {
    return false;
  }
}
