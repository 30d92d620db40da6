// The relay's native base64 check must answer exactly like the protocol's pure one.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import * as P from '../../protocol/index.ts';
import { nativeCheckBase64 } from '../../relay/ingest.ts';

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
