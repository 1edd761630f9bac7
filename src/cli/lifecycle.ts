// Process lifecycle for long-running commands (serve, demo).
import type { App } from '../app.js';
import type { Logger } from '../observe/log.js';

/** Run until SIGTERM/SIGINT, then drain; a second signal exits at once. */
export function runUntilSignal(app: App): Promise<number> {
  installCrashGuards(app.logger);
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (sig: NodeJS.Signals) => {
      if (stopping) {
        app.logger.warn({ signal: sig }, 'second signal: exiting without drain');
        process.exit(1);
      }
      stopping = true;
      app.logger.info({ signal: sig }, 'shutting down: health NOT_SERVING, draining in-flight Checks');
      app.shutdown().then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

/** Input can never crash the process: log (without request data) and keep serving. */
export function installCrashGuards(logger: Logger): void {
  process.on('uncaughtException', (err) => logger.error({ err: err.message, stack: err.stack }, 'uncaught exception (kept running)'));
  process.on('unhandledRejection', (err) =>
    logger.error({ err: String((err as Error)?.message ?? err) }, 'unhandled rejection (kept running)'),
  );
}
