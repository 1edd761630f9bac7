// The `webhook:` configuration block (part of ConfigSchema in schema.ts): the sidecar-injection
// mutating admission webhook that zt-authz serves itself over HTTPS.
import { Type, type Static } from '@sinclair/typebox';
import { ADDRESS_PATTERN, StringEnum } from './schema-parts.js';

const Quantity = (description: string, def: string) =>
  Type.String({ pattern: '^[0-9]+(\\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$', default: def, description });
/** Requests or limits of the injected container; each quantity not given keeps its default. */
const Resources = (cpu: string, memory: string, description: string) =>
  Type.Object(
    { cpu: Type.Optional(Quantity('CPU quantity', cpu)), memory: Type.Optional(Quantity('memory quantity', memory)) },
    { additionalProperties: false, default: {}, description },
  );

export const WebhookSchema = Type.Object(
  {
    enabled: Type.Optional(
      Type.Boolean({ default: false, description: 'serve the sidecar-injection mutating admission webhook (HTTPS, webhook.address)' }),
    ),
    address: Type.Optional(Type.String({ pattern: ADDRESS_PATTERN, default: '0.0.0.0:9443', description: 'host:port' })),
    certFile: Type.Optional(
      Type.String({ minLength: 1, description: 'PEM certificate (chain) of the webhook listener; re-read when it changes' }),
    ),
    keyFile: Type.Optional(Type.String({ minLength: 1, description: 'PEM private key of the webhook listener; re-read when it changes' })),
    path: Type.Optional(
      Type.String({ pattern: '^/[^?#]*$', default: '/inject', description: 'URL path the MutatingWebhookConfiguration calls' }),
    ),
    failurePolicy: Type.Optional(
      StringEnum(['Fail', 'Ignore'] as const, {
        default: 'Fail',
        description:
          'a pod asks for injection but cannot get it (conflicting ports, hostNetwork, broken object): Fail = reject the pod (closed), Ignore = admit it unchanged with a warning (open). Use the same value in the MutatingWebhookConfiguration',
      }),
    ),
    inject: Type.Optional(
      Type.Object(
        {
          image: Type.Optional(
            Type.String({ minLength: 1, description: 'zt-authz image of the injected container (required when enabled)' }),
          ),
          imagePullPolicy: Type.Optional(
            StringEnum(['Always', 'IfNotPresent', 'Never'] as const, {
              default: 'IfNotPresent',
              description: 'image pull policy of the injected container',
            }),
          ),
          configMap: Type.Optional(
            Type.String({
              pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$',
              maxLength: 253,
              default: 'zt-authz-sidecar',
              description: 'ConfigMap in the pod namespace holding the sidecar configuration',
            }),
          ),
          configKey: Type.Optional(
            Type.String({
              pattern: '^[-._a-zA-Z0-9]+$',
              default: 'config.yaml',
              description: 'key of the configuration in that ConfigMap',
            }),
          ),
          grpcPort: Type.Optional(
            Type.Integer({
              minimum: 1,
              maximum: 65535,
              default: 9191,
              description: 'gRPC ext_authz port the sidecar configuration listens on (127.0.0.1); checked against the pod ports',
            }),
          ),
          httpPort: Type.Optional(
            Type.Integer({
              minimum: 1,
              maximum: 65535,
              default: 9192,
              description: 'HTTP authz port of the sidecar configuration (127.0.0.1); checked against the pod ports',
            }),
          ),
          adminPort: Type.Optional(
            Type.Integer({
              minimum: 1,
              maximum: 65535,
              default: 9090,
              description: 'admin port of the sidecar configuration (pod IP): probes and metrics',
            }),
          ),
          runAsUser: Type.Optional(
            Type.Integer({ minimum: 1, default: 65532, description: 'non-root UID (and GID) of the injected container' }),
          ),
          env: Type.Optional(
            Type.Array(
              Type.Object(
                {
                  name: Type.String({ pattern: '^[-._a-zA-Z][-._a-zA-Z0-9]*$', maxLength: 253, description: 'variable name' }),
                  value: Type.String({ maxLength: 4096, description: 'its value (plain text: no secrets, the pod spec shows it)' }),
                },
                { additionalProperties: false },
              ),
              {
                maxItems: 64,
                default: [],
                description:
                  'environment variables of the injected container, after POD_NAME, POD_NAMESPACE and POD_IP (which they may not redefine), e.g. HTTPS_PROXY, NO_PROXY and NODE_USE_ENV_PROXY=1 for JWKS fetches through a proxy',
              },
            ),
          ),
          prometheusAnnotations: Type.Optional(
            Type.Boolean({
              default: false,
              description:
                'add prometheus.io/scrape, /port (the admin port) and /path to injected pods that have none (for Prometheus without the Operator)',
            }),
          ),
          istioExcludeInboundPorts: Type.Optional(
            Type.Array(Type.Integer({ minimum: 1, maximum: 65535 }), {
              uniqueItems: true,
              default: [],
              description:
                'the mesh-wide global.proxy.excludeInboundPorts of your Istio install: a pod without its own traffic.sidecar.istio.io/excludeInboundPorts gets these plus the admin port (Istio reads the pod annotation instead of the mesh value, so the annotation must carry it)',
            }),
          ),
          resources: Type.Optional(
            Type.Object(
              {
                requests: Type.Optional(Resources('50m', '64Mi', 'resource requests of the injected container')),
                limits: Type.Optional(Resources('500m', '256Mi', 'resource limits of the injected container')),
              },
              { additionalProperties: false, default: {}, description: 'default: requests 50m / 64Mi, limits 500m / 256Mi' },
            ),
          ),
        },
        { additionalProperties: false, default: {}, description: 'the container the webhook injects into annotated pods' },
      ),
    ),
  },
  {
    additionalProperties: false,
    default: {},
    description:
      'the sidecar-injection admission webhook zt-authz serves over HTTPS (the chart fills it in sidecar mode); read at start only',
  },
);

export type WebhookInput = Static<typeof WebhookSchema>;
