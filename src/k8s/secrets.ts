// Issuer keys from Kubernetes Secrets (issuers[].jwksSecret): one informer per distinct Secret
// (namespace, name), whose list and watch carry fieldSelector=metadata.name=NAME, so RBAC can
// grant get/list/watch on that one name (`resourceNames`) instead of every Secret. Each change of
// the Secret is pushed to the JWKS managers of the issuers that use it (JwksPushFeed); they
// validate it like a fetched key set and keep their last-known-good set when it is bad.
//
//  - Secret missing at start: issuers get no keys (not ready, tokens → jwks_unavailable).
//  - Secret updated: the new key set applies at once (rotation; revocation = remove the key).
//  - Secret deleted: issuers KEEP their last-known-good keys (a deletion is more often an
//    accident or a re-create than a revocation); counted as a failed update and logged.
//  - Key material is never logged: only namespace/name, data key, resourceVersion and a hash.
import { createHash } from 'node:crypto';
import type { CoreV1Api, Watch } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { JwksPush, JwksPushFeed } from '../authn/jwks/options.js';
import type { SecretKeyFeeds } from '../authn/key-resolvers.js';
import { Informer, pageParams, type KubeList, type KubeObject } from './informer.js';

export interface SecretObject extends KubeObject {
  type?: string;
  /** Base64 values, as the API serves them (stringData is write-only). */
  data?: Record<string, string>;
}

export interface SecretRef {
  namespace: string;
  name: string;
  /** Data key holding the JWKS JSON document. */
  key: string;
}

export interface SecretFeedsOptions {
  /** For jwksSecret without a namespace: the namespace zt-authz runs in, if known. */
  defaultNamespace?: string | undefined;
  logger: Logger;
  core: CoreV1Api;
  newWatch: () => Watch;
  resyncMs: number;
  backoffMinMs: number;
  backoffMaxMs: number;
}

interface Listener {
  key: string;
  push: (u: JwksPush) => void;
}

type SecretState = { kind: 'present'; obj: SecretObject } | { kind: 'absent'; why: 'not found' | 'deleted' };

interface Watched {
  namespace: string;
  name: string;
  informer: Informer<SecretObject>;
  listeners: Set<Listener>;
  /** Undefined until the first list answered. */
  state: SecretState | undefined;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** 12 hex characters of SHA-256: enough to tell versions apart in logs, reveals nothing. */
const hash12 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex').slice(0, 12);

/** The only parts of a Secret kept in memory (no annotations: kubectl's last-applied-configuration copies the data). */
function stripSecret(s: SecretObject): SecretObject {
  const m = s.metadata;
  return {
    metadata: {
      name: m.name,
      ...(m.namespace ? { namespace: m.namespace } : {}),
      ...(m.uid ? { uid: m.uid } : {}),
      ...(m.resourceVersion ? { resourceVersion: m.resourceVersion } : {}),
    },
    ...(s.data ? { data: s.data } : {}),
  };
}

/** What one data key of a Secret state means for an issuer. Messages name nothing but the key. */
function updateFor(state: SecretState, key: string): JwksPush {
  if (state.kind === 'absent') {
    return {
      kind: 'error',
      error:
        state.why === 'deleted'
          ? 'the Secret was deleted; keeping the last-known-good keys (to revoke a key, update the Secret)'
          : 'the Secret does not exist',
    };
  }
  const value = state.obj.data && Object.hasOwn(state.obj.data, key) ? state.obj.data[key] : undefined;
  if (typeof value !== 'string') return { kind: 'error', error: 'the Secret has no such data key' };
  if (value.length % 4 !== 0 || !BASE64.test(value)) return { kind: 'error', error: 'the data value is not base64' };
  return { kind: 'document', bytes: Buffer.from(value, 'base64') };
}

export class SecretFeeds implements SecretKeyFeeds {
  private readonly watched = new Map<string, Watched>();
  private started = false;
  private stopped = false;
  readonly defaultNamespace: string | undefined;

  constructor(private readonly opts: SecretFeedsOptions) {
    this.defaultNamespace = opts.defaultNamespace || undefined;
  }

  /** Secrets currently watched, "namespace/name" (for logs and tests). */
  get names(): string[] {
    return [...this.watched.keys()];
  }

  /** The informer of one watched Secret (tests). */
  informer(namespace: string, name: string): Informer<SecretObject> | undefined {
    return this.watched.get(`${namespace}/${name}`)?.informer;
  }

  feed(ref: SecretRef): JwksPushFeed {
    return { subscribe: (push) => this.subscribe(ref, push) };
  }

  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    for (const w of this.watched.values()) w.informer.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.watched.values()].map((w) => w.informer.stop()));
  }

  private subscribe(ref: SecretRef, push: (u: JwksPush) => void): () => void {
    const id = `${ref.namespace}/${ref.name}`;
    const w = this.watched.get(id) ?? this.watch(ref.namespace, ref.name);
    const l: Listener = { key: ref.key, push };
    w.listeners.add(l);
    // Replay what is known, synchronously: a manager created by a config reload holds the keys
    // before its snapshot is published.
    if (w.state) l.push(updateFor(w.state, l.key));
    return () => {
      w.listeners.delete(l);
      // A reload retires the old manager before starting its replacement (same Secret): tear the
      // informer down only if nobody subscribed again by then, so its state is not lost.
      queueMicrotask(() => {
        if (w.listeners.size > 0 || this.watched.get(id) !== w) return;
        this.watched.delete(id);
        void w.informer.stop();
      });
    };
  }

  private watch(namespace: string, name: string): Watched {
    const { core, logger } = this.opts;
    const fieldSelector = `metadata.name=${name}`;
    const w: Watched = {
      namespace,
      name,
      listeners: new Set(),
      state: undefined,
      informer: undefined as unknown as Informer<SecretObject>,
    };
    w.informer = new Informer<SecretObject>({
      name: `secret ${namespace}/${name} (issuer keys)`,
      watch: this.opts.newWatch(),
      path: `/api/v1/namespaces/${namespace}/secrets`,
      fieldSelector,
      list: (page) =>
        core.listNamespacedSecret({ namespace, fieldSelector, ...pageParams(page) }) as unknown as Promise<KubeList<SecretObject>>,
      transform: stripSecret,
      resyncMs: this.opts.resyncMs,
      backoffMinMs: this.opts.backoffMinMs,
      backoffMaxMs: this.opts.backoffMaxMs,
      logger,
      onEvent: (type, obj) => {
        // The field selector should make this impossible; never let another Secret's data in.
        if (obj.metadata.name !== name || (obj.metadata.namespace !== undefined && obj.metadata.namespace !== namespace)) return;
        if (type === 'delete') {
          this.set(w, { kind: 'absent', why: 'deleted' });
          logger.warn(
            { jwksSecret: `${namespace}/${name}` },
            'JWKS Secret deleted; its issuers keep their last-known-good keys (to revoke a key, update the Secret)',
          );
        } else {
          this.set(w, { kind: 'present', obj });
        }
      },
      onSynced: () => {
        if (w.state) return;
        const found = [...w.informer.store.values()].find((o) => o.metadata.name === name);
        if (found) return; // reported by onEvent
        this.set(w, { kind: 'absent', why: 'not found' });
        logger.warn({ jwksSecret: `${namespace}/${name}` }, 'JWKS Secret not found; its issuers have no keys until it is created');
      },
    });
    this.watched.set(`${namespace}/${name}`, w);
    if (this.started && !this.stopped) w.informer.start();
    return w;
  }

  private set(w: Watched, state: SecretState): void {
    w.state = state;
    if (state.kind === 'present') {
      const keys = [...new Set([...w.listeners].map((l) => l.key))];
      const hashes = Object.fromEntries(
        keys.map((k) => {
          const u = updateFor(state, k);
          return [k, u.kind === 'document' ? hash12(u.bytes) : 'missing'];
        }),
      );
      this.opts.logger.info(
        { jwksSecret: `${w.namespace}/${w.name}`, resourceVersion: state.obj.metadata.resourceVersion, sha256: hashes },
        'JWKS Secret changed',
      );
    }
    for (const l of [...w.listeners]) l.push(updateFor(state, l.key));
  }
}
