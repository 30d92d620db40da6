import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { RelayError } from '../errors.ts';

/**
 * SSRF guard for forwards: addresses a proxy never connects to unless the
 * target is a relay it has verified at exactly that URL (a live mesh link it
 * dialed, or a --peer URL). Loopback, private, shared (CGNAT), link-local,
 * multicast, reserved and unspecified ranges, IPv4 and IPv6, with IPv4
 * embedded in IPv6 (mapped, NAT64, 6to4) judged as IPv4.
 */
const BLOCKED = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  BLOCKED.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const)
  BLOCKED.addSubnet(net, bits, 'ipv6');

/** The IPv4 address inside an IPv6 one (::ffff:a.b.c.d, ::a.b.c.d, 64:ff9b::/96, 2002::/16), if any. */
function embeddedV4(addr: string): string | undefined {
  const lower = addr.toLowerCase();
  const dotted = /^(?:::ffff:|::|64:ff9b::)(\d{1,3}(?:\.\d{1,3}){3})$/.exec(lower);
  if (dotted) return dotted[1];
  const words = expandV6(lower);
  if (!words) return undefined;
  const v4 = (hi: number, lo: number): string => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  // ::ffff:x:y, ::x:y (deprecated compatible), 64:ff9b::x:y
  if (words.slice(0, 5).every((w) => w === 0) && (words[5] === 0xffff || words[5] === 0) && (words[6]! | words[7]!) !== 0) return v4(words[6]!, words[7]!);
  if (words[0] === 0x64 && words[1] === 0xff9b && words.slice(2, 6).every((w) => w === 0)) return v4(words[6]!, words[7]!);
  if (words[0] === 0x2002) return v4(words[1]!, words[2]!);
  return undefined;
}

function expandV6(addr: string): number[] | undefined {
  if (addr.includes('.')) return undefined;
  const [head, tail] = addr.split('::') as [string, string | undefined];
  const parse = (s: string): number[] => (s ? s.split(':').map((w) => parseInt(w, 16)) : []);
  const h = parse(head);
  const t = tail === undefined ? [] : parse(tail);
  const fill = 8 - h.length - t.length;
  if (fill < 0 || (tail === undefined && fill !== 0)) return undefined;
  const words = [...h, ...new Array<number>(fill).fill(0), ...t];
  return words.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffff) ? words : undefined;
}

/** Whether `addr` (an IP literal, optionally in [brackets] or with a %zone) is one a proxy must not reach unverified. */
export function isInternalAddress(addr: string): boolean {
  const a = addr.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const family = isIP(a);
  if (family === 4) return BLOCKED.check(a, 'ipv4');
  if (family === 6) {
    const v4 = embeddedV4(a);
    if (v4 !== undefined) return isIP(v4) !== 4 || BLOCKED.check(v4, 'ipv4');
    return BLOCKED.check(a, 'ipv6');
  }
  return true; // not an address at all: refuse
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for node:http that resolves the name itself and drops internal
 * addresses, so the address checked is the address connected to (a DNS
 * answer that changes between a check and the connect cannot slip through).
 */
export function guardedLookup(allowInternal: boolean, family: 0 | 4 | 6) {
  return (hostname: string, options: { family?: number | string; all?: boolean }, cb: LookupCallback): void => {
    dnsLookup(hostname, { all: true, family: family || (typeof options.family === 'number' ? options.family : 0), verbatim: true }, (err, addrs) => {
      if (err) return cb(err, []);
      const ok = allowInternal ? addrs : addrs.filter((a) => !isInternalAddress(a.address));
      if (ok.length === 0) {
        const e = new RelayError('forward_refused', 'target resolves only to loopback, private or reserved addresses') as unknown as NodeJS.ErrnoException;
        return cb(e, []);
      }
      if (options.all) cb(null, ok);
      else cb(null, ok[0]!.address, ok[0]!.family);
    });
  };
}
