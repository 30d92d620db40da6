/**
 * Crypto engines side by side: RSA-2048 keygen, sealing and opening a packet
 * with a 1 KiB message, and signing a retrieval packet, per operation on
 * WebCrypto and node-forge in the same process. The target: opening a 1 KiB
 * message at least 20x faster on WebCrypto (forge is only the fallback).
 */
import { readFileSync } from 'node:fs';
import { fromBase64 } from '../../protocol/bytes.ts';
import type { CryptoEngine } from '../../protocol/crypto/engine.ts';
import { forgeEngine } from '../../protocol/crypto/forge.ts';
import { webCryptoEngine } from '../../protocol/crypto/webcrypto.ts';
import { openPacket, sealPacket } from '../../protocol/message.ts';
import { signRetrieval } from '../../protocol/auth.ts';
import { percentile, printTable, verdict } from './table.ts';

const keys = JSON.parse(readFileSync(new URL('../../protocol/vectors/keys.json', import.meta.url), 'utf8')).keys;
const relayId: string = keys.relay.fingerprint;
// 1 KiB of content: with the JSON fields around it the plaintext pads to the 2048 bucket.
const content = 'm'.repeat(1024);

interface Stat {
  median: number;
  p95: number;
  n: number;
}
/** Runs `fn` `n` times after `warm` untimed runs; milliseconds per operation. */
async function time(fn: () => Promise<unknown>, n: number, warm = 2): Promise<Stat> {
  for (let i = 0; i < warm; i++) await fn();
  const s: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    s.push(performance.now() - t);
  }
  return { median: percentile(s, 50), p95: percentile(s, 95), n };
}

async function measure(e: CryptoEngine, counts: { keygen: number; ops: number }) {
  const alice = await e.importPkcs8(fromBase64(keys.alice.pkcs8), false);
  const bob = await e.importPkcs8(fromBase64(keys.bob.pkcs8), false);
  const { packet } = await sealPacket(e, alice, bob.publicKey, { content });
  const r = {
    keygen: await time(() => e.generateKeyPair(false), counts.keygen, 0),
    seal: await time(() => sealPacket(e, alice, bob.publicKey, { content }), counts.ops),
    open: await time(() => openPacket(e, bob, packet), counts.ops),
    retrieval: await time(() => signRetrieval(e, alice, relayId), counts.ops),
  };
  return r;
}

const web = await measure(webCryptoEngine, { keygen: 10, ops: 100 });
// forge keygen is seconds each and highly variable (prime search): a few samples keep the run short.
const forge = await measure(forgeEngine, { keygen: 4, ops: 20 });

const label = { keygen: 'RSA-2048 keygen', seal: 'seal packet (1 KiB message)', open: 'open packet (1 KiB message)', retrieval: 'sign retrieval packet' } as const;
const rows = (Object.keys(label) as (keyof typeof label)[]).map((k) => [
  label[k],
  web[k].median,
  web[k].p95,
  forge[k].median,
  forge[k].p95,
  `${(forge[k].median / web[k].median).toFixed(1)}x`,
  `${web[k].n} / ${forge[k].n}`,
]);
printTable(['operation', 'WebCrypto median ms', 'WebCrypto p95 ms', 'forge median ms', 'forge p95 ms', 'forge / WebCrypto', 'samples (web / forge)'], rows);

const ratio = forge.open.median / web.open.median;
printTable(['target', 'measured', 'verdict'], [['open a 1 KiB message ≥ 20x faster on WebCrypto than forge', `${ratio.toFixed(1)}x`, verdict(ratio >= 20)]]);
