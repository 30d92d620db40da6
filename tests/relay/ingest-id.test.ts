// The relay's synchronous packet id must equal the protocol's, for any strings a client can send.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import * as P from '../../protocol/index.ts';
import { packetIdOf } from '../../relay/ingest.ts';
import { engine } from './harness.ts';

const expected = (p: P.ClientMessagePacket): Promise<string> => P.packetId(p, (d) => engine.sha256(d));

describe('packetIdOf', () => {
  it('equals P.packetId for ASCII, multi-byte and over-long fields, call after call', async () => {
    const b64 = (n: number): string => randomBytes(n).toString('base64');
    const cases: P.ClientMessagePacket[] = [
      { recipient: b64(294), message: b64(1309), signature: b64(1309) },
      { recipient: b64(294), message: b64(65536 + P.ENVELOPE_OVERHEAD), signature: b64(1309) },
      // Not valid packets, but ids are taken before validation: multi-byte UTF-8 must hash as UTF-8.
      { recipient: 'Ł€😀', message: 'é\n', signature: '' },
      { recipient: '', message: '', signature: '' },
      // Longer than any accepted field: takes the string path, same id.
      { recipient: 'x'.repeat(3 * P.MAX_MESSAGE_B64), message: '€'.repeat(P.MAX_MESSAGE_B64), signature: 'y' },
      { recipient: b64(294), message: b64(1309), signature: b64(1309) },
    ];
    for (const p of cases) expect(packetIdOf(p)).toBe(await expected(p));
  });
});
