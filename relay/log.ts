import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * JSON logs on stdout. Privacy rule: at info level and above nothing that
 * identifies a client — no message contents, recipient keys or addresses.
 */
export function createLogger(level: string): Logger {
  return pino({ level, base: { svc: 'relay' }, timestamp: pino.stdTimeFunctions.isoTime });
}

export const silentLogger = (): Logger => pino({ level: 'silent' });
