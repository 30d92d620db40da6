import { appendFileSync } from 'node:fs';
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';

/**
 * TEST/DEBUG ONLY (--debug-record-addresses FILE): appends one JSON line per
 * request, {"route","remote_address","time"} plus the request's shape
 * {"method","path","content_length","headers"} (header names only, sorted),
 * so tests can check which addresses a relay saw (e.g. that a TX/RX relay
 * behind a proxy never saw the client's) and that cover traffic looks like
 * real traffic from where a relay stands. It writes client addresses to disk, which is exactly what a
 * relay must not do: never enable it on a relay that serves real users.
 * Synchronous appends, so a line is on disk when the answer leaves.
 */
export interface RequestShape {
  method: string;
  path: string;
  content_length: string;
  headers: string[];
}

export function addressRecorder(file: string, clock: Clock, log: Logger): (route: string, address: string, shape?: RequestShape) => void {
  log.warn({ file }, 'DEBUG: recording every client address to a file (--debug-record-addresses); never enable this in production');
  let failed = false;
  return (route, address, shape) => {
    try {
      appendFileSync(file, `${JSON.stringify({ route, remote_address: address, time: new Date(clock.now()).toISOString(), ...shape })}\n`);
    } catch (err) {
      if (!failed) log.error({ err }, 'cannot append to the address record');
      failed = true;
    }
  };
}
