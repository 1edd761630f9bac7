// API keys from Kubernetes Secrets (apiKeys[].keysSecretSelector): one informer per distinct
// (namespace, label selector), whose list and watch carry labelSelector, so only the labelled
// Secrets are ever read. Each Secret's `keys.yaml` is a keys document (hashes only); the source's
// registry (src/authn/apikeys/registry.ts) validates it and keeps the Secret's last good keys when
// an update is bad. A deleted Secret takes its keys with it. Only namespace/name are logged.
import type { CoreV1Api, Watch } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { ApiKeySecretFeed, ApiKeySecretUpdate } from '../authn/apikeys/registry.js';
import { Informer, pageParams, type KubeList } from './informer.js';
import type { SecretObject } from './secrets.js';

/** The data key of a Secret that holds its keys document. */
export const API_KEYS_DATA_KEY = 'keys.yaml';

export interface ApiKeySecretsOptions {
  defaultNamespace: string | undefined;
  logger: Logger;
  core: CoreV1Api;
  newWatch: () => Watch;
  resyncMs: number;
  backoffMinMs: number;
  backoffMaxMs: number;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function updateFor(obj: SecretObject, origin: string): ApiKeySecretUpdate {
  const value = obj.data && Object.hasOwn(obj.data, API_KEYS_DATA_KEY) ? obj.data[API_KEYS_DATA_KEY] : undefined;
  if (typeof value !== 'string') return { kind: 'error', origin, error: `the Secret has no ${API_KEYS_DATA_KEY} data key` };
  if (value.length % 4 !== 0 || !BASE64.test(value)) return { kind: 'error', origin, error: `${API_KEYS_DATA_KEY} is not base64` };
  return { kind: 'document', origin, text: Buffer.from(value, 'base64').toString('utf8') };
}

/** Only name, namespace and the keys document are kept (no annotations: last-applied copies the data). */
function strip(s: SecretObject): SecretObject {
  const m = s.metadata;
  const v = s.data && Object.hasOwn(s.data, API_KEYS_DATA_KEY) ? s.data[API_KEYS_DATA_KEY] : undefined;
  return {
    metadata: {
      name: m.name,
      ...(m.namespace ? { namespace: m.namespace } : {}),
      ...(m.resourceVersion ? { resourceVersion: m.resourceVersion } : {}),
    },
    ...(typeof v === 'string' ? { data: { [API_KEYS_DATA_KEY]: v } } : {}),
  };
}

export function labelSelectorText(matchLabels: Readonly<Record<string, string>>): string {
  return Object.entries(matchLabels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

export class ApiKeySecrets implements ApiKeySecretFeed {
  private readonly informers = new Set<Informer<SecretObject>>();
  private started = false;
  private stopped = false;

  constructor(private readonly opts: ApiKeySecretsOptions) {}

  subscribe(selector: { matchLabels: Record<string, string>; namespace?: string }, push: (u: ApiKeySecretUpdate) => void): () => void {
    const { core, logger } = this.opts;
    const namespace = selector.namespace ?? this.opts.defaultNamespace ?? 'default';
    const labelSelector = labelSelectorText(selector.matchLabels);
    const origin = (name: string): string => `secret ${namespace}/${name}`;
    const informer: Informer<SecretObject> = new Informer<SecretObject>({
      name: `secrets ${namespace} (${labelSelector}, API keys)`,
      watch: this.opts.newWatch(),
      path: `/api/v1/namespaces/${namespace}/secrets`,
      labelSelector,
      list: (page) =>
        core.listNamespacedSecret({ namespace, labelSelector, ...pageParams(page) }) as unknown as Promise<KubeList<SecretObject>>,
      transform: strip,
      resyncMs: this.opts.resyncMs,
      backoffMinMs: this.opts.backoffMinMs,
      backoffMaxMs: this.opts.backoffMaxMs,
      logger,
      onEvent: (type, obj) => {
        if (obj.metadata.namespace !== undefined && obj.metadata.namespace !== namespace) return;
        push(type === 'delete' ? { kind: 'deleted', origin: origin(obj.metadata.name) } : updateFor(obj, origin(obj.metadata.name)));
      },
      onSynced: () => push({ kind: 'synced' }),
    });
    this.informers.add(informer);
    if (this.started && !this.stopped) informer.start();
    return () => {
      this.informers.delete(informer);
      void informer.stop();
    };
  }

  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    for (const i of this.informers) i.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.informers].map((i) => i.stop()));
  }
}
