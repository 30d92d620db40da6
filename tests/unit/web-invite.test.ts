import { describe, expect, it } from 'vitest';
import { webCryptoEngine } from '../../protocol/crypto/webcrypto.ts';
import { encodePublicKey } from '../../protocol/keys.ts';
import { buildInvite, cleanName, parseInvite, parsePastedKey } from '../../web/lib/domain/invite.ts';
import { toPem } from '../../protocol/identity.ts';

const pair = await webCryptoEngine.generateKeyPair(false);
const key = encodePublicKey(pair.publicKey.spki);

describe('invite links', () => {
  it('round-trips key, name and relays through the fragment', () => {
    const url = buildInvite('https://relay.example/', { publicKey: key, name: 'Zoë & Co', relays: ['https://a.example', 'http://127.0.0.1:8081'] });
    expect(url.startsWith('https://relay.example/#/invite?k=')).toBe(true);
    expect(new URL(url).search).toBe('');
    const r = parseInvite(url);
    expect(r).toEqual({ ok: true, invite: { publicKey: key, name: 'Zoë & Co', relays: ['https://a.example', 'http://127.0.0.1:8081'] } });
  });

  it('survives one round of percent-decoding of the fragment (the hash router does that)', () => {
    const url = buildInvite('http://x.test', { publicKey: key, name: 'a+b/c?d', relays: [] });
    const r = parseInvite(decodeURIComponent(url));
    expect(r.ok && r.invite.name).toBe('a+b/c?d');
  });

  it('accepts the bare fragment or query', () => {
    const url = buildInvite('http://x.test/', { publicKey: key, name: 'Bo', relays: [] });
    expect(parseInvite(url.slice(url.indexOf('#'))).ok).toBe(true);
    expect(parseInvite(url.slice(url.indexOf('?') + 1)).ok).toBe(true);
  });

  it('refuses a missing, damaged or non-RSA-2048 key', () => {
    expect(parseInvite('http://x.test/#/invite?n=Qm8').ok).toBe(false);
    expect(parseInvite('http://x.test/#/invite?k=AAAA').ok).toBe(false);
    expect(parseInvite('http://x.test/#/invite?k=%%%').ok).toBe(false);
    const url = buildInvite('http://x.test/', { publicKey: key, name: '', relays: [] });
    expect(parseInvite(url.replace(/k=([A-Za-z0-9_-]{10})/, 'k=$1x')).ok).toBe(false);
    expect(parseInvite('x'.repeat(5000)).ok).toBe(false);
  });

  it('drops bad relay hints but keeps the invite; caps the relay count', () => {
    const good = buildInvite('http://x.test/', { publicKey: key, name: 'N', relays: ['https://a.example'] });
    const r0 = parseInvite(good);
    expect(r0.ok).toBe(true);
    const many = buildInvite('http://x.test/', { publicKey: key, name: 'N', relays: ['https://a.test', 'javascript:alert(1)', 'https://u:p@b.test', 'https://c.test', 'https://d.test'] });
    const r = parseInvite(many);
    expect(r.ok && r.invite.relays).toEqual(['https://a.test']);
  });

  it('cleans names: control and bidi characters, whitespace, length', () => {
    expect(cleanName('  Al\u202Eice\n\tB  ')).toBe('Alice B');
    expect(cleanName('x'.repeat(100))).toHaveLength(64);
  });

  it('reads a pasted PEM or base64 key and refuses junk', () => {
    expect(parsePastedKey(toPem(pair.publicKey.spki, 'PUBLIC KEY'))).toBe(key);
    expect(parsePastedKey(`  ${key}\n`)).toBe(key);
    expect(parsePastedKey('hello')).toBeNull();
  });
});
