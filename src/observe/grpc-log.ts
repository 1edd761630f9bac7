// grpc-js writes its own log lines ("E No address added out of total 1 resolved" on a port
// conflict, channel and resolver trouble) through console.error by default: plain text in the
// middle of the JSON log, which log pipelines drop or file as unparsed. This routes them into
// the operational pino logger (so they are JSON lines with `logger: "ops"`, `component: "grpc-js"`,
// redacted and rate-limited like every other warning) at the level grpc-js gave them.
import { format } from 'node:util';
import { setLogger, setLogVerbosity, logVerbosity } from '@grpc/grpc-js';
import type { Logger } from './log.js';

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
      write(format(message, ...rest));
  setLogger({
    error: line((m) => child.error(m)),
    info: line((m) => child.info(m)),
    debug: line((m) => child.debug(m)),
  });
  if (!process.env.GRPC_NODE_VERBOSITY && !process.env.GRPC_VERBOSITY) setLogVerbosity(grpcVerbosity(level));
}
