// Kubernetes integration: informers for ZeroTrustPolicy resources and Pods (a namespace list or
// cluster-wide), the policy set they feed, the pod IP → workload map, status write-back, and the
// Secrets that hold issuer keys (issuers[].jwksSecret, one narrowed watch per Secret), and
// TokenRevocation resources feeding the revocation list (k8s/revocations.ts).
import type { Logger } from 'pino';
import type { KubernetesConfig } from '../config/types.js';
import type { KubeClients } from './client.js';
import { Informer, pageParams, type InformerEvent, type KubeList } from './informer.js';
import { CRD, PolicySet, StatusWriter, type PolicyObject } from './policies.js';
import { stripPod, WorkloadMap, type PodObject } from './workloads.js';
import { SecretFeeds } from './secrets.js';
import { ApiKeySecrets } from './apikey-secrets.js';
import { REVOCATION_CRD, RevocationSet, type RevocationObject } from './revocations.js';
import type { RevocationList } from '../authn/revocation/list.js';

export interface KubernetesSyncOptions {
  logger: Logger;
  rolesClaim: () => string;
  /** Policies or bindings changed: rebuild the snapshot. */
  onChange: (why: string) => void;
  onRejected: (key: string, message: string) => void;
  /** Every informer has listed once. */
  onSynced: () => void;
  /** Watch TokenRevocation resources into this list (revocation.kubernetes). */
  revocations?: RevocationList;
  /** A TokenRevocation was rejected, or applied. */
  onRevocation?: (result: 'success' | 'error') => void;
}

export class KubernetesSync {
  readonly policies: PolicySet;
  readonly workloads: WorkloadMap | undefined;
  readonly informers: Array<Informer<PolicyObject> | Informer<PodObject> | Informer<RevocationObject>> = [];
  readonly revocations: RevocationSet | undefined;
  readonly status: StatusWriter | undefined;
  /**
   * Issuer-key Secrets, watched while a JWKS manager subscribes to them (issuers can change on
   * reload). Not part of `synced`: readiness waits for those issuers' keys instead.
   */
  readonly secrets: SecretFeeds;
  /** Labelled Secrets of API-key sources (apiKeys[].keysSecretSelector), watched while a source subscribes. */
  readonly apiKeySecrets: ApiKeySecrets;
  private readonly clients: KubeClients;
  private wasSynced = false;

  /**
   * @kubernetes/client-node is loaded only here, when Kubernetes is enabled: importing it costs
   * ~0.8 s of start-up, which plain `serve` (and every CLI command) should not pay.
   */
  static async create(config: KubernetesConfig, opts: KubernetesSyncOptions): Promise<KubernetesSync> {
    const { kubeClients } = await import('./client.js');
    return new KubernetesSync(config, opts, kubeClients(config));
  }

  private constructor(
    readonly config: KubernetesConfig,
    private readonly opts: KubernetesSyncOptions,
    clients: KubeClients,
  ) {
    this.clients = clients;
    const { logger } = opts;
    this.status = config.writeStatus ? new StatusWriter(this.clients.custom, logger) : undefined;
    this.policies = new PolicySet({
      logger,
      rootNamespace: config.rootNamespace,
      rolesClaim: opts.rolesClaim,
      onChange: () => opts.onChange('ZeroTrustPolicy changed'),
      onRejected: opts.onRejected,
      ...(this.status ? { status: this.status } : {}),
    });
    this.workloads = config.watchPods
      ? new WorkloadMap(logger, config.rootNamespace, () => opts.onChange('pod policy bindings changed'), config.dryRunAnnotationNamespaces)
      : undefined;

    const revList = opts.revocations;
    this.revocations = revList
      ? new RevocationSet({
          list: revList,
          logger,
          onRejected: () => opts.onRevocation?.('error'),
          onApplied: () => opts.onRevocation?.('success'),
        })
      : undefined;

    const scopes: Array<string | undefined> = config.namespaces.length ? config.namespaces : [undefined];
    const common = {
      resyncMs: config.resyncSeconds * 1000,
      backoffMinMs: config.backoffMinMs,
      backoffMaxMs: config.backoffMaxMs,
      logger,
      onSynced: () => this.checkSynced(),
    };
    const { custom, core } = this.clients;
    // The namespace zt-authz runs in (jwksSecret default): the downward API, else the context's
    // (in cluster: the service account's namespace file).
    const ownNamespace = process.env.POD_NAMESPACE || this.clients.kc.getContextObject(this.clients.kc.getCurrentContext())?.namespace;
    this.secrets = new SecretFeeds({
      defaultNamespace: ownNamespace,
      logger,
      core,
      newWatch: () => this.clients.newWatch(),
      resyncMs: common.resyncMs,
      backoffMinMs: config.backoffMinMs,
      backoffMaxMs: config.backoffMaxMs,
    });
    this.apiKeySecrets = new ApiKeySecrets({
      defaultNamespace: ownNamespace,
      logger,
      core,
      newWatch: () => this.clients.newWatch(),
      resyncMs: common.resyncMs,
      backoffMinMs: config.backoffMinMs,
      backoffMaxMs: config.backoffMaxMs,
    });
    for (const ns of scopes) {
      const where = ns ? `namespace ${ns}` : 'all namespaces';
      // One informer per custom resource kind and scope, listed and watched the same way.
      const customObjects = <T extends PolicyObject | RevocationObject>(
        crd: { group: string; version: string; plural: string },
        onEvent: (type: InformerEvent, obj: T) => void,
      ): Informer<T> =>
        new Informer<T>({
          ...common,
          name: `${crd.plural} (${where})`,
          watch: this.clients.newWatch(),
          path: ns ? `/apis/${crd.group}/${crd.version}/namespaces/${ns}/${crd.plural}` : `/apis/${crd.group}/${crd.version}/${crd.plural}`,
          list: (page) =>
            (ns
              ? custom.listNamespacedCustomObject({
                  group: crd.group,
                  version: crd.version,
                  namespace: ns,
                  plural: crd.plural,
                  ...pageParams(page),
                })
              : custom.listClusterCustomObject({
                  group: crd.group,
                  version: crd.version,
                  plural: crd.plural,
                  ...pageParams(page),
                })) as Promise<KubeList<T>>,
          onEvent,
        });
      this.informers.push(customObjects<PolicyObject>(CRD, (type, obj) => this.policies.apply(type, obj)));
      if (this.revocations) {
        const revs = this.revocations;
        // Part of `synced`: until TokenRevocations are listed, nothing is allowed (no policies).
        this.informers.push(customObjects<RevocationObject>(REVOCATION_CRD, (type, obj) => revs.apply(type, obj)));
      }
      if (this.workloads) {
        const wl = this.workloads;
        this.informers.push(
          new Informer<PodObject>({
            ...common,
            name: `pods (${where})`,
            watch: this.clients.newWatch(),
            path: ns ? `/api/v1/namespaces/${ns}/pods` : '/api/v1/pods',
            list: (page) =>
              (ns
                ? core.listNamespacedPod({ namespace: ns, ...pageParams(page) })
                : core.listPodForAllNamespaces(pageParams(page))) as unknown as Promise<KubeList<PodObject>>,
            transform: stripPod,
            onEvent: (type, obj) => wl.apply(type, obj),
          }),
        );
      }
    }
  }

  get server(): string {
    return this.clients.server;
  }

  /** Every informer has listed at least once (later outages keep the last-known state). */
  get synced(): boolean {
    return this.informers.every((i) => i.hasSynced);
  }

  start(): void {
    this.opts.logger.info(
      {
        server: this.server,
        namespaces: this.config.namespaces.length ? this.config.namespaces : 'all',
        pods: this.config.watchPods,
        tokenRevocations: this.revocations !== undefined,
        status: this.config.writeStatus,
        secrets: this.secrets.names,
      },
      'watching Kubernetes',
    );
    for (const i of this.informers) i.start();
    this.secrets.start();
    this.apiKeySecrets.start();
  }

  async stop(): Promise<void> {
    this.status?.stop();
    await Promise.all([...this.informers.map((i) => i.stop()), this.secrets.stop(), this.apiKeySecrets.stop()]);
  }

  private checkSynced(): void {
    if (this.wasSynced || !this.synced) return;
    this.wasSynced = true;
    this.opts.logger.info(
      { policies: this.policies.size, pods: this.workloads?.size ?? 0, tokenRevocations: this.revocations?.size ?? 0 },
      'Kubernetes resources synced',
    );
    this.opts.onSynced();
  }
}
