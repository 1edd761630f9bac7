#!/usr/bin/env node
// Writes charts/zt-authz/values.schema.json. The `config` and `sidecar.config` parts are the
// service's own configuration schema (ConfigSchema, src/config/schema.ts), so helm rejects what
// `zt-authz validate` would; the chart-level keys are described here. Keys the chart sets itself
// are removed from the config parts: server.grpc/http/admin (from `ports`), webhook (from
// `webhook`), and, for the sidecar, kubernetes (the sidecar runs with the workload's account).
//
//   node scripts/gen-values-schema.mjs          write the file
//   node scripts/gen-values-schema.mjs --check  exit 1 when the file differs (the tests check too)
//
// Needs a build first (npm run build): it reads dist/src/config/schema.js.
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { writeOrCheck } from './generated-file.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const OUT = join(root, 'charts/zt-authz/values.schema.json');

/** The alert names of the chart's rule file (metrics.prometheusRule.alerts may override only those). */
const alertNames = () =>
  parseYaml(readFileSync(join(root, 'charts/zt-authz/files/alerts.yaml'), 'utf8'))
    .groups.flatMap((g) => g.rules.map((r) => r.alert))
    .filter(Boolean);

/** Plain JSON copy of a TypeBox schema (drops TypeBox's symbol keys). */
const plain = (s) => JSON.parse(JSON.stringify(s));

export async function valuesSchema() {
  const { ConfigSchema } = await import(pathToFileURL(join(root, 'dist/src/config/schema.js')).href);
  const { WebhookSchema } = await import(pathToFileURL(join(root, 'dist/src/config/webhook-schema.js')).href);

  const configFor = (kind) => {
    const s = plain(ConfigSchema);
    for (const k of ['grpc', 'http', 'admin', 'tls']) delete s.properties.server.properties[k];
    delete s.properties.webhook;
    // The Deployment's tokenIssuer comes from the chart's `tokenIssuer` values (they also render its
    // key volume or Secret Role); injected sidecars have no key volume, so neither takes it here.
    delete s.properties.tokenIssuer;
    if (kind === 'sidecar') delete s.properties.kubernetes;
    s.description =
      kind === 'sidecar'
        ? 'zt-authz configuration of injected sidecars (src/config/schema.ts); the chart sets server.grpc/http (127.0.0.1), server.admin and kubernetes.enabled: false (no server.tls on loopback)'
        : 'zt-authz configuration (src/config/schema.ts); the chart sets server.grpc/http/admin from `ports`, server.tls from `tls`, `webhook` from the webhook values and `tokenIssuer` from the tokenIssuer values';
    return s;
  };
  const inject = plain(WebhookSchema).properties.inject.properties;

  const obj = (properties, extra = {}) => ({ type: 'object', additionalProperties: false, properties, ...extra });
  const str = (extra = {}) => ({ type: 'string', ...extra });
  const bool = { type: 'boolean' };
  const int = (minimum, maximum) => ({
    type: 'integer',
    ...(minimum !== undefined ? { minimum } : {}),
    ...(maximum !== undefined ? { maximum } : {}),
  });
  const port = int(1, 65535);
  // Prometheus rule fields (metrics.prometheusRule): a duration and a label set as Prometheus reads them.
  const promDuration = str({ pattern: '^([0-9]+(ms|s|m|h|d|w|y))+$' });
  const optionalNamespace = str({
    pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$',
    maxLength: 63,
    description: 'empty: the release namespace',
  });
  // patternProperties rather than propertyNames: helm's error then names the path.
  const promLabels = { type: 'object', patternProperties: { '^[a-zA-Z_][a-zA-Z0-9_]*$': { type: 'string' } }, additionalProperties: false };
  const stringMap = { type: 'object', additionalProperties: { type: 'string' } };
  const anyObject = { type: 'object' };
  const list = (items, extra = {}) => ({ type: 'array', items, ...extra });
  const quantity = { type: ['string', 'number'] };
  const resources = obj({
    requests: { type: 'object', additionalProperties: quantity },
    limits: { type: 'object', additionalProperties: quantity },
  });
  const dnsLabel = str({ pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 });
  const dnsSubdomain = str({ pattern: '^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$', maxLength: 253 });
  const labelSelector = obj({
    matchLabels: stringMap,
    matchExpressions: list(
      obj(
        { key: str({ minLength: 1 }), operator: { enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] }, values: list(str()) },
        { required: ['key', 'operator'] },
      ),
    ),
  });
  // A NetworkPolicyPeer: at least one of its fields (an empty peer is no restriction at all).
  const peer = obj(
    {
      podSelector: labelSelector,
      namespaceSelector: labelSelector,
      ipBlock: obj({ cidr: str({ minLength: 1 }), except: list(str({ minLength: 1 })) }, { required: ['cidr'] }),
    },
    { minProperties: 1, description: 'NetworkPolicyPeer: podSelector and/or namespaceSelector, or ipBlock' },
  );

  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $comment:
      'Generated by scripts/gen-values-schema.mjs from src/config/schema.ts. Do not edit: run npm run build && node scripts/gen-values-schema.mjs',
    title: 'zt-authz chart values',
    type: 'object',
    additionalProperties: false,
    properties: {
      global: anyObject,
      mode: { enum: ['central', 'sidecar'], description: 'central: Deployment + Service; sidecar: also the injection webhook' },
      image: obj({
        repository: str({ minLength: 1 }),
        tag: str({ pattern: '^[A-Za-z0-9_.-]{0,128}$' }),
        digest: str({ pattern: '^(sha256:[0-9a-f]{64})?$' }),
        pullPolicy: { enum: ['Always', 'IfNotPresent', 'Never'] },
      }),
      imagePullSecrets: list(obj({ name: str({ minLength: 1 }) }, { required: ['name'] })),
      nameOverride: str({ maxLength: 63 }),
      fullnameOverride: str({ maxLength: 63 }),
      clusterDomain: str({ minLength: 1 }),
      config: configFor('central'),
      ports: obj({ grpc: port, http: port, admin: port, webhook: port }, { required: ['grpc', 'http', 'admin', 'webhook'] }),
      service: obj({ type: { enum: ['ClusterIP', 'NodePort', 'LoadBalancer'] }, annotations: stringMap }),
      replicaCount: int(1),
      autoscaling: obj({ enabled: bool, minReplicas: int(1), maxReplicas: int(1), targetCPUUtilizationPercentage: int(1, 100) }),
      podDisruptionBudget: obj({ enabled: bool, maxUnavailable: { type: ['integer', 'string'], pattern: '^[0-9]+%?$', minimum: 0 } }),
      topologySpread: obj({ enabled: bool, maxSkew: int(1), whenUnsatisfiable: { enum: ['ScheduleAnyway', 'DoNotSchedule'] } }),
      resources,
      runAsUser: int(1),
      terminationGracePeriodSeconds: int(0),
      podAnnotations: stringMap,
      podLabels: stringMap,
      nodeSelector: stringMap,
      tolerations: list(anyObject),
      affinity: anyObject,
      priorityClassName: str(),
      // Escape hatches (docs/kubernetes-helm.md#adapting-the-chart): Kubernetes shapes, checked
      // only as far as a mistake would otherwise surface late (a name-less env var or volume).
      commonLabels: {
        type: 'object',
        // The chart's own labels are refused by the template too; the schema names the key earlier.
        propertyNames: { maxLength: 316, not: { pattern: '^(app\\.kubernetes\\.io|helm\\.sh)/' } },
        additionalProperties: str({ maxLength: 63, pattern: '^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$' }),
        description: "labels on every object; not the chart's own app.kubernetes.io/* and helm.sh/* labels",
      },
      // POD_NAME and POD_NAMESPACE are the chart's own (a duplicate would silently win or lose).
      extraEnv: list({
        type: 'object',
        required: ['name'],
        properties: { name: str({ minLength: 1, not: { enum: ['POD_NAME', 'POD_NAMESPACE'] } }), value: str(), valueFrom: anyObject },
      }),
      extraArgs: list(str()),
      extraVolumes: list({ type: 'object', required: ['name'], properties: { name: dnsLabel } }),
      extraVolumeMounts: list({
        type: 'object',
        required: ['name', 'mountPath'],
        properties: { name: str({ minLength: 1 }), mountPath: str({ minLength: 1 }) },
      }),
      extraObjects: list({ type: ['object', 'string'] }),
      podSecurityContext: anyObject,
      containerSecurityContext: anyObject,
      crds: obj({
        enabled: { ...bool, description: 'render the ZeroTrustPolicy and TokenRevocation CRDs with the release' },
        keep: { ...bool, description: 'annotate the CRDs helm.sh/resource-policy: keep (helm uninstall leaves them)' },
      }),
      serviceAccount: obj({ create: bool, name: str(), annotations: stringMap }),
      rbac: obj({
        create: bool,
        // Removed option, kept so values files written for earlier versions still pass `helm upgrade`.
        secrets: {
          type: 'boolean',
          description:
            'deprecated and ignored: the Secret Role now follows config.issuers[].jwksSecret (only the Secrets named there, by name)',
        },
      }),
      metrics: obj({
        serviceMonitor: obj({
          enabled: {
            oneOf: [{ type: 'boolean' }, { type: 'string', enum: ['auto'] }],
            description: 'auto: when the monitoring.coreos.com/v1 API exists',
          },
          interval: str({ pattern: '^[0-9]+(ms|s|m|h)$' }),
          labels: stringMap,
        }),
        scrapeAnnotations: bool,
        prometheusRule: obj({
          enabled: bool,
          namespace: optionalNamespace,
          additionalLabels: stringMap,
          ruleLabels: promLabels,
          runbookBaseUrl: str({ description: 'runbook_url = this + "#" + the alert name in lower case; empty: no runbook_url' }),
          // Only the alerts files/alerts.yaml defines, so a misspelt name is an error, not a no-op.
          alerts: obj(Object.fromEntries(alertNames().map((n) => [n, obj({ enabled: bool, for: promDuration, labels: promLabels })]))),
          additionalRuleGroups: list(
            obj({ name: str({ minLength: 1 }), rules: list(anyObject) }, { required: ['name', 'rules'], additionalProperties: true }),
          ),
        }),
        dashboard: obj({
          enabled: bool,
          namespace: optionalNamespace,
          label: str({ minLength: 1, description: "the label key Grafana's dashboard sidecar selects" }),
          labelValue: str(),
          additionalLabels: stringMap,
          annotations: stringMap,
        }),
      }),
      networkPolicy: obj(
        {
          enabled: bool,
          authzFrom: list(peer, {
            description: 'who may call the authz ports; at least one peer when enabled (no peers would admit every source)',
          }),
          metricsFrom: list(peer),
          webhookFrom: list(peer, { description: 'empty: any source (API server addresses differ per cluster)' }),
        },
        {
          // Required and non-empty when the policy is rendered: an empty or missing `from` opens the authz ports to everyone.
          if: { properties: { enabled: { const: true } }, required: ['enabled'] },
          then: { required: ['authzFrom'], properties: { authzFrom: { minItems: 1 } } },
        },
      ),
      sidecar: obj({
        namespaces: list(dnsLabel, {
          uniqueItems: true,
          description: 'namespaces whose annotated pods get zt-authz and its ConfigMap; at least one in sidecar mode',
        }),
        configMapName: inject.configMap,
        config: configFor('sidecar'),
        ports: obj({ grpc: port, http: port, admin: port }, { required: ['grpc', 'http', 'admin'] }),
        resources: inject.resources,
        // Plain name/value pairs (webhook.inject.env): the container runs in other teams' pods,
        // where a valueFrom would reference their ConfigMaps and Secrets.
        extraEnv: {
          ...inject.env,
          items: {
            ...inject.env.items,
            properties: {
              ...inject.env.items.properties,
              name: { ...inject.env.items.properties.name, not: { enum: ['POD_NAME', 'POD_NAMESPACE', 'POD_IP'] } },
            },
          },
        },
      }),
      webhook: obj({
        failurePolicy: plain(WebhookSchema).properties.failurePolicy,
        timeoutSeconds: int(1, 30),
        namespaceSelector: obj({ matchLabels: stringMap, matchExpressions: list(anyObject) }),
        objectSelector: anyObject,
        tls: obj({ existingSecret: str(), caBundle: str({ pattern: '^[A-Za-z0-9+/=]*$' }), cert: str(), key: str(), validityDays: int(1) }),
      }),
      tls: obj({
        enabled: bool,
        secretName: dnsSubdomain,
        clientCa: obj({ enabled: bool, secretName: dnsSubdomain, key: str({ pattern: '^[-._A-Za-z0-9]+$' }) }),
        reloadSeconds: plain(ConfigSchema).properties.server.properties.tls.properties.reloadSeconds,
      }),
      tokenIssuer: (() => {
        const t = plain(ConfigSchema).properties.tokenIssuer.properties;
        return obj(
          {
            enabled: bool,
            issuer: { ...t.issuer, minLength: 0, description: `${t.issuer.description}; empty: the admin port's in-cluster address` },
            algorithm: t.algorithm,
            ttlSeconds: t.ttlSeconds,
            publishLeadSeconds: t.publishLeadSeconds,
            keysSecret: obj({
              name: { ...dnsSubdomain, description: 'Secret in the release namespace; empty: keys from keysDir' },
              key: t.keysSecret.properties.key,
            }),
            keysDir: obj({ secretName: dnsSubdomain, path: str({ pattern: '^/' }) }),
            jwksFrom: list(peer, { description: 'who may fetch the JWKS and discovery from the admin port' }),
          },
          {
            // Exactly one key source when enabled (the template refuses the rest too).
            if: { properties: { enabled: { const: true } }, required: ['enabled'] },
            then: {
              oneOf: [
                { properties: { keysSecret: { required: ['name'], properties: { name: { minLength: 1 } } } }, required: ['keysSecret'] },
                {
                  properties: { keysDir: { required: ['secretName'], properties: { secretName: { minLength: 1 } } } },
                  required: ['keysDir'],
                },
              ],
            },
          },
        );
      })(),
      istio: obj({
        enabled: bool,
        extensionProvider: obj({
          name: str({ minLength: 1 }),
          timeout: str({ pattern: '^[0-9]+(\\.[0-9]+)?(ms|s|m|h)$' }),
          failOpen: bool,
        }),
        localHost: str({ minLength: 1 }),
        permissiveAdminPort: {
          type: 'boolean',
          description:
            'sidecar mode: a PeerAuthentication per sidecar namespace making only the injected admin port PERMISSIVE (probes, scrapes under STRICT mTLS)',
        },
        meshExcludeInboundPorts: {
          ...inject.istioExcludeInboundPorts,
          description:
            "your Istio install's global.proxy.excludeInboundPorts; the webhook starts a pod's excludeInboundPorts annotation from it",
        },
        authorizationPolicies: list(
          obj(
            { name: str({ minLength: 1 }), namespace: str({ minLength: 1 }), selector: anyObject, rules: list(anyObject) },
            { required: ['name', 'namespace'] },
          ),
        ),
      }),
      test: obj({ image: str({ minLength: 1 }), runAsUser: int(1) }),
    },
    // Sidecar mode needs sidecar.namespaces: without it the webhook matches every namespace (every
    // pod CREATE before Kubernetes 1.28, failurePolicy Fail) and no sidecar ConfigMap is rendered.
    if: { properties: { mode: { const: 'sidecar' } }, required: ['mode'] },
    then: { required: ['sidecar'], properties: { sidecar: { required: ['namespaces'], properties: { namespaces: { minItems: 1 } } } } },
  };
}

export async function renderValuesSchema() {
  return JSON.stringify(await valuesSchema(), null, 2) + '\n';
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeOrCheck(OUT, await renderValuesSchema(), 'npm run build && node scripts/gen-values-schema.mjs');
}
