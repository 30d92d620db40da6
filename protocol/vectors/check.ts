/**
 * Runs the JSON vectors against one CryptoEngine. Pure (no I/O) so the same
 * checks run under vitest in Node and in Chromium from an esbuild bundle; the
 * caller loads the JSON files and hands them in.
 */
import { encodeRetrievalHeader, verifyDescriptor, verifyRetrieval, verifySignedMessage } from '../auth.ts';
import { decryptBackup } from '../backup.ts';
import { concat, equalBytes, fromBase64, fromHex, toHex, utf8 } from '../bytes.ts';
import type { CryptoEngine } from '../crypto/engine.ts';
import { openBytes, padJson, sealBytes, unpadJson } from '../envelope.ts';
import { isProtocolError } from '../errors.ts';
import { fingerprint, safetyCode } from '../identity.ts';
import { parsePublicKey } from '../keys.ts';
import { openPacket } from '../message.ts';
import {
  descriptorSigningInput,
  packetId,
  parseClientPacket,
  parseRetrievalHeader,
  parseRetrievalPacket,
  parseServerListRequest,
  parseServerListResponse,
  retrievalSigningInput,
  signedMessageInput,
} from '../packets.ts';

/** The parsed contents of protocol/vectors/*.json, keyed by file name without `.json`. */
export type VectorSet = Record<'keys' | 'primitives' | 'envelopes' | 'packets' | 'retrieval' | 'descriptors' | 'signed_messages' | 'backup', J>;
// The vectors are untyped JSON by nature; the checks read them structurally.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type J = any;

export interface VectorCase {
  file: string;
  name: string;
  /** Costs a 600k-iteration PBKDF2 (about 5 s on forge). */
  slow?: boolean;
  run(engine: CryptoEngine): Promise<void>;
}

export const VECTOR_FILES = ['keys', 'primitives', 'envelopes', 'packets', 'retrieval', 'descriptors', 'signed_messages', 'backup'] as const;

class Mismatch extends Error {
  override name = 'VectorMismatch';
}
function check(cond: boolean, what: string): void {
  if (!cond) throw new Mismatch(what);
}
const same = (a: Uint8Array, b: Uint8Array, what: string): void =>
  check(equalBytes(a, b), `${what}: got ${toHex(a).slice(0, 80)}…, want ${toHex(b).slice(0, 80)}…`);

/** Expands {"$repeat": s, "$count": n} and friends (used to keep huge values out of the files). */
export function expand(v: J): J {
  if (Array.isArray(v)) return v.map(expand);
  if (v && typeof v === 'object') {
    if ('$repeat' in v) return String(v.$repeat).repeat(v.$count);
    if ('$repeat_json_content' in v) return JSON.stringify({ content: String(v.$repeat_json_content).repeat(v.$count) });
    if ('$repeat_array' in v) return Array.from({ length: v.$count }, () => v.$repeat_array);
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, expand(x)]));
  }
  return v;
}

/** Awaits `fn` and demands a ProtocolError with `code`; any other outcome (success, another code, a non-protocol throw) fails. */
export async function expectCode(fn: () => unknown, code: string, what: string): Promise<void> {
  let result: unknown;
  try {
    result = await fn();
  } catch (e) {
    if (!isProtocolError(e)) throw new Mismatch(`${what}: threw a non-ProtocolError ${String(e)}`);
    check(e.code === code, `${what}: got code ${e.code} (${e.message}), want ${code}`);
    return;
  }
  throw new Mismatch(`${what}: accepted (${JSON.stringify(result)?.slice(0, 80)}), want ${code}`);
}

export function vectorCases(v: VectorSet): VectorCase[] {
  const cases: VectorCase[] = [];
  const add = (file: string, name: string, run: VectorCase['run'], slow = false): void => {
    cases.push({ file, name, run, slow });
  };
  const keys = v.keys.keys as Record<string, { pkcs8: string; spki: string; fingerprint: string; safety_code: string }>;
  const pair = (e: CryptoEngine, name: string) => e.importPkcs8(fromBase64(keys[name]!.pkcs8), true);
  const ms = (iso: string): number => Date.parse(iso);

  // ---------------------------------------------------------------- keys
  for (const [name, k] of Object.entries(keys)) {
    add('keys', `${name}: import, SPKI, PKCS#8 round trip, fingerprint, safety code`, async (e) => {
      const der = parsePublicKey(k.spki);
      const p = await pair(e, name);
      same(p.publicKey.spki, der, 'public half of the PKCS#8');
      same(await e.exportPkcs8(p.privateKey), fromBase64(k.pkcs8), 'exported PKCS#8');
      same((await e.importSpki(der)).spki, der, 'imported SPKI');
      check((await fingerprint(e, k.spki)) === k.fingerprint, 'fingerprint');
      check(safetyCode(k.fingerprint) === k.safety_code, 'safety code');
    });
  }
  for (const c of v.keys.invalid_public) {
    add('keys', `invalid public key: ${c.name} → ${c.expect}`, async (e) => {
      const value = expand(c.spki);
      await expectCode(() => parsePublicKey(value), c.expect, 'parsePublicKey');
      // Engines must refuse the same DER on their own, not only behind the validator.
      let der: Uint8Array | undefined;
      try {
        der = typeof value === 'string' ? fromBase64(value) : undefined;
      } catch {
        der = undefined;
      }
      if (der && c.expect !== 'bad_base64' && c.expect !== 'too_large') await expectCode(() => e.importSpki(der), c.expect, 'importSpki');
    });
  }
  for (const c of v.keys.invalid_private) {
    add('keys', `invalid private key: ${c.name} → ${c.expect}`, async (e) => {
      await expectCode(() => e.importPkcs8(fromBase64(c.pkcs8), true), c.expect, 'importPkcs8');
    });
  }

  // ---------------------------------------------------------------- primitives
  const P = v.primitives;
  P.sha256.forEach((c: J, i: number) =>
    add('primitives', `sha256 #${i}`, async (e) => check(toHex(await e.sha256(fromBase64(c.input))) === c.hex, 'digest')),
  );
  P.aes_gcm.forEach((c: J, i: number) =>
    add('primitives', `aes-256-gcm #${i} encrypt and decrypt`, async (e) => {
      const [key, iv, pt, ct] = [c.key, c.iv, c.plaintext, c.ciphertext].map((x) => fromBase64(x)) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
      same(await e.aesGcmEncrypt(key, iv, pt), ct, 'ciphertext');
      same(await e.aesGcmDecrypt(key, iv, ct), pt, 'plaintext');
    }),
  );
  for (const c of P.aes_gcm_invalid)
    add('primitives', `aes-256-gcm refuses: ${c.name}`, async (e) => {
      let threw = false;
      try {
        await e.aesGcmDecrypt(fromBase64(c.key), fromBase64(c.iv), fromBase64(c.ciphertext));
      } catch {
        threw = true;
      }
      check(threw, 'decrypted');
    });
  P.pbkdf2.forEach((c: J, i: number) =>
    add('primitives', `pbkdf2-sha256 #${i} (${c.iterations} iterations)`, async (e) =>
      check(toHex(await e.pbkdf2(utf8(c.passphrase), fromBase64(c.salt), c.iterations)) === c.key, 'derived key'),
    ),
  );
  P.oaep.forEach((c: J, i: number) =>
    add('primitives', `rsa-oaep decrypt #${i} (OpenSSL ciphertext)`, async (e) =>
      same(await e.oaepDecrypt((await pair(e, c.key)).privateKey, fromBase64(c.ciphertext)), fromBase64(c.plaintext), 'plaintext'),
    ),
  );
  for (const c of P.oaep_invalid)
    add('primitives', `rsa-oaep refuses: ${c.name}`, async (e) => {
      const k = (await pair(e, c.key)).privateKey;
      let threw = false;
      try {
        await e.oaepDecrypt(k, fromBase64(c.ciphertext));
      } catch {
        threw = true;
      }
      check(threw, 'decrypted');
    });
  for (const c of P.pss)
    add('primitives', `rsa-pss verify: ${c.name} → ${c.valid}`, async (e) => {
      const k = await e.importSpki(fromBase64(keys[c.key]!.spki));
      check((await e.pssVerify(k, fromBase64(c.signature), fromBase64(c.message))) === c.valid, 'verdict');
    });

  // ---------------------------------------------------------------- envelopes
  const E = v.envelopes;
  for (const c of E.padding) {
    add('envelopes', `pad to ${c.bucket}${c.exact ? ' (exact)' : ''}`, async (e) => {
      const json = expand(c.json);
      const padded = padJson(json, c.exact);
      check(padded.length === c.bucket, `bucket ${padded.length}`);
      check(toHex(await e.sha256(padded)) === c.padded_sha256, 'padded bytes');
      check(JSON.stringify(unpadJson(padded, 'p', c.exact)) === JSON.stringify(JSON.parse(json)), 'unpad round trip');
    });
  }
  for (const c of E.padding_invalid)
    add('envelopes', `padding refuses: ${c.name} → ${c.expect}`, async () => expectCode(() => padJson(expand(c.json), c.exact), c.expect, 'padJson'));
  for (const c of E.seal) {
    add('envelopes', `seal with fixed AES key and IV to ${c.recipient} (${c.plaintext_length} bytes)`, async (e) => {
      const me = await pair(e, c.recipient);
      const padded = padJson(c.json, c.plaintext_length === 1024 ? 1024 : undefined);
      const [aesKey, iv] = [fromBase64(c.aes_key), fromBase64(c.iv)];
      const gcm = fromBase64(c.gcm_part);
      same(fromBase64(c.envelope).subarray(257), gcm, 'vector envelope tail');
      const fresh = await sealBytes(e, me.publicKey, padded, { aesKey, iv });
      same(fresh.subarray(257), gcm, 'our envelope tail (iv || AES-GCM)');
      same(await openBytes(e, me.privateKey, fresh), padded, 'our envelope opens');
      same(await openBytes(e, me.privateKey, fromBase64(c.envelope)), padded, 'vector envelope opens');
    });
  }
  for (const c of E.open_invalid)
    add('envelopes', `open refuses: ${c.name} → ${c.expect}`, async (e) => {
      const me = await pair(e, 'bob');
      await expectCode(() => openBytes(e, me.privateKey, fromBase64(c.envelope)), c.expect, 'openBytes');
    });
  for (const c of E.unpad_invalid)
    add('envelopes', `unpad refuses: ${c.name} → ${c.expect}`, async () => {
      const text = c.raw_hex ? fromHex(c.raw_hex) : utf8(c.text);
      const b = new Uint8Array(c.length).fill(parseInt(c.fill, 16));
      b.set(text);
      await expectCode(() => unpadJson(b, 'plaintext', c.exact), c.expect, 'unpadJson');
    });

  // ---------------------------------------------------------------- packets
  const K = v.packets;
  for (const c of K.valid) {
    add('packets', `open: ${c.name}`, async (e) => {
      const me = await pair(e, c.opener);
      const got = await openPacket(e, me, c.packet);
      const { id, ...plain } = got;
      check(id === c.id, `packet id ${id}`);
      check(JSON.stringify(plain) === JSON.stringify(c.opened), `opened ${JSON.stringify(plain).slice(0, 120)}`);
      check((await packetId(parseClientPacket(c.packet), (d) => e.sha256(d))) === c.id, 'packetId');
      // The AES-GCM part is deterministic given the key and IV: rebuild both envelopes' tails without RSA.
      const m = fromBase64(c.packet.message);
      same(m.subarray(257), concat(fromBase64(c.message_iv), await e.aesGcmEncrypt(fromBase64(c.message_aes_key), fromBase64(c.message_iv), padJson(c.message_json))), 'message AES-GCM part');
      const s = fromBase64(c.packet.signature);
      const sigPlain = await e.aesGcmDecrypt(fromBase64(c.signature_aes_key), fromBase64(c.signature_iv), s.subarray(269));
      const sig = fromBase64((unpadJson(sigPlain, 'signature', 1024) as { signature: string }).signature);
      check(await e.pssVerify(await e.importSpki(fromBase64(c.opened.sender)), sig, m), 'signature over the message envelope');
    });
  }
  for (const c of K.invalid_shape)
    add('packets', `shape refuses: ${c.name} → ${c.expect}`, async (e) => {
      const p = expand(c.packet);
      await expectCode(() => parseClientPacket(p), c.expect, 'parseClientPacket');
      const me = await pair(e, 'bob');
      await expectCode(() => openPacket(e, me, p), c.expect, 'openPacket');
    });
  for (const c of K.invalid_open)
    add('packets', `open refuses: ${c.name} → ${c.expect}`, async (e) => {
      parseClientPacket(c.packet); // these are well-formed on the wire; only the recipient can tell
      const me = await pair(e, c.opener);
      const opts = c.expected_sender ? { expectedSender: c.expected_sender } : {};
      await expectCode(() => openPacket(e, me, c.packet, opts), c.expect, 'openPacket');
    });

  // ---------------------------------------------------------------- retrieval
  const R = v.retrieval;
  R.valid.forEach((c: J, i: number) =>
    add('retrieval', `valid #${i}`, async (e) => {
      const p = parseRetrievalPacket(c.packet);
      same(retrievalSigningInput(p.relay, p.timestamp, p.nonce), utf8(c.signing_input), 'signing input');
      check(encodeRetrievalHeader(c.packet) === c.header, 'header encoding');
      const h = parseRetrievalHeader(c.header);
      check(JSON.stringify({ ...h, timestampMs: undefined }) === JSON.stringify(c.packet), 'header decodes to the packet');
      await verifyRetrieval(e, h, c.relay_id, ms(c.now));
    }),
  );
  for (const c of R.invalid)
    add('retrieval', `refuses: ${c.name} → ${c.expect}`, async (e) => {
      await expectCode(
        async () => {
          const p = c.header !== undefined ? parseRetrievalHeader(expand(c.header)) : parseRetrievalPacket(expand(c.packet));
          await verifyRetrieval(e, p, c.relay_id, ms(c.now));
        },
        c.expect,
        'retrieval',
      );
    });

  // ---------------------------------------------------------------- descriptors and server lists
  const D = v.descriptors;
  D.valid.forEach((c: J, i: number) =>
    add('descriptors', `valid #${i}`, async (e) => {
      same(descriptorSigningInput(c.descriptor), utf8(c.signing_input), 'signing input');
      const d = await verifyDescriptor(e, c.descriptor, ms(c.now));
      check(JSON.stringify(d) === JSON.stringify(c.descriptor), 'verified descriptor');
    }),
  );
  for (const c of D.invalid)
    add('descriptors', `refuses: ${c.name} → ${c.expect}`, async (e) => expectCode(() => verifyDescriptor(e, expand(c.descriptor), ms(c.now)), c.expect, 'verifyDescriptor'));
  D.server_list_requests.forEach((c: J, i: number) =>
    add('descriptors', `server_list_request #${i}${c.expect ? ` → ${c.expect}` : ''}`, async () => {
      if (c.expect) return expectCode(() => parseServerListRequest(c.input), c.expect, 'parseServerListRequest');
      check(JSON.stringify(parseServerListRequest(c.input)) === JSON.stringify(c.input), 'parsed request');
    }),
  );
  D.server_list_responses.forEach((c: J, i: number) =>
    add('descriptors', `server_list_response #${i}${c.expect ? ` → ${c.expect}` : ''}`, async () => {
      const input = expand(c.input);
      if (c.expect) return expectCode(() => parseServerListResponse(input), c.expect, 'parseServerListResponse');
      const r = parseServerListResponse(input);
      check(r.response.servers.length === c.servers, `kept ${r.response.servers.length} descriptors`);
      check(JSON.stringify(r.rejected.map((x) => x.code)) === JSON.stringify(c.rejected), `rejected ${r.rejected.map((x) => x.code)}`);
    }),
  );

  // ---------------------------------------------------------------- signed_message
  const S = v.signed_messages;
  S.valid.forEach((c: J, i: number) =>
    add('signed_messages', `valid #${i}`, async (e) => {
      same(signedMessageInput(c.input.message.content, c.input.message.timestamp), utf8(c.signing_input), 'signing input');
      const r = await verifySignedMessage(e, c.input, ms(c.now));
      check(r.signer === c.signer, 'signer');
    }),
  );
  for (const c of S.invalid)
    add('signed_messages', `refuses: ${c.name} → ${c.expect}`, async (e) => expectCode(() => verifySignedMessage(e, expand(c.input), ms(c.now)), c.expect, 'verifySignedMessage'));

  // ---------------------------------------------------------------- backup
  const B = v.backup;
  for (const c of B.valid)
    add(
      'backup',
      `decrypts to ${c.key}'s PKCS#8`,
      async (e) => same(await decryptBackup(e, c.file, c.passphrase), fromBase64(keys[c.key]!.pkcs8), 'PKCS#8'),
      true,
    );
  for (const c of B.invalid)
    add(
      'backup',
      `refuses: ${c.name} → ${c.expect}`,
      async (e) => expectCode(() => decryptBackup(e, expand(c.file), c.passphrase), c.expect, 'decryptBackup'),
      c.expect === 'decrypt_failed',
    );

  return cases;
}

/** Runs every case; returns failures instead of throwing so a browser page can report them all at once. */
export async function runVectors(
  engine: CryptoEngine,
  v: VectorSet,
  filter: (c: VectorCase) => boolean = () => true,
): Promise<{ passed: number; failures: { file: string; name: string; error: string }[] }> {
  let passed = 0;
  const failures: { file: string; name: string; error: string }[] = [];
  for (const c of vectorCases(v).filter(filter)) {
    try {
      await c.run(engine);
      passed++;
    } catch (e) {
      failures.push({ file: c.file, name: c.name, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
    }
  }
  return { passed, failures };
}
