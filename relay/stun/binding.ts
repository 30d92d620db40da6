// What the STUN server answers to one datagram, as a pure function of the
// bytes and the source address, so every branch is testable without sockets.
import {
  Attr,
  StunClass,
  StunMethod,
  decodeMessage,
  encodeAddress,
  encodeMessage,
  errorCodeAttribute,
  textAttribute,
  unknownAttributesAttribute,
  type StunAttribute,
  type StunMessage,
  type TransportAddress,
} from './codec.ts';

export const SOFTWARE = 'meshchat-relay STUN';

/**
 * Comprehension-required attributes (0x0000-0x7FFF) this server understands.
 * Authentication attributes are "understood" and ignored because this server
 * offers no authentication (RFC 8489 section 9). The RFC 3489-only ones that
 * 8489 reserved (RESPONSE-ADDRESS and friends) are deliberately absent: honouring
 * RESPONSE-ADDRESS would let anyone aim our responses at a third party.
 */
const UNDERSTOOD = new Set<number>([
  Attr.MAPPED_ADDRESS,
  Attr.CHANGE_REQUEST,
  Attr.USERNAME,
  Attr.MESSAGE_INTEGRITY,
  Attr.ERROR_CODE,
  Attr.UNKNOWN_ATTRIBUTES,
  Attr.REALM,
  Attr.NONCE,
  Attr.MESSAGE_INTEGRITY_SHA256,
  Attr.PASSWORD_ALGORITHM,
  Attr.USERHASH,
  Attr.XOR_MAPPED_ADDRESS,
]);

export type BindingOutcome =
  | { kind: 'ignore'; reason: string }
  | { kind: 'reply'; status: number; response: Uint8Array };

export function answerDatagram(buf: Uint8Array, source: TransportAddress, software = SOFTWARE): BindingOutcome {
  const decoded = decodeMessage(buf);
  if (!decoded.ok) return { kind: 'ignore', reason: decoded.error };
  const req = decoded.message;
  // Indications and responses never get an answer; other methods (TURN's) are not ours.
  if (req.cls !== StunClass.request) return { kind: 'ignore', reason: 'not-request' };
  if (req.method !== StunMethod.binding) return { kind: 'ignore', reason: 'method' };

  const unknown: number[] = [];
  let afterIntegrity = false;
  for (const a of req.attributes) {
    // Attributes after MESSAGE-INTEGRITY (other than FINGERPRINT) must be ignored.
    if (afterIntegrity) continue;
    if (a.type === Attr.MESSAGE_INTEGRITY || a.type === Attr.MESSAGE_INTEGRITY_SHA256) afterIntegrity = true;
    if (a.type < 0x8000 && !UNDERSTOOD.has(a.type) && !unknown.includes(a.type)) unknown.push(a.type);
  }
  if (unknown.length) return reply(req, 420, [errorAttribute(req, 420, 'Unknown Attribute'), unknownAttributesAttribute(unknown, req.hasCookie)], software);

  const change = req.attributes.find((a) => a.type === Attr.CHANGE_REQUEST);
  if (change) {
    if (change.value.length !== 4) return reply(req, 400, [errorAttribute(req, 400, 'Bad Request')], software);
    // One address and port only: asking to answer from another (RFC 5780 NAT
    // behaviour discovery) is refused the way RFC 5780 section 7.2 says.
    if (change.value[3]! & 0x06) {
      return reply(req, 420, [errorAttribute(req, 420, 'Unknown Attribute'), unknownAttributesAttribute([Attr.CHANGE_REQUEST], req.hasCookie)], software);
    }
  }

  const attrs: StunAttribute[] = req.hasCookie
    ? [{ type: Attr.XOR_MAPPED_ADDRESS, value: encodeAddress(source, req.transactionId, true) }, textAttribute(Attr.SOFTWARE, software)]
    : // RFC 3489 clients reject attributes they do not know in the required
      // range and odd-length strings, so they get exactly MAPPED-ADDRESS.
      [{ type: Attr.MAPPED_ADDRESS, value: encodeAddress(source, req.transactionId, false) }];
  return reply(req, 200, attrs, software);
}

/** RFC 3489 wanted reason phrases padded with spaces to a multiple of 4 bytes. */
function errorAttribute(req: StunMessage, code: number, reason: string): StunAttribute {
  return errorCodeAttribute(code, req.hasCookie ? reason : reason.padEnd((reason.length + 3) & ~3, ' '));
}

function reply(req: StunMessage, status: number, attributes: StunAttribute[], software: string): BindingOutcome {
  const cls = status === 200 ? StunClass.success : StunClass.error;
  // SOFTWARE and FINGERPRINT are RFC 5389+ and only go to clients that sent the cookie.
  const attrs = status !== 200 && req.hasCookie ? [...attributes, textAttribute(Attr.SOFTWARE, software)] : attributes;
  const response = encodeMessage({ method: req.method, cls, transactionId: req.transactionId, attributes: attrs }, { fingerprint: req.hasCookie });
  return { kind: 'reply', status, response };
}
