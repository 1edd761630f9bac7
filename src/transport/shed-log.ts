// What the in-flight gate (inflight.ts) reports when it refuses a Check: counted always, logged
// at most every SHED_LOG_INTERVAL_MS with the count since the last line, never per Check (a
// shedding server must not also flood its log).
import type { Logger } from 'pino';
import type { Metrics } from '../observe/metrics.js';

export const SHED_LOG_INTERVAL_MS = 10_000;

/** The gate's onShed: `limit` reads the bound in force (reloadable). */
export function shedReporter(metrics: Metrics, logger: Logger, limit: () => number): (transport: string) => void {
  let loggedAt = 0;
  let sinceLog = 0;
  return (transport) => {
    metrics.shed.inc({ transport });
    sinceLog++;
    const now = Date.now();
    if (now - loggedAt < SHED_LOG_INTERVAL_MS) return;
    logger.warn(
      { shed: sinceLog, maxInFlight: limit(), transport, intervalSeconds: SHED_LOG_INTERVAL_MS / 1000 },
      'load shedding: Checks refused because limits.maxInFlight are in flight (logged at most once per interval)',
    );
    loggedAt = now;
    sinceLog = 0;
  };
}
