// Operational logging (pino, JSON lines). Audit records share the stream but carry
// `log: "audit"`; operational lines carry `log: "ops"`. Nothing here ever receives a token:
// callers pass reason codes and short hashes, and the redact list is a second line of defence.
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

const REDACT = ['token', 'authorization', 'headers.authorization', 'req.headers.authorization', 'secret', 'key', 'jwks'];

export function createLogger(level: string, dest?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { log: 'ops' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT, censor: '[redacted]' },
    },
    dest ?? pino.destination({ dest: 1, sync: false }),
  );
}

/** Audit logger: same destination, always at info so operators' log level never hides decisions. */
export function createAuditLogger(dest?: DestinationStream): Logger {
  return pino(
    {
      level: 'info',
      base: { log: 'audit' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT, censor: '[redacted]' },
    },
    dest ?? pino.destination({ dest: 1, sync: false }),
  );
}
