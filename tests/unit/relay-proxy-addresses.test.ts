import { describe, expect, it } from 'vitest';
import { guardedLookup, isInternalAddress } from '../../relay/proxy/addresses.ts';

describe('SSRF guard: internal addresses', () => {
  it.each([
    '127.0.0.1', '127.9.9.9', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255',
    '::1', '::', 'fe80::1', 'fd00::1', 'fc12:3456::1', 'ff02::1', '[::1]', 'fe80::1%eth0',
    '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1', '64:ff9b::a9fe:a9fe', '64:ff9b::169.254.169.254', '2002:7f00:1::', '::127.0.0.1',
    'localhost', 'not an address', '',
  ])('refuses %s', (a) => expect(isInternalAddress(a)).toBe(true));

  it.each(['1.1.1.1', '8.8.8.8', '172.32.0.1', '100.128.0.1', '2606:4700::1111', '2001:4860:4860::8888', '::ffff:8.8.8.8', '64:ff9b::808:808'])('allows %s', (a) =>
    expect(isInternalAddress(a)).toBe(false));

  it('lookup drops internal answers unless the target is verified', async () => {
    const run = (allow: boolean): Promise<{ err: unknown; addrs: unknown }> =>
      new Promise((resolve) => guardedLookup(allow, 0)('localhost', { all: true }, (err, addrs) => resolve({ err, addrs })));
    const refused = await run(false);
    expect((refused.err as { code?: string }).code).toBe('forward_refused');
    const allowed = await run(true);
    expect(allowed.err).toBeNull();
    expect((allowed.addrs as { address: string }[]).length).toBeGreaterThan(0);
  });
});
