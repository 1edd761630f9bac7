// The key stores of the configured API-key sources, kept across reloads (like the issuers' key
// resolvers): a source whose settings did not change keeps its store and its watches. The keys
// file is read when the source is created, so a missing or invalid file fails the start or the
// reload that introduced it, with every problem named; later it is watched (config/file-watch.ts)
// and an invalid replacement keeps the last good set, logged and counted. Labelled Secrets come
// through a feed (src/k8s/apikey-secrets.ts) and are held to the same rules, Secret by Secret.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { ResolvedApiKeySource } from '../../config/apikeys-schema.js';
import { ConfigError, type ConfigProblem } from '../../config/problems.js';
import { watchFiles, type FileWatch } from '../../config/file-watch.js';
import { parseKeysFile } from './keys-file.js';
import { ApiKeyStore } from './store.js';

/** The stores for these sources (reusing unchanged ones); `commit` retires the others and starts the new ones' watches. */
export type ApiKeyStores = (sources: readonly ResolvedApiKeySource[]) => { stores: ReadonlyMap<string, ApiKeyStore>; commit: () => void };

/** What one labelled Secret says: its keys document, or that it is gone. Never the key material: only hashes are in it. */
export type ApiKeySecretUpdate =
  | { kind: 'document'; origin: string; text: string }
  | { kind: 'error'; origin: string; error: string }
  | { kind: 'deleted'; origin: string }
  /** The first listing is complete (the Secrets that exist were all reported). */
  | { kind: 'synced' };

export interface ApiKeySecretFeed {
  subscribe(selector: NonNullable<ResolvedApiKeySource['keysSecretSelector']>, push: (u: ApiKeySecretUpdate) => void): () => void;
}

export interface ApiKeyRegistryOptions {
  logger: Logger;
  /** A keys document accepted (`success`) or refused (`error`), and how many keys a source holds. */
  onLoad?: (source: string, result: 'success' | 'error', keys: number) => void;
  watch: { debounceMs: number; pollSeconds: number };
  /** Labelled Secrets (kubernetes.enabled at start). */
  secrets?: () => ApiKeySecretFeed | undefined;
}

interface Runtime {
  fp: string;
  cfg: ResolvedApiKeySource;
  store: ApiKeyStore;
  fileHash?: string;
  watch?: FileWatch;
  unsubscribe?: () => void;
  secretsSynced: boolean;
}

const sha12 = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 12);

function readKeysFile(path: string): { text: string } | { error: string } {
  try {
    return { text: readFileSync(path, 'utf8') };
  } catch (err) {
    return { error: `cannot read: ${(err as NodeJS.ErrnoException).code ?? 'error'}` };
  }
}

function problemsOf(err: unknown): ConfigProblem[] {
  return err instanceof ConfigError ? err.problems : [{ path: '', message: err instanceof Error ? err.message : 'invalid' }];
}

/** Each source's keysFile read once (tools: `zt-authz check`, replay). Throws ConfigError naming every problem. */
export function loadApiKeyStoresOnce(sources: readonly ResolvedApiKeySource[]): Map<string, ApiKeyStore> {
  const stores = new Map<string, ApiKeyStore>();
  for (const cfg of sources) {
    const store = new ApiKeyStore(cfg.name);
    if (cfg.keysFile) {
      const read = readKeysFile(cfg.keysFile);
      if ('error' in read) throw new ConfigError(cfg.keysFile, [{ path: '(file)', message: read.error }]);
      store.setPart(cfg.keysFile, parseKeysFile(read.text, cfg.keysFile));
    }
    stores.set(cfg.name, store);
  }
  return stores;
}

export class ApiKeyRegistry {
  private readonly sources = new Map<string, Runtime>();
  private started = false;

  constructor(private readonly opts: ApiKeyRegistryOptions) {}

  /** Every source has read its file and, with Secrets, listed them once. */
  get ready(): boolean {
    for (const rt of this.sources.values()) if (rt.cfg.keysSecretSelector && !rt.secretsSynced) return false;
    return true;
  }

  readonly storesFor: ApiKeyStores = (sources) => {
    const next = new Map<string, Runtime>();
    const created: Runtime[] = [];
    for (const cfg of sources) {
      const fp = JSON.stringify(cfg);
      const cur = this.sources.get(cfg.name);
      if (cur && cur.fp === fp) {
        next.set(cfg.name, cur);
        continue;
      }
      const rt: Runtime = { fp, cfg, store: new ApiKeyStore(cfg.name), secretsSynced: false };
      if (cfg.keysFile) {
        // At creation a bad file is the configuration's problem: the start or reload fails.
        const read = readKeysFile(cfg.keysFile);
        if ('error' in read) throw new ConfigError(cfg.keysFile, [{ path: '(file)', message: read.error }]);
        const problems = rt.store.setPart(cfg.keysFile, parseKeysFile(read.text, cfg.keysFile));
        if (problems.length) throw new ConfigError(cfg.keysFile, problems);
        rt.fileHash = sha12(read.text);
      }
      created.push(rt);
      next.set(cfg.name, rt);
    }
    const stores = new Map([...next].map(([name, rt]) => [name, rt.store]));
    return {
      stores,
      commit: () => {
        for (const [name, rt] of this.sources) if (next.get(name) !== rt) this.retire(rt);
        this.sources.clear();
        for (const [name, rt] of next) this.sources.set(name, rt);
        for (const rt of created) {
          this.opts.onLoad?.(rt.cfg.name, 'success', rt.store.size);
          if (this.started) this.run(rt);
        }
      },
    };
  };

  start(): void {
    if (this.started) return;
    this.started = true;
    for (const rt of this.sources.values()) this.run(rt);
  }

  stop(): void {
    this.started = false;
    for (const rt of this.sources.values()) this.retire(rt);
  }

  private retire(rt: Runtime): void {
    rt.watch?.close();
    rt.unsubscribe?.();
    rt.watch = undefined;
    rt.unsubscribe = undefined;
  }

  private run(rt: Runtime): void {
    const { logger } = this.opts;
    const source = rt.cfg.name;
    if (rt.cfg.keysFile && !rt.watch) {
      const file = rt.cfg.keysFile;
      rt.watch = watchFiles([file], {
        ...this.opts.watch,
        namedOnly: true,
        onChange: () => this.reloadFile(rt, file),
        onWatchError: (dir, error) =>
          logger.warn({ apiKeySource: source, dir, error }, 'cannot watch the API keys file directory; polling only'),
      });
    }
    const feed = rt.cfg.keysSecretSelector ? this.opts.secrets?.() : undefined;
    if (rt.cfg.keysSecretSelector && !feed) {
      // Cannot happen with a resolved configuration (keysSecretSelector needs kubernetes.enabled).
      logger.error(
        { apiKeySource: source },
        'API keys from Secrets need kubernetes.enabled at start; this source holds only its file keys',
      );
    }
    if (feed && !rt.unsubscribe) rt.unsubscribe = feed.subscribe(rt.cfg.keysSecretSelector!, (u) => this.onSecret(rt, u));
  }

  private reloadFile(rt: Runtime, file: string): void {
    const read = readKeysFile(file);
    if ('error' in read) return this.refused(rt, file, [{ path: '(file)', message: read.error }]);
    const h = sha12(read.text);
    if (h === rt.fileHash) return;
    let problems: ConfigProblem[];
    try {
      problems = rt.store.setPart(file, parseKeysFile(read.text, file));
    } catch (err) {
      problems = problemsOf(err);
    }
    if (problems.length) return this.refused(rt, file, problems);
    rt.fileHash = h;
    this.accepted(rt, file, h);
  }

  private onSecret(rt: Runtime, u: ApiKeySecretUpdate): void {
    if (u.kind === 'synced') {
      rt.secretsSynced = true;
      return;
    }
    if (u.kind === 'deleted') {
      // A deleted Secret revokes its keys: unlike an issuer's JWKS, these are grants, not verification material.
      rt.store.removePart(u.origin);
      this.accepted(rt, u.origin);
      return;
    }
    if (u.kind === 'error') return this.refused(rt, u.origin, [{ path: '', message: u.error }]);
    let problems: ConfigProblem[];
    try {
      problems = rt.store.setPart(u.origin, parseKeysFile(u.text, u.origin));
    } catch (err) {
      problems = problemsOf(err);
    }
    if (problems.length) return this.refused(rt, u.origin, problems);
    this.accepted(rt, u.origin, sha12(u.text));
  }

  private accepted(rt: Runtime, origin: string, sha256?: string): void {
    this.opts.onLoad?.(rt.cfg.name, 'success', rt.store.size);
    this.opts.logger.info({ apiKeySource: rt.cfg.name, origin, keys: rt.store.size, ...(sha256 ? { sha256 } : {}) }, 'API keys changed');
  }

  private refused(rt: Runtime, origin: string, problems: readonly ConfigProblem[]): void {
    this.opts.onLoad?.(rt.cfg.name, 'error', rt.store.size);
    this.opts.logger.warn(
      { apiKeySource: rt.cfg.name, origin, problems: problems.slice(0, 20).map((p) => `${p.path}: ${p.message}`) },
      'API keys update rejected; keeping the last good keys',
    );
  }
}
