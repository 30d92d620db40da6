/** Loads protocol/vectors/*.json for the unit tests (the browser test fetches them instead). */
import { readFileSync } from 'node:fs';
import { VECTOR_FILES, type VectorSet } from '../../protocol/vectors/check.ts';

const dir = new URL('../../protocol/vectors/', import.meta.url);
export const loadVectors = (): VectorSet =>
  Object.fromEntries(VECTOR_FILES.map((f) => [f, JSON.parse(readFileSync(new URL(`${f}.json`, dir), 'utf8'))])) as VectorSet;
