// Resolved `webhook:` configuration: defaults filled, cross-field rules checked.
import type { WebhookInput } from './schema.js';

export interface ContainerResources {
  requests: { cpu?: string; memory?: string };
  limits: { cpu?: string; memory?: string };
}

export interface InjectConfig {
  image: string;
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  configMap: string;
  configKey: string;
  grpcPort: number;
  httpPort: number;
  adminPort: number;
  runAsUser: number;
  resources: ContainerResources;
  /** Add prometheus.io/* scrape annotations (admin port) to pods that have none. */
  prometheusAnnotations: boolean;
  /** The mesh's global.proxy.excludeInboundPorts: the start of the annotation on pods without one. */
  istioExcludeInboundPorts: number[];
}

export interface WebhookConfig {
  enabled: boolean;
  address: string;
  certFile: string;
  keyFile: string;
  path: string;
  failurePolicy: 'Fail' | 'Ignore';
  inject: InjectConfig;
}

export const DEFAULT_SIDECAR_RESOURCES: ContainerResources = {
  requests: { cpu: '50m', memory: '64Mi' },
  limits: { cpu: '500m', memory: '256Mi' },
};

export function resolveWebhook(w: WebhookInput = {}): WebhookConfig {
  const i = w.inject ?? {};
  return {
    enabled: w.enabled ?? false,
    address: w.address ?? '0.0.0.0:9443',
    certFile: w.certFile ?? '',
    keyFile: w.keyFile ?? '',
    path: w.path ?? '/inject',
    failurePolicy: w.failurePolicy ?? 'Fail',
    inject: {
      image: i.image ?? '',
      imagePullPolicy: i.imagePullPolicy ?? 'IfNotPresent',
      configMap: i.configMap ?? 'zt-authz-sidecar',
      configKey: i.configKey ?? 'config.yaml',
      grpcPort: i.grpcPort ?? 9191,
      httpPort: i.httpPort ?? 9192,
      adminPort: i.adminPort ?? 9090,
      runAsUser: i.runAsUser ?? 65532,
      prometheusAnnotations: i.prometheusAnnotations ?? false,
      istioExcludeInboundPorts: [...(i.istioExcludeInboundPorts ?? [])],
      resources: {
        requests: { ...DEFAULT_SIDECAR_RESOURCES.requests, ...(i.resources?.requests ?? {}) },
        limits: { ...DEFAULT_SIDECAR_RESOURCES.limits, ...(i.resources?.limits ?? {}) },
      },
    },
  };
}

/** Rules the schema cannot express; paths as in ConfigProblem. */
export function webhookProblems(w: WebhookInput | undefined): Array<{ path: string; message: string }> {
  if (!w?.enabled) return [];
  const out: Array<{ path: string; message: string }> = [];
  if (!w.certFile) out.push({ path: 'webhook.certFile', message: 'is required when webhook.enabled (the API server only calls webhooks over HTTPS)' });
  if (!w.keyFile) out.push({ path: 'webhook.keyFile', message: 'is required when webhook.enabled' });
  if (!w.inject?.image) out.push({ path: 'webhook.inject.image', message: 'is required when webhook.enabled (the image of the injected zt-authz container)' });
  const r = resolveWebhook(w).inject;
  const ports = [
    ['grpcPort', r.grpcPort],
    ['httpPort', r.httpPort],
    ['adminPort', r.adminPort],
  ] as const;
  ports.forEach(([name, port], i) => {
    const dup = ports.slice(0, i).find(([, p]) => p === port);
    if (dup) out.push({ path: `webhook.inject.${name}`, message: `must differ from webhook.inject.${dup[0]} (${port})` });
  });
  return out;
}
