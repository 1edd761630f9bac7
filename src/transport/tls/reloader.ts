// Live TLS material for the authorization listeners. One reloader feeds both: the gRPC server
// through grpc-js's CertificateProvider interface (createCertificateProviderServerCredentials
// re-applies it with setSecureContext, no restart), the HTTPS server through onChange.
//
// Why not grpc-js's FileWatcherCertificateProvider: it polls only, and a bad or half-written
// file makes it publish "no credentials", after which grpc-js drops every new connection. Here a
// replacement is checked first (files.ts) and a bad one keeps the last good material, is logged
// and counted (zt_authz_tls_reload_total{result="error"}) once per distinct content.
//
// Change detection is the config file's (src/config/file-watch.ts): the directories are watched,
// because Kubernetes Secret volumes (cert-manager) update by renaming a new `..data` symlink into
// place; events are debounced, contents hashed, and the files are polled every reloadSeconds.
import type * as grpc from '@grpc/grpc-js';
import { watchFiles, type FileWatch } from '../../config/file-watch.js';
import { checkTlsBytes, readTlsBytes, readTlsFiles, TlsFileError, type TlsFileSettings, type TlsMaterial } from './files.js';

type CertificateProvider = grpc.experimental.CertificateProvider;
type IdentityListener = grpc.experimental.IdentityCertificateUpdateListener;
type CaListener = grpc.experimental.CaCertificateUpdateListener;

export interface TlsReloaderSettings extends TlsFileSettings {
  /** Poll interval; 0: file events only. */
  reloadSeconds: number;
}

export type TlsReloadEvent = { result: 'success'; material: TlsMaterial } | { result: 'error'; field: string; file: string; error: string };

export interface TlsReloaderHooks {
  /** After every check that found changed files: applied, or rejected (last good kept). */
  onReload?: (e: TlsReloadEvent) => void;
  onWatchError?: (dir: string, message: string) => void;
}

export class TlsReloader implements CertificateProvider {
  private material: TlsMaterial;
  /** Hash of the last rejected content: a bad file is reported once, not on every poll. */
  private rejectedHash: string | undefined;
  private readonly changeListeners = new Set<(m: TlsMaterial) => void>();
  private readonly identityListeners = new Set<IdentityListener>();
  private readonly caListeners = new Set<CaListener>();
  private watch: FileWatch | undefined;
  private stopped = false;

  /** Reads and checks the files now; throws TlsFileError (start-up is fatal on bad files). */
  constructor(
    private readonly settings: TlsReloaderSettings,
    private readonly hooks: TlsReloaderHooks = {},
  ) {
    this.material = readTlsFiles(settings);
  }

  get current(): TlsMaterial {
    return this.material;
  }

  get mutualTls(): boolean {
    return this.settings.clientCaFile !== undefined;
  }

  /** Called with the new material after each successful reload (the HTTPS server). */
  onChange(fn: (m: TlsMaterial) => void): void {
    this.changeListeners.add(fn);
  }

  /** Watch the files' directories and poll; idempotent. */
  start(debounceMs = 100): void {
    if (this.stopped || this.watch) return;
    const files = [this.settings.certFile, this.settings.keyFile, ...(this.settings.clientCaFile ? [this.settings.clientCaFile] : [])];
    this.watch = watchFiles(files, {
      debounceMs,
      pollSeconds: this.settings.reloadSeconds,
      onChange: () => this.check(),
      onWatchError: (dir, message) => this.hooks.onWatchError?.(dir, message),
    });
  }

  stop(): void {
    this.stopped = true;
    this.watch?.close();
  }

  /**
   * Re-read the files: 'unchanged' (same bytes), 'reloaded' (new material applied to every
   * listener), or 'rejected' (unreadable or invalid: the last good material stays).
   */
  check(): 'unchanged' | 'reloaded' | 'rejected' {
    let next: TlsMaterial;
    let hash: string | undefined;
    try {
      const bytes = readTlsBytes(this.settings);
      hash = bytes.hash;
      if (hash === this.material.hash) {
        this.rejectedHash = undefined;
        return 'unchanged';
      }
      if (hash === this.rejectedHash) return 'rejected';
      next = checkTlsBytes(this.settings, bytes);
    } catch (err) {
      // An unreadable file has no hash: the same error is reported on each check (rare: a
      // Secret volume never shows a missing file; a manual `rm` does until fixed).
      if (hash !== undefined) this.rejectedHash = hash;
      const e = err instanceof TlsFileError ? err : new TlsFileError('certFile', this.settings.certFile, (err as Error).message);
      this.hooks.onReload?.({ result: 'error', field: e.field, file: e.file, error: e.message });
      return 'rejected';
    }
    this.material = next;
    this.rejectedHash = undefined;
    for (const l of this.identityListeners) l({ certificate: next.cert, privateKey: next.key });
    if (next.ca) for (const l of this.caListeners) l({ caCertificate: next.ca });
    for (const l of this.changeListeners) l(next);
    this.hooks.onReload?.({ result: 'success', material: next });
    return 'reloaded';
  }

  // grpc-js CertificateProvider: listeners get the current material right away (on the next
  // tick, as grpc-js's own providers do) and every reload after that.

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    // The material current when the tick runs: a reload in between must not be undone.
    process.nextTick(
      () => this.identityListeners.has(listener) && listener({ certificate: this.material.cert, privateKey: this.material.key }),
    );
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    process.nextTick(() => {
      const ca = this.material.ca;
      if (ca && this.caListeners.has(listener)) listener({ caCertificate: ca });
    });
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }
}
