// The revocation list as the App runs it: the list, the watched file (revocation.file) and the
// sweep that drops expired entries. TokenRevocation resources are fed in by the Kubernetes
// watchers (k8s/revocations.ts). One list for the process, shared by every snapshot's
// authenticator, so a change applies to the next request without a snapshot rebuild.
import type { Logger } from 'pino';
import type { Config } from '../../config/types.js';
import { RevocationFileSource } from './file-source.js';
import { RevocationList } from './list.js';

export interface RevocationRuntimeOptions {
  logger: Logger;
  /** zt_authz_revocation_reload_total{source="file"}. */
  onFileLoad: (result: 'success' | 'error') => void;
  now?: () => number;
}

export class RevocationRuntime {
  readonly list: RevocationList;
  private readonly file: RevocationFileSource | undefined;

  /** Reads revocation.file: throws a ConfigError when it is unreadable or invalid (the start fails closed). */
  constructor(config: Config, o: RevocationRuntimeOptions) {
    this.list = new RevocationList({
      ...(o.now ? { now: o.now } : {}),
      onUnknownIssuer: (source, issuer) =>
        o.logger.warn(
          { source, issuer },
          'revocation entry names an issuer that is not configured; loaded anyway (it applies if the issuer is added)',
        ),
    });
    this.configure(config);
    if (config.revocation.file) {
      this.file = new RevocationFileSource({
        file: config.revocation.file,
        list: this.list,
        logger: o.logger,
        onLoad: o.onFileLoad,
        debounceMs: config.reload.debounceMs,
        pollSeconds: config.reload.pollSeconds,
      });
      this.file.load();
    }
  }

  /** Issuers change on reload: their clock skews and lifetimes decide when entries drop. */
  configure(config: Config): void {
    this.list.configure(
      config.issuers.map((i) => ({
        issuer: i.issuer,
        clockSkewSeconds: i.clockSkewSeconds,
        ...(i.maxTokenAgeSeconds !== undefined ? { maxTokenAgeSeconds: i.maxTokenAgeSeconds } : {}),
      })),
    );
  }

  /** Re-read the file now (tests; the watch does it on changes). */
  reloadFile(): boolean {
    return this.file?.reload() ?? false;
  }

  start(): void {
    this.file?.start();
    this.list.startSweeping();
  }

  stop(): void {
    this.file?.stop();
    this.list.stopSweeping();
  }
}
