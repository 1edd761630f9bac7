// grpc-js writes its own log lines ("E No address added out of total 1 resolved" on a port
// conflict, channel and resolver trouble) through console.error by default: plain text in the
// middle of the JSON log, which log pipelines drop or file as unparsed. This routes them into
// the operational pino logger (so they are JSON lines with `logger: "ops"`, `component: "grpc-js"`,
// redacted and rate-limited like every other warning) at the level grpc-js gave them.
import { format } from 'node:util';
import { setLogger, setLogVerbosity, logVerbosity } from '@grpc/grpc-js';
import { SECRET_KEYS, type Logger } from './log.js';

/** grpc-js's own verbosity for a pino level: what pino would drop, grpc-js need not format. */
export function grpcVerbosity(level: string): logVerbosity {
  switch (level) {
    case 'trace':
    case 'debug':
      return logVerbosity.DEBUG;
    case 'info':
      return logVerbosity.INFO;
    case 'silent':
      return logVerbosity.NONE;
    default:
      return logVerbosity.ERROR;
  }
}

/**
 * Send grpc-js's log lines to `logger`. Process-wide (grpc-js has one logger): the last App
 * started wins, which is the only one in a served process. GRPC_VERBOSITY / GRPC_NODE_VERBOSITY,
 * when set, keep choosing grpc-js's verbosity (its documented debugging switch, with GRPC_TRACE).
 */
export function routeGrpcLogs(logger: Logger, level: string = logger.level): void {
  const child = logger.child({ component: 'grpc-js' });
  const line =
    (write: (msg: string) => void) =>
    (message?: unknown, ...rest: unknown[]): void =>
      // grpc-js formats like console (printf-style); its severity letter prefix is not added here.
      write(scrubHeaderValues(format(message, ...rest)));
  setLogger({
    error: line((m) => child.error(m)),
    info: line((m) => child.info(m)),
    debug: line((m) => child.debug(m)),
  });
  if (!process.env.GRPC_NODE_VERBOSITY && !process.env.GRPC_VERBOSITY) setLogVerbosity(grpcVerbosity(level));
}

const NAMES = SECRET_KEYS.map((k) => k.replace(/[-]/g, '\\-')).join('|');
/** `"authorization":["v"]` / `"cookie":"v"` (Metadata as JSON) and `authorization: v` lines (header dumps). */
const JSON_STRING = '"(?:[^"\\\\]|\\\\.)*"';
const HEADER_VALUE = new RegExp(
  `("(?:${NAMES})"[ \\t]*:[ \\t]*)(\\[(?:${JSON_STRING}|[^\\]"])*\\]|${JSON_STRING})|(^|\\n)([ \\t]*(?:${NAMES}):)[^\\n]*`,
  'gi',
);

/**
 * grpc-js's traces (GRPC_TRACE, a debugging switch) print whole call metadata and header blocks
 * as text: "received headers {"authorization":["Bearer ..."]}". pino's redact sees only keys of
 * logged objects, never text inside a message, so credential headers are censored here.
 */
export function scrubHeaderValues(msg: string): string {
  return msg.replace(HEADER_VALUE, (_m, jsonKey?: string, _jsonValue?: string, lineStart?: string, lineKey?: string) =>
    jsonKey !== undefined ? `${jsonKey}"[redacted]"` : `${lineStart ?? ''}${lineKey ?? ''} [redacted]`,
  );
}
