// The message log's files: a sync on the thread pool keeps its file open through a roll to the next segment.
import { fstatSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../relay/log.ts';
import { SegmentLog } from '../../relay/store/segment-log.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('SegmentLog', () => {
  it('keeps a segment open until its sync is done, though the log has rolled on to the next file meanwhile', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'segment-log-'));
    dirs.push(dir);
    const log = new SegmentLog(dir, { segmentBytes: 1000, segmentSpanMs: Infinity, fsync: true, log: silentLogger() });
    log.scan({ record: () => -1 });
    log.openForAppend();
    const fdOf = (): number => (log as unknown as { writeFd: number }).writeFd;
    log.append(Buffer.alloc(1500, 1));
    const first = fdOf();
    const firstFile = fstatSync(first).ino;
    const synced = log.sync();
    // Full: the next append starts a new file. Its fd must not take the number of the one being synced.
    log.append(Buffer.alloc(10, 2));
    expect(fstatSync(first).ino).toBe(firstFile);
    expect(fdOf()).not.toBe(first);
    await synced;
    // Closed once the sync is done.
    expect(() => fstatSync(first)).toThrow();
    expect(statSync(join(dir, '0000000000.seg')).size).toBe(1500);
    expect(statSync(join(dir, '0000000001.seg')).size).toBe(10);
    log.close();
  });
});
