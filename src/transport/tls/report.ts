// server.tls as the operator sees it: the certificate loaded at start and every reload (metric,
// log line, expiry gauge). A rejected reload keeps the last good material and says so.
import type { Logger } from 'pino';
import type { Config } from '../../config/types.js';
import type { Metrics } from '../../observe/metrics.js';
import { withTlsConfigErrors } from '../../snapshot/checked-config.js';
import { TlsReloader, type TlsReloadEvent } from './reloader.js';

/**
 * Load server.tls (a bad file is a start-up error naming the field and file) and report every
 * later reload.
 */
export function startReportedTls(
  config: Config,
  settings: NonNullable<Config['server']['tls']>,
  metrics: Metrics,
  logger: Logger,
): TlsReloader {
  const describe = (m: TlsReloader['current'], msg: string): void => {
    metrics.tlsCertNotAfter.set(Math.floor(m.notAfter.getTime() / 1000));
    const facts = {
      serial: m.serial,
      fingerprint256: m.fingerprint256,
      subject: m.subject,
      notAfter: m.notAfter.toISOString(),
      mtls: config.server.tls?.clientCaFile !== undefined,
    };
    if (m.notAfter.getTime() <= Date.now()) logger.warn(facts, `${msg}: the certificate has EXPIRED; clients will refuse it`);
    else logger.info(facts, msg);
  };
  const report = (e: TlsReloadEvent): void => {
    metrics.tlsReload.inc({ result: e.result });
    if (e.result === 'error') {
      logger.error(
        { field: `server.tls.${e.field}`, file: e.file, error: e.error },
        'TLS reload rejected; keeping the last good certificate',
      );
      return;
    }
    describe(e.material, 'TLS certificate reloaded');
  };
  const tls = withTlsConfigErrors(
    config.file ?? 'config',
    () =>
      new TlsReloader(settings, {
        onReload: report,
        onWatchError: (dir, error) => logger.warn({ dir, error }, 'cannot watch the TLS files; polling only'),
      }),
  );
  metrics.tlsReload.inc({ result: 'success' }, 0);
  metrics.tlsReload.inc({ result: 'error' }, 0);
  describe(tls.current, 'TLS certificate loaded');
  return tls;
}
