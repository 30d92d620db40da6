/**
 * Multi-device sync: self-addressed `kind:'sync'` control messages (sealed
 * to our own key and signed by it; a device accepts them only when the
 * sender inside is our own key). PROTOCOL.md "Privacy" lists the formats:
 *   {to}                                     the self-copy of a message we sent to `to`
 *   {type:'contact', key, name, picture?, at, deleted?}   a contact added, renamed, re-pictured or deleted
 *   {type:'read', key, upTo}                 we read the chat with `key` up to time `upTo`
 *   {type:'call', call_id, answered}         we accepted (or declined) that incoming call here: others stop ringing
 */
import { UUID_RE as UUID } from '$protocol/fields.ts';

export type SyncOp =
  | { type: 'message'; to: string }
  | { type: 'contact'; key: string; name: string; picture?: string; at: number; deleted?: boolean }
  | { type: 'read'; key: string; upTo: number }
  | { type: 'call'; call_id: string; answered: boolean };

/** A contact picture inside a sync message: a small JPEG/WebP data URL (keeps the packet in the 8 KB bucket). */
export const MAX_SYNC_PICTURE = 6000;
const PICTURE = /^data:image\/(jpeg|webp);base64,[A-Za-z0-9+/]+={0,2}$/;
const isKey = (v: unknown): v is string => typeof v === 'string' && v.length === 392 && /^[A-Za-z0-9+/]+={0,2}$/.test(v);
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v < 1e14;

export function parseSync(extra: Record<string, unknown> | undefined): SyncOp | undefined {
  if (!extra) return undefined;
  if (extra.type === undefined) return isKey(extra.to) ? { type: 'message', to: extra.to } : undefined;
  if (extra.type === 'contact') {
    const { key, name, picture, at, deleted } = extra;
    if (!isKey(key) || typeof name !== 'string' || name.length < 1 || name.length > 64 || !isTime(at)) return undefined;
    if (picture !== undefined && (typeof picture !== 'string' || picture.length > MAX_SYNC_PICTURE || !PICTURE.test(picture))) return undefined;
    if (deleted !== undefined && deleted !== true) return undefined;
    const op: SyncOp = { type: 'contact', key, name, at };
    if (picture !== undefined) op.picture = picture;
    if (deleted) op.deleted = true;
    return op;
  }
  if (extra.type === 'read') {
    const { key, upTo } = extra;
    return isKey(key) && isTime(upTo) ? { type: 'read', key, upTo } : undefined;
  }
  if (extra.type === 'call') {
    const { call_id, answered } = extra;
    return typeof call_id === 'string' && UUID.test(call_id) && typeof answered === 'boolean' ? { type: 'call', call_id, answered } : undefined;
  }
  return undefined;
}

/** The `extra` object to seal for an op (inverse of parseSync). */
export function syncExtra(op: SyncOp): Record<string, unknown> {
  if (op.type === 'message') return { to: op.to };
  const { type, ...rest } = op;
  return { type, ...rest };
}

/** Last writer wins on the sender's clock: apply a contact op only when it is newer than what we hold. */
export const newerThan = (op: { at: number }, local: { updatedAt: number } | undefined): boolean => !local || op.at > local.updatedAt;

export function pictureToBlob(dataUrl: string): Blob {
  const m = PICTURE.exec(dataUrl);
  if (!m) throw new Error('not a picture data URL');
  const bin = atob(dataUrl.slice(dataUrl.indexOf(',') + 1));
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Blob([bytes], { type: `image/${m[1]}` });
}
