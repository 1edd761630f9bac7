// Configuration schema (TypeBox → JSON Schema). One source for the validator, the docs and the
// chart's values.schema.json. Every default lives here and only here: validation fills them in
// (schema-check.ts), so `validate`, the docs and the resolver agree.
import { Type, type Static } from '@sinclair/typebox';
import { StringEnum } from './schema-parts.js';
import { PolicySchema } from './policy-schema.js';
import { WebhookSchema } from './webhook-schema.js';
import { IssuerSchema } from './issuer-schema.js';
import { ServerSchema } from './server-schema.js';
import { ApiKeysSchema } from './apikeys-schema.js';
import { RevocationSchema } from './revocation-schema.js';
import { TracingSchema } from './tracing-schema.js';
import { TokenIssuerSchema } from './token-issuer-schema.js';
import { InternalTokenSchema } from './internal-token-schema.js';
import { DEFAULT_MAX_BUFFER_BYTES, DEFAULT_TRUST_DOMAIN } from './defaults.js';

export const ConfigSchema = Type.Object(
  {
    server: Type.Optional(ServerSchema),
    issuers: Type.Optional(
      Type.Array(IssuerSchema, {
        default: [],
        description:
          'identity providers whose JWTs are accepted (Istio jwtRules vocabulary); the token is matched to one by its exact iss, never by jku or x5u',
      }),
    ),
    apiKeys: Type.Optional(ApiKeysSchema),
    revocation: Type.Optional(RevocationSchema),
    tokenIssuer: Type.Optional(TokenIssuerSchema),
    policies: Type.Optional(
      Type.Array(PolicySchema, {
        default: [],
        description:
          'authorization policies (Istio AuthorizationPolicy vocabulary): a DENY match denies, an ALLOW match allows, anything else is denied',
      }),
    ),
    authorization: Type.Optional(
      Type.Object(
        {
          rolesClaim: Type.Optional(
            Type.String({
              minLength: 1,
              default: 'roles',
              description: 'claim path holding roles for the request.auth.roles key, e.g. realm_access.roles',
            }),
          ),
        },
        { additionalProperties: false, default: {}, description: 'how policies read claims' },
      ),
    ),
    mode: Type.Optional(
      Type.Object(
        {
          default: Type.Optional(
            StringEnum(['enforce', 'observe'] as const, {
              default: 'enforce',
              description: 'observe = allow everything, record what enforce would decide',
            }),
          ),
          namespaces: Type.Optional(
            Type.Record(Type.String({ minLength: 1 }), StringEnum(['enforce', 'observe'] as const), {
              default: {},
              description: 'per destination namespace',
            }),
          ),
        },
        {
          additionalProperties: false,
          default: {},
          description:
            'enforce, or observe (allow everything and record what enforce would decide), by default and per destination namespace; a zt-authz.io/mode pod annotation wins',
        },
      ),
    ),
    identity: Type.Optional(
      Type.Object(
        {
          trustXfcc: Type.Optional(
            Type.Boolean({
              default: false,
              description:
                'read the caller SPIFFE ID from x-forwarded-client-cert, only when the immediate peer is in identity.xfccTrustedPeers',
            }),
          ),
          xfccTrustedPeers: Type.Optional(
            Type.Object(
              {
                principals: Type.Optional(
                  Type.Array(Type.String({ minLength: 1 }), {
                    default: [],
                    description: 'mTLS principals of proxies that sanitise XFCC (exact: spiffe://td/ns/N/sa/S or td/ns/N/sa/S)',
                  }),
                ),
                ipBlocks: Type.Optional(
                  Type.Array(Type.String({ minLength: 1 }), {
                    default: [],
                    description: 'source IPs/CIDRs of proxies that sanitise XFCC, used only when the peer has no mTLS principal',
                  }),
                ),
              },
              { additionalProperties: false, description: 'required with trustXfcc: XFCC is believed only from these immediate peers' },
            ),
          ),
          numTrustedProxies: Type.Optional(
            Type.Integer({
              minimum: 0,
              maximum: 32,
              default: 0,
              description:
                'proxies in front whose X-Forwarded-For entries are trusted (Istio numTrustedProxies) for remote.ip / remoteIpBlocks: 0 = the peer address; N = the entry N hops left of the peer; undeterminable: no remote IP (remote-IP conditions fail closed)',
            }),
          ),
          trustDomain: Type.Optional(
            Type.String({
              pattern: '^[a-z0-9._-]+$',
              default: DEFAULT_TRUST_DOMAIN,
              description: 'the local trust domain (Istio meshConfig trustDomain); policy principals of cluster.local mean this one',
            }),
          ),
          trustDomainAliases: Type.Optional(
            Type.Array(Type.String({ pattern: '^[a-z0-9._-]+$' }), {
              default: [],
              description:
                'other trust domains treated as the local one (Istio trustDomainAliases): principals td/ns/N/sa/S and trustDomains values naming any of them match all of them',
            }),
          ),
        },
        {
          additionalProperties: false,
          default: {},
          description: 'where the caller identity comes from: x-forwarded-client-cert, X-Forwarded-For, trust domains',
        },
      ),
    ),
    response: Type.Optional(
      Type.Object(
        {
          subjectHeader: Type.Optional(
            Type.String({ default: 'x-auth-subject', description: 'upstream header carrying the verified token subject' }),
          ),
          issuerHeader: Type.Optional(
            Type.String({ default: 'x-auth-issuer', description: 'upstream header carrying the verified token issuer' }),
          ),
          scopesHeader: Type.Optional(
            Type.String({ default: 'x-auth-scopes', description: 'upstream header carrying the token scopes, space-separated' }),
          ),
          realm: Type.Optional(Type.String({ description: 'realm in WWW-Authenticate challenges' })),
          internalToken: Type.Optional(InternalTokenSchema),
        },
        {
          additionalProperties: false,
          default: {},
          description: 'identity headers and the internal token set on the upstream request, and the challenge realm',
        },
      ),
    ),
    limits: Type.Optional(
      Type.Object(
        {
          maxTokenBytes: Type.Optional(
            Type.Integer({
              minimum: 256,
              maximum: 65536,
              default: 8192,
              description: 'larger tokens are rejected (token_too_large) before any parsing',
            }),
          ),
          maxHeaders: Type.Optional(
            Type.Integer({ minimum: 1, default: 256, description: 'requests with more headers are rejected as malformed' }),
          ),
          maxPathBytes: Type.Optional(
            Type.Integer({ minimum: 1, default: 16384, description: 'longer paths are denied as malformed_request' }),
          ),
          maxHeaderBytes: Type.Optional(
            Type.Integer({
              minimum: 1024,
              maximum: 16 * 1024 * 1024,
              default: 65536,
              description: 'sum of header name and value bytes in one request; more: malformed_request',
            }),
          ),
          maxInFlight: Type.Optional(
            Type.Integer({
              minimum: 0,
              default: 4096,
              description: 'concurrent Checks being decided (gRPC + HTTP); beyond: gRPC RESOURCE_EXHAUSTED, HTTP 429 (0: unlimited)',
            }),
          ),
        },
        { additionalProperties: false, default: {}, description: 'request size and concurrency bounds; applied on reload' },
      ),
    ),
    paths: Type.Optional(
      Type.Object(
        {
          nonCanonical: Type.Optional(
            StringEnum(['reject', 'normalize'] as const, {
              default: 'reject',
              description:
                'paths with dot segments, repeated slashes or %-encoded unreserved characters: reject (malformed_request; the proxy forwards the raw path), or normalize and match the result (only when the proxy normalises too: Envoy normalize_path + merge_slashes)',
            }),
          ),
          parameters: Type.Optional(
            StringEnum(['reject', 'allow'] as const, {
              default: 'reject',
              description:
                "paths with ';' or %3B (path parameters, ;jsessionid=): reject (malformed_request; Java servers route /admin;x/y as /admin/y), or allow and match the path literally",
            }),
          ),
        },
        { additionalProperties: false, default: {}, description: 'paths that an upstream may read differently from the policies' },
      ),
    ),
    tokenCache: Type.Optional(
      Type.Object(
        {
          maxEntries: Type.Optional(Type.Integer({ minimum: 0, default: 10000, description: '0 disables the cache' })),
          maxTtlSeconds: Type.Optional(
            Type.Integer({
              minimum: 1,
              default: 300,
              description: 'cap on entry lifetime (also bounds how long a removed key keeps working)',
            }),
          ),
        },
        { additionalProperties: false, default: {}, description: 'cache of verified tokens, keyed by the SHA-256 of the token' },
      ),
    ),
    audit: Type.Optional(
      Type.Object(
        {
          enabled: Type.Optional(
            Type.Boolean({ default: true, description: 'write audit records (JSON lines with "logger":"audit" on stdout)' }),
          ),
          allowSampleRate: Type.Optional(
            Type.Number({
              minimum: 0,
              maximum: 1,
              default: 1,
              description:
                'fraction of plain allows recorded; denies, would-be denies and requests an AUDIT policy matched are always recorded',
            }),
          ),
          subject: Type.Optional(
            StringEnum(['plain', 'hash'] as const, {
              default: 'plain',
              description: 'JWT subject in audit records: plain, or hash (subject_hash = sha256 of "<iss>/<sub>", pseudonymous)',
            }),
          ),
          claims: Type.Optional(
            Type.Array(Type.String({ minLength: 1 }), {
              default: [],
              description:
                'more claim paths recorded for `policy replay`, e.g. tenant, groups (always recorded: azp, acr, amr and authorization.rolesClaim)',
            }),
          ),
        },
        {
          additionalProperties: false,
          default: {},
          description: 'the audit log: one JSON line per recorded decision, never holding the token',
        },
      ),
    ),
    http: Type.Optional(
      Type.Object(
        {
          pathPrefix: Type.Optional(
            Type.String({
              pattern: '^(/[^?#]*[^/?#])?$',
              default: '',
              description: 'Envoy http_service `path_prefix`: stripped from every request; requests without it are malformed',
            }),
          ),
          nginxPath: Type.Optional(
            Type.String({
              pattern: '^/[^?#]*$',
              default: '/nginx-auth',
              description: 'nginx auth_request endpoint: original request from X-Original-Method, X-Original-URI and Host',
            }),
          ),
          ingressNginxPath: Type.Optional(
            Type.String({
              pattern: '^/[^?#]*$',
              default: '/ingress-nginx-auth',
              description: 'ingress-nginx auth-url endpoint: original request from X-Original-Method and X-Original-URL',
            }),
          ),
          originalMethodHeader: Type.Optional(
            Type.String({
              pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$",
              default: 'x-original-method',
              description: 'nginx and ingress-nginx modes: header holding the original method',
            }),
          ),
          originalUriHeader: Type.Optional(
            Type.String({
              pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$",
              default: 'x-original-uri',
              description: 'nginx mode: header holding the original request URI (path and query)',
            }),
          ),
          originalUrlHeader: Type.Optional(
            Type.String({
              pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$",
              default: 'x-original-url',
              description: 'ingress-nginx mode: header holding the original absolute URL',
            }),
          ),
          routedHostHeader: Type.Optional(
            Type.String({
              pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$",
              default: 'x-routed-host',
              description:
                'ingress-nginx mode: header the proxy sets to $host, the host nginx routed on (auth-proxy-set-headers ConfigMap); required, and the X-Original-URL host must name the same host',
            }),
          ),
          sourceAddressHeader: Type.Optional(
            Type.String({
              pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$",
              description: 'header the proxy sets to the client IP (e.g. x-real-ip); unset: no source address in HTTP mode',
            }),
          ),
        },
        {
          additionalProperties: false,
          default: {},
          description: 'the HTTP authorization listener (server.http): Envoy http_service, nginx auth_request, ingress-nginx auth-url',
        },
      ),
    ),
    kubernetes: Type.Optional(
      Type.Object(
        {
          enabled: Type.Optional(Type.Boolean({ default: false, description: 'watch ZeroTrustPolicy resources and Pods' })),
          namespaces: Type.Optional(
            Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'namespaces to watch; empty or absent: cluster-wide' }),
          ),
          rootNamespace: Type.Optional(
            Type.String({
              minLength: 1,
              description: 'ZeroTrustPolicy resources in this namespace apply to every namespace (Istio root namespace semantics)',
            }),
          ),
          watchPods: Type.Optional(
            Type.Boolean({ default: true, description: 'pod IP → workload map (annotations, destination fallback)' }),
          ),
          podIpSource: Type.Optional(
            Type.Boolean({
              default: false,
              description:
                'WEAKER: fill source namespace/service account from the caller pod IP when there is no mTLS principal or service-account token',
            }),
          ),
          dryRunAnnotationNamespaces: Type.Optional(
            Type.Array(Type.String({ pattern: '^(\\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$' }), {
              default: ['*'],
              description:
                'namespaces whose pods may put themselves in dry-run with zt-authz.io/mode ("*": all; []: none, the annotation is ignored). A dry-run pod is exempt from every policy, root-namespace and config-file DENY policies included',
            }),
          ),
          writeStatus: Type.Optional(
            Type.Boolean({ default: true, description: 'write Accepted/Invalid conditions to ZeroTrustPolicy status' }),
          ),
          resyncSeconds: Type.Optional(Type.Integer({ minimum: 1, default: 300, description: 'full relist interval' })),
          backoffMinMs: Type.Optional(
            Type.Integer({ minimum: 1, default: 500, description: 'first reconnect delay (exponential backoff, ±20 % jitter)' }),
          ),
          backoffMaxMs: Type.Optional(Type.Integer({ minimum: 1, default: 30000, description: 'longest reconnect delay' })),
          kubeconfig: Type.Optional(Type.String({ minLength: 1, description: 'kubeconfig file (default: in-cluster service account)' })),
          apiServer: Type.Optional(
            Type.String({ pattern: '^https?://', description: 'API server URL (overrides in-cluster / kubeconfig)' }),
          ),
          tokenFile: Type.Optional(Type.String({ minLength: 1, description: 'bearer token file, with apiServer' })),
          caFile: Type.Optional(Type.String({ minLength: 1, description: 'CA bundle, with apiServer' })),
          insecureSkipTlsVerify: Type.Optional(Type.Boolean({ default: false, description: 'tests only' })),
        },
        {
          additionalProperties: false,
          default: {},
          description:
            'the Kubernetes integration: ZeroTrustPolicy resources, the pod IP → workload map and workload annotations; read at start only',
        },
      ),
    ),
    reload: Type.Optional(
      Type.Object(
        {
          watchFile: Type.Optional(
            Type.Boolean({
              default: true,
              description: 'reload the config file when it changes (ConfigMap ..data symlink swaps included)',
            }),
          ),
          debounceMs: Type.Optional(
            Type.Integer({
              minimum: 0,
              maximum: 60000,
              default: 100,
              description: 'wait this long after a file event before reloading, so a burst of events is one reload',
            }),
          ),
          pollSeconds: Type.Optional(
            Type.Number({ minimum: 0, default: 10, description: 'also re-check the file this often (0: only file events)' }),
          ),
        },
        { additionalProperties: false, default: {}, description: 'hot reload of the configuration file; read at start only' },
      ),
    ),
    webhook: Type.Optional(WebhookSchema),
    tracing: Type.Optional(TracingSchema),
    log: Type.Optional(
      Type.Object(
        {
          level: Type.Optional(
            StringEnum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, {
              default: 'info',
              description: 'operational log level (audit records are written whatever it is)',
            }),
          ),
          maxBufferBytes: Type.Optional(
            Type.Integer({
              minimum: 65536,
              default: DEFAULT_MAX_BUFFER_BYTES,
              description:
                'log bytes held in memory while stdout is not drained; lines beyond are dropped and counted (zt_authz_log_dropped_total)',
            }),
          ),
        },
        { additionalProperties: false, default: {}, description: 'operational logging; read at start only' },
      ),
    ),
  },
  { additionalProperties: false },
);

export type ConfigInput = Static<typeof ConfigSchema>;
