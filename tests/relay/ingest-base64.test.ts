// The relay's native base64 check must answer exactly like the protocol's pure one.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as P from '../../protocol/index.ts';
import { nativeCheckBase64, nativeCheckKey } from '../../relay/ingest.ts';

const outcome = (f: () => number): string => {
  try {
    return `ok:${f()}`;
  } catch (e) {
    if (!P.isProtocolError(e)) throw e;
    return e.code;
  }
};

describe('nativeCheckBase64', () => {
  it('agrees with checkBase64 (and so fromBase64) on valid, corrupted and non-canonical input', () => {
    const cases: string[] = [];
    for (let n = 1; n <= 12; n++) cases.push(randomBytes(n).toString('base64'));
    const alpha = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    for (const c of alpha) cases.push(`QUJDQU${c}=`, `QUJDQ${c}==`);
    cases.push('QUJ', 'QUJ=D===', 'QU-D', 'QU_D', 'QUJD\n', ' QUJD', 'QUJD====', 'Q===', '====', 'QUJ\u00e9', 'QU=D', 'QUJD QUJD');
    const good = randomBytes(1500).toString('base64');
    // \u0141 and \u2041 end in the bytes of 'A': a decoder reading only the low byte would take them for it.
    cases.push('QUJ\u0141', '\u0141UJD', 'QUJD\u2041QUJ', 'QUJDQQ\u003d\u003d', 'QU\u0000D', 'QUJDQQ=\u0141');
    const chars = 'AQgw+/=-_ .\u00ff9z\n\u0141\u2041\u0000';
    for (let i = 0; i < 400; i++) {
      const at = (i * 7919) % good.length;
      cases.push(good.slice(0, at) + chars[i % chars.length] + good.slice(at + 1));
    }
    // The largest field the reused decode buffer holds, and one block past it (checked the pure way).
    const most = (P.MAX_MESSAGE_B64 >> 2) * 3;
    cases.push(randomBytes(most).toString('base64'), randomBytes(most + 3).toString('base64'));
    for (const s of cases) expect(outcome(() => nativeCheckBase64(s, 'f')), JSON.stringify(s)).toBe(outcome(() => P.checkBase64(s, 'f')));
  });
});

const keyVectors = JSON.parse(readFileSync(new URL('../../protocol/vectors/keys.json', import.meta.url), 'utf8')) as {
  keys: Record<string, { spki: string }>;
  other_keys: { spki: string }[];
  invalid_public: { spki: string; expect: string }[];
};

/** The error code and message, or ok: the native check must throw the very error the pure one does. */
const keyOutcome = (f: () => unknown): string => {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (!P.isProtocolError(e)) throw e;
    return `${e.code}: ${e.message}`;
  }
};

describe('nativeCheckKey', () => {
  it('agrees with parsePublicKey, error for error, on the key vectors and on corrupted, truncated and non-canonical keys', () => {
    const valid = [...Object.values(keyVectors.keys), ...keyVectors.other_keys].map((k) => k.spki);
    const cases: unknown[] = [...valid, ...keyVectors.invalid_public.map((k) => k.spki), undefined, null, 42, {}, '', 'QUJD'];
    const k = valid[0]!;
    // Every position, replaced by characters that break it in different ways (alphabet, URL-safe, padding, non-ASCII, whitespace).
    const chars = 'AQgw+/=-_ .\u00ff9z\n\u0141\u2041\u0000';
    for (let at = 0; at < k.length; at++) cases.push(k.slice(0, at) + chars[at % chars.length] + k.slice(at + 1));
    // A flipped bit in every decoded byte: the DER's prefix, modulus and exponent.
    const der = Buffer.from(k, 'base64');
    for (let i = 0; i < der.length; i++) {
      const d = Buffer.from(der);
      d[i]! ^= 1 << (i % 8);
      cases.push(d.toString('base64'));
    }
    cases.push(k.slice(0, -4), `${k}AAAA`, `${k.slice(0, -1)}=`, `${k.slice(0, -2)}==`, k.toLowerCase(), ` ${k.slice(1)}`, k.replace(/\+/g, '-'));
    cases.push(randomBytes(P.SPKI_BYTES).toString('base64'), randomBytes(P.SPKI_BYTES - 1).toString('base64'), 'A'.repeat(5000));
    let accepted = 0;
    for (const c of cases) {
      const pure = keyOutcome(() => P.parsePublicKey(c, 'recipient'));
      expect(keyOutcome(() => nativeCheckKey(c, 'recipient')), JSON.stringify(c)).toBe(pure);
      if (pure === 'ok') accepted++;
    }
    // Both answers are well represented (a flipped modulus bit still makes a well-formed key).
    expect(accepted).toBeGreaterThan(valid.length);
    expect(cases.length - accepted).toBeGreaterThan(300);
  });
});
