/**
 * Contact pictures: centre-cropped and scaled in the browser to a small
 * square so IndexedDB holds kilobytes, not camera-sized photos.
 */
export const PICTURE_SIZE = 256;
export const MAX_PICTURE_INPUT = 20 * 1024 * 1024;

/** Source rectangle of the largest centred square in a w×h image. */
export function centreSquare(w: number, h: number): { sx: number; sy: number; side: number } {
  const side = Math.min(w, h);
  return { sx: Math.floor((w - side) / 2), sy: Math.floor((h - side) / 2), side };
}

export async function resizePicture(file: Blob, size = PICTURE_SIZE): Promise<Blob> {
  if (file.size > MAX_PICTURE_INPUT) throw new Error('That picture is too large (over 20 MB).');
  if (!file.type.startsWith('image/')) throw new Error('Please choose an image file.');
  let bmp: ImageBitmap;
  try {
    bmp = await createImageBitmap(file);
  } catch {
    throw new Error('That image could not be read.');
  }
  const { sx, sy, side } = centreSquare(bmp.width, bmp.height);
  const canvas = document.createElement('canvas');
  canvas.width = size;
  canvas.height = size;
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('No canvas available to resize the picture.');
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(bmp, sx, sy, side, side, 0, 0, size, size);
  bmp.close();
  const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/webp', 0.85));
  if (blob && blob.type === 'image/webp') return blob;
  const jpeg = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.85));
  if (!jpeg) throw new Error('The picture could not be encoded.');
  return jpeg;
}

/** Stable avatar colour from a fingerprint. */
export function avatarHue(fingerprint: string): number {
  return parseInt(fingerprint.slice(0, 4) || '0', 16) % 360;
}

export function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  const first = parts[0]?.[0] ?? '?';
  const second = parts.length > 1 ? (parts.at(-1)?.[0] ?? '') : '';
  return (first + second).toUpperCase();
}

/**
 * A small JPEG data URL of a picture for a contact sync message (kept under
 * `maxChars` so the sealed packet stays in a small bucket); undefined when
 * even the smallest try does not fit.
 */
export async function thumbnailDataUrl(picture: Blob, maxChars: number): Promise<string | undefined> {
  let bmp: ImageBitmap;
  try {
    bmp = await createImageBitmap(picture);
  } catch {
    return undefined;
  }
  try {
    for (const [size, q] of [[64, 0.75], [48, 0.6], [32, 0.5]] as const) {
      const canvas = document.createElement('canvas');
      canvas.width = size;
      canvas.height = size;
      const ctx = canvas.getContext('2d');
      if (!ctx) return undefined;
      const { sx, sy, side } = centreSquare(bmp.width, bmp.height);
      ctx.drawImage(bmp, sx, sy, side, side, 0, 0, size, size);
      const url = canvas.toDataURL('image/jpeg', q);
      if (url.startsWith('data:image/jpeg;base64,') && url.length <= maxChars) return url;
    }
    return undefined;
  } finally {
    bmp.close();
  }
}
