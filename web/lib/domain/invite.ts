import { fromBase64, fromBase64Url, toBase64, toBase64Url, utf8, fromUtf8 } from '$protocol/bytes.ts';
import { parsePublicKey } from '$protocol/keys.ts';
import { relayUrl } from '$protocol/fields.ts';

/**
 * Invite links: `<app>/#/invite?k=<key>&n=<name>&r=<relays>`. Everything
 * sits in the fragment, which browsers never send to a server. Each value is
 * base64url so it survives any percent-decoding on the way (SvelteKit's hash
 * router decodes the fragment once).
 *   k = base64url of the DER SPKI (the public key)
 *   n = base64url of the UTF-8 suggested name (optional, ≤ 64 chars)
 *   r = base64url of up to 3 relay base URLs joined by "\n" (optional)
 */
export interface Invite {
  publicKey: string;
  name: string;
  relays: string[];
}

export const MAX_INVITE_NAME = 64;
export const MAX_INVITE_RELAYS = 3;
const MAX_FRAGMENT = 4096;

export type InviteResult = { ok: true; invite: Invite } | { ok: false; error: string };

export function buildInvite(appBase: string, inv: Invite): string {
  const base = appBase.replace(/[#?].*$/, '').replace(/\/?$/, '/');
  const q = new URLSearchParams();
  q.set('k', toBase64Url(fromBase64(inv.publicKey)));
  const name = cleanName(inv.name);
  if (name) q.set('n', toBase64Url(utf8(name)));
  const relays = inv.relays.slice(0, MAX_INVITE_RELAYS);
  if (relays.length) q.set('r', toBase64Url(utf8(relays.join('\n'))));
  return `${base}#/invite?${q.toString()}`;
}

/** Collapses whitespace and strips control characters from a display name. */
export function cleanName(name: string): string {
  // eslint-disable-next-line no-control-regex
  return name.replace(/\s/g, ' ').replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/g, '').replace(/\s+/g, ' ').trim().slice(0, MAX_INVITE_NAME);
}

/** Accepts a full invite URL, just its fragment, or the `k=…&n=…` query. */
export function parseInvite(input: string): InviteResult {
  const text = input.trim();
  if (text.length > MAX_FRAGMENT) return { ok: false, error: 'The link is too long to be an invite.' };
  const hashAt = text.indexOf('#');
  let query = hashAt >= 0 ? text.slice(hashAt + 1) : text;
  const qAt = query.indexOf('?');
  if (qAt >= 0) query = query.slice(qAt + 1);
  const params = new URLSearchParams(query);
  const k = params.get('k');
  if (!k) return { ok: false, error: 'This is not an invite link (no key in it).' };
  let publicKey: string;
  try {
    publicKey = toBase64(fromBase64Url(k, 'k'));
    parsePublicKey(publicKey, 'invite key');
  } catch (e) {
    return { ok: false, error: `The key in this invite is not valid (${(e as Error).message}).` };
  }
  let name = '';
  const n = params.get('n');
  if (n) {
    try {
      name = cleanName(fromUtf8(fromBase64Url(n, 'n'), 'n'));
    } catch {
      return { ok: false, error: 'The name in this invite is damaged.' };
    }
  }
  const relays: string[] = [];
  const r = params.get('r');
  if (r) {
    let lines: string[];
    try {
      lines = fromUtf8(fromBase64Url(r, 'r'), 'r').split('\n');
    } catch {
      return { ok: false, error: 'The relay list in this invite is damaged.' };
    }
    for (const line of lines.slice(0, MAX_INVITE_RELAYS)) {
      try {
        relays.push(relayUrl(line, 'relay'));
      } catch {
        // One bad relay hint must not spoil the invite; it is only a hint.
      }
    }
  }
  return { ok: true, invite: { publicKey, name, relays } };
}

/** Turns a pasted PEM or bare base64 public key into the wire form, or null. */
export function parsePastedKey(text: string): string | null {
  const t = text.trim();
  const pem = /-----BEGIN PUBLIC KEY-----([\s\S]*?)-----END PUBLIC KEY-----/.exec(t);
  const b64 = (pem ? pem[1]! : t).replace(/\s+/g, '');
  try {
    const der = fromBase64(b64);
    const wire = toBase64(der);
    parsePublicKey(wire);
    return wire;
  } catch {
    return null;
  }
}
