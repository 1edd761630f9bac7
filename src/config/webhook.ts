// Resolved `webhook:` configuration (the sidecar-injection admission webhook, src/webhook): the
// schema's defaults are already filled in by validation; this checks the cross-field rules.
import type { WebhookInput } from './webhook-schema.js';
import type { ConfigProblem } from './problems.js';

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
  /** Extra environment variables, after the ones the webhook sets. */
  env: Array<{ name: string; value: string }>;
  resources: ContainerResources;
  /** Add prometheus.io/* scrape annotations (admin port) to pods that have none. */
  prometheusAnnotations: boolean;
  /** The mesh's global.proxy.excludeInboundPorts: the start of the annotation on pods without one. */
  istioExcludeInboundPorts: number[];
}

/** Variables the webhook sets on the injected container itself (inject.ts). */
export const INJECT_RESERVED_ENV: readonly string[] = ['POD_NAME', 'POD_NAMESPACE', 'POD_IP'];

export interface WebhookConfig {
  enabled: boolean;
  address: string;
  /** '' when unset (allowed only while the webhook is disabled). */
  certFile: string;
  keyFile: string;
  path: string;
  failurePolicy: 'Fail' | 'Ignore';
  inject: InjectConfig;
}

/**
 * The webhook block with its schema defaults filled in (`!`: validation applied every default).
 * certFile, keyFile and inject.image have no default: '' stands for "not set".
 */
export function resolveWebhook(w: WebhookInput): WebhookConfig {
  const i = w.inject!;
  const requests = i.resources!.requests!;
  const limits = i.resources!.limits!;
  return {
    enabled: w.enabled!,
    address: w.address!,
    certFile: w.certFile ?? '',
    keyFile: w.keyFile ?? '',
    path: w.path!,
    failurePolicy: w.failurePolicy!,
    inject: {
      image: i.image ?? '',
      imagePullPolicy: i.imagePullPolicy!,
      configMap: i.configMap!,
      configKey: i.configKey!,
      grpcPort: i.grpcPort!,
      httpPort: i.httpPort!,
      adminPort: i.adminPort!,
      runAsUser: i.runAsUser!,
      env: i.env!.map((e) => ({ name: e.name, value: e.value })),
      prometheusAnnotations: i.prometheusAnnotations!,
      istioExcludeInboundPorts: [...i.istioExcludeInboundPorts!],
      resources: {
        requests: { cpu: requests.cpu!, memory: requests.memory! },
        limits: { cpu: limits.cpu!, memory: limits.memory! },
      },
    },
  };
}

/** Rules the schema cannot express (input with defaults filled). */
export function webhookProblems(w: WebhookInput): ConfigProblem[] {
  if (!w.enabled) return [];
  const out: ConfigProblem[] = [];
  if (!w.certFile)
    out.push({ path: 'webhook.certFile', message: 'is required when webhook.enabled (the API server only calls webhooks over HTTPS)' });
  if (!w.keyFile) out.push({ path: 'webhook.keyFile', message: 'is required when webhook.enabled' });
  if (!w.inject?.image)
    out.push({ path: 'webhook.inject.image', message: 'is required when webhook.enabled (the image of the injected zt-authz container)' });
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
  // A duplicate would be resolved by Kubernetes (the last entry wins), silently overriding the
  // pod identity the sidecar reports or another entry.
  const seen = new Set(INJECT_RESERVED_ENV);
  r.env.forEach((e, i) => {
    if (seen.has(e.name))
      out.push({
        path: `webhook.inject.env[${i}].name`,
        message: INJECT_RESERVED_ENV.includes(e.name) ? `${e.name} is set by the webhook` : `${e.name} is listed twice`,
      });
    seen.add(e.name);
  });
  return out;
}
