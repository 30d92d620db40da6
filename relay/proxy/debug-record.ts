import { appendFileSync } from 'node:fs';
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';

/**
 * TEST/DEBUG ONLY (--debug-record-addresses FILE): appends one JSON line per
 * request, {"route","remote_address","time"}, so tests can check which
 * addresses a relay saw (e.g. that a TX/RX relay behind a proxy never saw the
 * client's). It writes client addresses to disk, which is exactly what a
 * relay must not do: never enable it on a relay that serves real users.
 * Synchronous appends, so a line is on disk when the answer leaves.
 */
export function addressRecorder(file: string, clock: Clock, log: Logger): (route: string, address: string) => void {
  log.warn({ file }, 'DEBUG: recording every client address to a file (--debug-record-addresses); never enable this in production');
  let failed = false;
  return (route, address) => {
    try {
      appendFileSync(file, `${JSON.stringify({ route, remote_address: address, time: new Date(clock.now()).toISOString() })}\n`);
    } catch (err) {
      if (!failed) log.error({ err }, 'cannot append to the address record');
      failed = true;
    }
  };
}
