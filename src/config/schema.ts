// Configuration schema (TypeBox → JSON Schema). One source for the validator, the docs and the
// chart's values.schema.json. Every default lives here and only here: validation fills them in
// (schema-check.ts), so `validate`, the docs and the resolver agree.
import { Type, type Static } from '@sinclair/typebox';
import { ADDRESS_PATTERN, StringEnum } from './schema-parts.js';
import { PolicySchema } from './policy-schema.js';
import { WebhookSchema } from './webhook-schema.js';
import { DEFAULT_MAX_BUFFER_BYTES, DEFAULT_TRUST_DOMAIN, K8S_DEFAULT_API_SERVER, K8S_SA_DIR } from './defaults.js';

/** "host:port", ":port" or "[v6]:port". */
const Address = (def: string, description = 'host:port') => Type.String({ pattern: ADDRESS_PATTERN, default: def, description });

export const ASYMMETRIC_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;
export const HMAC_ALGS = ['HS256', 'HS384', 'HS512'] as const;
const Alg = StringEnum([...ASYMMETRIC_ALGS, ...HMAC_ALGS]);

const HeaderLocation = Type.Object(
  {
    name: Type.String({ minLength: 1, pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$', description: 'header name' }),
    prefix: Type.Optional(Type.String({ default: '', description: 'value prefix stripped before the token, e.g. "Bearer "' })),
  },
  { additionalProperties: false },
);

const ClaimToHeader = Type.Object(
  {
    header: Type.String({ minLength: 1, pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$', description: 'upstream request header to set' }),
    claim: Type.String({ minLength: 1, description: 'claim name; nested claims with dots, e.g. realm_access.roles' }),
  },
  { additionalProperties: false },
);

const JwkSet = Type.Object({ keys: Type.Array(Type.Record(Type.String(), Type.Unknown()), { description: 'public JWKs; a set holding private or symmetric key material is rejected whole' }) }, { additionalProperties: true });

/** Issuer preset for Kubernetes service-account tokens (src/k8s/sa-issuer.ts); `kubernetes: true` is this with every default. */
export const KubernetesIssuerSchema = Type.Object(
  {
    apiServer: Type.Optional(Type.String({ pattern: '^https?://', default: K8S_DEFAULT_API_SERVER, description: 'API server serving /.well-known/openid-configuration and /openid/v1/jwks' })),
    caFile: Type.Optional(Type.String({ minLength: 1, default: `${K8S_SA_DIR}/ca.crt`, description: 'CA bundle for the API server (default: the pod service-account ca.crt)' })),
    tokenFile: Type.Optional(
      Type.String({ minLength: 1, default: `${K8S_SA_DIR}/token`, description: 'bearer token for discovery/JWKS (default: the pod service-account token; re-read on every fetch)' }),
    ),
  },
  { additionalProperties: false },
);

/**
 * Issuer keys from a Kubernetes Secret, watched through the API (src/k8s/secrets.ts): a list+watch
 * narrowed to this one name, so RBAC can grant `resourceNames` instead of every Secret.
 */
const JwksSecret = Type.Object(
  {
    namespace: Type.Optional(
      Type.String({ pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63, description: 'a namespace name: where the Secret is (default: the namespace zt-authz runs in: POD_NAMESPACE, else the in-cluster service account namespace)' }),
    ),
    name: Type.String({ pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$', maxLength: 253, description: 'a Secret name' }),
    key: Type.Optional(Type.String({ pattern: '^[-._a-zA-Z0-9]+$', maxLength: 253, default: 'jwks.json', description: 'a Secret data key: the one holding the JWKS JSON document' })),
  },
  { additionalProperties: false, description: 'JWKS in a Kubernetes Secret, watched through the API (needs kubernetes.enabled); updates apply at once' },
);

export const IssuerSchema = Type.Object(
  {
    issuer: Type.Optional(Type.String({ minLength: 1, description: 'exact `iss` value (required unless kubernetes is set)' })),
    kubernetes: Type.Optional(
      Type.Union([Type.Boolean(), KubernetesIssuerSchema], {
        description: 'preset: Kubernetes service-account tokens, keys from the API server OIDC discovery with the pod CA and token',
      }),
    ),
    jwksUri: Type.Optional(Type.String({ pattern: '^https?://', description: 'remote JWKS URL' })),
    jwks: Type.Optional(Type.Union([JwkSet, Type.String({ minLength: 2 })], { description: 'inline JWKS (object or JSON string)' })),
    jwksFile: Type.Optional(Type.String({ minLength: 1, description: 'local JWKS file, re-read on refresh' })),
    jwksSecret: Type.Optional(JwksSecret),
    discovery: Type.Optional(Type.Boolean({ description: 'fetch {issuer}/.well-known/openid-configuration for jwks_uri' })),
    hmacSecretFile: Type.Optional(
      Type.String({ minLength: 1, description: 'file with an HS* secret (≥ 32 bytes for HS256, 48 for HS384, 64 for HS512); the only way to allow HS*; re-read when it changes' }),
    ),
    hmacSecretFiles: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        minItems: 1,
        maxItems: 4,
        uniqueItems: true,
        description: 'instead of hmacSecretFile: up to 4 files, one HS* secret each, all accepted (rotation overlap); each re-read when it changes',
      }),
    ),
    audiences: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'token `aud` must contain one of these; required unless anyAudience: true (or a kubernetes issuer)' }),
    ),
    anyAudience: Type.Optional(Type.Boolean({ description: 'accept a token minted for any audience (no `aud` check; validate and start-up warn). Not allowed with audiences or kubernetes' })),
    algorithms: Type.Optional(Type.Array(Alg, { minItems: 1, description: 'allow-list; default: asymmetric algorithms only' })),
    fromHeaders: Type.Optional(Type.Array(HeaderLocation, { minItems: 1, description: 'headers that may carry the token (default: authorization with the prefix "Bearer ")' })),
    fromParams: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'query parameters that may carry the token (names matched as sent)' })),
    fromCookies: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'cookies that may carry the token (names matched as sent)' })),
    clockSkewSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 600, default: 30, description: 'leeway for exp, nbf and iat' })),
    maxTokenAgeSeconds: Type.Optional(Type.Integer({ minimum: 1, description: 'reject tokens whose iat is older; requires iat' })),
    typ: Type.Optional(Type.String({ minLength: 1, description: 'required JWT typ header, e.g. at+jwt' })),
    requiredClaims: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'claims that must be present (exp always is)' })),
    outputClaimToHeaders: Type.Optional(Type.Array(ClaimToHeader, { default: [], description: 'claims sent upstream as headers; nested claims written with dots, arrays comma-joined' })),
    forwardOriginalToken: Type.Optional(Type.Boolean({ default: false, description: 'keep the credential on the upstream request (Istio default: removed)' })),
    jwksRefreshSeconds: Type.Optional(Type.Integer({ minimum: 1, default: 300, description: 'background JWKS refresh interval (after errors: backoff from 1 s up to this)' })),
    jwksCooldownSeconds: Type.Optional(Type.Integer({ minimum: 1, default: 30, description: 'window of the unknown-kid refetch bound: at most 4 refetches per window, ≥ 1 s apart; ≥ 1 so unknown-kid floods cannot hammer the IdP' })),
    jwksTimeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 60000, default: 2000, description: 'per-request timeout of JWKS, discovery and Kubernetes issuer fetches, body included' })),
    jwksMaxBytes: Type.Optional(Type.Integer({ minimum: 256, maximum: 16 * 1024 * 1024, default: 1048576, description: 'largest JWKS or discovery response; larger: the fetch fails and the last-known-good keys stay' })),
    spaceDelimitedClaims: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        maxItems: 64,
        default: [],
        description:
          'top-level claims whose string value policies see split on spaces, as a list (Istio RequestAuthentication spaceDelimitedClaims); `scope` and `permission` always are',
      }),
    ),
  },
  { additionalProperties: false },
);

/**
 * TLS for the two authorization listeners (gRPC and HTTP); the admin listener stays plain HTTP
 * for probes and scrapes. Files are re-read when they change (Secret volume symlink swaps
 * included) and every reloadSeconds; an invalid replacement keeps the last good certificate.
 */
const TlsSchema = Type.Object(
  {
    certFile: Type.String({ minLength: 1, description: 'PEM server certificate (chain), e.g. a cert-manager tls.crt' }),
    keyFile: Type.String({ minLength: 1, description: 'PEM private key of certFile' }),
    clientCaFile: Type.Optional(Type.String({ minLength: 1, description: 'PEM CA bundle: when set, every client must present a certificate it signed (mTLS)' })),
    reloadSeconds: Type.Optional(Type.Number({ minimum: 0, maximum: 86400, default: 60, description: 'also re-check the files this often (0: only file events)' })),
  },
  { additionalProperties: false, description: 'TLS, or mTLS with clientCaFile, on the gRPC and HTTP authorization listeners (the admin listener stays plain HTTP); an invalid replacement keeps the last good certificate' },
);

export const ConfigSchema = Type.Object(
  {
    server: Type.Optional(
      Type.Object(
        {
          grpc: Type.Optional(Address('0.0.0.0:9191', 'gRPC ext_authz listen address (host:port, [v6]:port)')),
          http: Type.Optional(Address('0.0.0.0:9192', 'HTTP authorization listen address (options under the top-level http key)')),
          admin: Type.Optional(Address('0.0.0.0:9090', 'admin listen address: /metrics, /healthz, /readyz (plain HTTP)')),
          drainSeconds: Type.Optional(Type.Number({ minimum: 0, maximum: 300, default: 10, description: 'SIGTERM: time in-flight Checks get to finish' })),
          readyTimeoutSeconds: Type.Optional(Type.Number({ minimum: 0, default: 30, description: 'startup wait for issuer keys before serving NOT_SERVING' })),
          grpcMaxReceiveBytes: Type.Optional(
            Type.Integer({ minimum: 4096, maximum: 64 * 1024 * 1024, default: 4 * 1024 * 1024, description: 'largest gRPC CheckRequest accepted (grpc max_receive_message_length); larger: RESOURCE_EXHAUSTED' }),
          ),
          tls: Type.Optional(TlsSchema),
        },
        { additionalProperties: false, default: {}, description: 'listeners and process settings; read at start only (a reload that changes them logs a warning and keeps them)' },
      ),
    ),
    issuers: Type.Optional(Type.Array(IssuerSchema, { default: [], description: 'identity providers whose JWTs are accepted (Istio jwtRules vocabulary); the token is matched to one by its exact iss, never by jku or x5u' })),
    policies: Type.Optional(Type.Array(PolicySchema, { default: [], description: 'authorization policies (Istio AuthorizationPolicy vocabulary): a DENY match denies, an ALLOW match allows, anything else is denied' })),
    authorization: Type.Optional(
      Type.Object(
        {
          rolesClaim: Type.Optional(Type.String({ minLength: 1, default: 'roles', description: 'claim path holding roles for the request.auth.roles key, e.g. realm_access.roles' })),
        },
        { additionalProperties: false, default: {}, description: 'how policies read claims' },
      ),
    ),
    mode: Type.Optional(
      Type.Object(
        {
          default: Type.Optional(StringEnum(['enforce', 'observe'] as const, { default: 'enforce', description: 'observe = allow everything, record what enforce would decide' })),
          namespaces: Type.Optional(Type.Record(Type.String({ minLength: 1 }), StringEnum(['enforce', 'observe'] as const), { default: {}, description: 'per destination namespace' })),
        },
        { additionalProperties: false, default: {}, description: 'enforce, or observe (allow everything and record what enforce would decide), by default and per destination namespace; a zt-authz.io/mode pod annotation wins' },
      ),
    ),
    identity: Type.Optional(
      Type.Object(
        {
          trustXfcc: Type.Optional(Type.Boolean({ default: false, description: 'read the caller SPIFFE ID from x-forwarded-client-cert, only when the immediate peer is in identity.xfccTrustedPeers' })),
          xfccTrustedPeers: Type.Optional(
            Type.Object(
              {
                principals: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'mTLS principals of proxies that sanitise XFCC (exact: spiffe://td/ns/N/sa/S or td/ns/N/sa/S)' })),
                ipBlocks: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'source IPs/CIDRs of proxies that sanitise XFCC, used only when the peer has no mTLS principal' })),
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
            Type.String({ pattern: '^[a-z0-9._-]+$', default: DEFAULT_TRUST_DOMAIN, description: 'the local trust domain (Istio meshConfig trustDomain); policy principals of cluster.local mean this one' }),
          ),
          trustDomainAliases: Type.Optional(
            Type.Array(Type.String({ pattern: '^[a-z0-9._-]+$' }), {
              default: [],
              description: 'other trust domains treated as the local one (Istio trustDomainAliases): principals td/ns/N/sa/S and trustDomains values naming any of them match all of them',
            }),
          ),
        },
        { additionalProperties: false, default: {}, description: 'where the caller identity comes from: x-forwarded-client-cert, X-Forwarded-For, trust domains' },
      ),
    ),
    response: Type.Optional(
      Type.Object(
        {
          subjectHeader: Type.Optional(Type.String({ default: 'x-auth-subject', description: 'upstream header carrying the verified token subject' })),
          issuerHeader: Type.Optional(Type.String({ default: 'x-auth-issuer', description: 'upstream header carrying the verified token issuer' })),
          scopesHeader: Type.Optional(Type.String({ default: 'x-auth-scopes', description: 'upstream header carrying the token scopes, space-separated' })),
          realm: Type.Optional(Type.String({ description: 'realm in WWW-Authenticate challenges' })),
        },
        { additionalProperties: false, default: {}, description: 'identity headers set on the upstream request, and the challenge realm' },
      ),
    ),
    limits: Type.Optional(
      Type.Object(
        {
          maxTokenBytes: Type.Optional(Type.Integer({ minimum: 256, maximum: 65536, default: 8192, description: 'larger tokens are rejected (token_too_large) before any parsing' })),
          maxHeaders: Type.Optional(Type.Integer({ minimum: 1, default: 256, description: 'requests with more headers are rejected as malformed' })),
          maxPathBytes: Type.Optional(Type.Integer({ minimum: 1, default: 16384, description: 'longer paths are denied as malformed_request' })),
          maxHeaderBytes: Type.Optional(
            Type.Integer({ minimum: 1024, maximum: 16 * 1024 * 1024, default: 65536, description: 'sum of header name and value bytes in one request; more: malformed_request' }),
          ),
          maxInFlight: Type.Optional(
            Type.Integer({ minimum: 0, default: 4096, description: 'concurrent Checks being decided (gRPC + HTTP); beyond: gRPC RESOURCE_EXHAUSTED, HTTP 429 (0: unlimited)' }),
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
              description: "paths with ';' or %3B (path parameters, ;jsessionid=): reject (malformed_request; Java servers route /admin;x/y as /admin/y), or allow and match the path literally",
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
          maxTtlSeconds: Type.Optional(Type.Integer({ minimum: 1, default: 300, description: 'cap on entry lifetime (also bounds how long a removed key keeps working)' })),
        },
        { additionalProperties: false, default: {}, description: 'cache of verified tokens, keyed by the SHA-256 of the token' },
      ),
    ),
    audit: Type.Optional(
      Type.Object(
        {
          enabled: Type.Optional(Type.Boolean({ default: true, description: 'write audit records (JSON lines with "log":"audit" on stdout)' })),
          allowSampleRate: Type.Optional(Type.Number({ minimum: 0, maximum: 1, default: 1, description: 'fraction of plain allows recorded; denies, would-be denies and requests an AUDIT policy matched are always recorded' })),
          subject: Type.Optional(
            StringEnum(['plain', 'hash'] as const, { default: 'plain', description: 'JWT subject in audit records: plain, or hash (subject_hash = sha256 of "<iss>/<sub>", pseudonymous)' }),
          ),
          claims: Type.Optional(
            Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'more claim paths recorded for `policy replay`, e.g. tenant, groups (always recorded: azp, acr, amr and authorization.rolesClaim)' }),
          ),
        },
        { additionalProperties: false, default: {}, description: 'the audit log: one JSON line per recorded decision, never holding the token' },
      ),
    ),
    http: Type.Optional(
      Type.Object(
        {
          pathPrefix: Type.Optional(
            Type.String({ pattern: '^(/[^?#]*[^/?#])?$', default: '', description: 'Envoy http_service `path_prefix`: stripped from every request; requests without it are malformed' }),
          ),
          nginxPath: Type.Optional(
            Type.String({ pattern: '^/[^?#]*$', default: '/nginx-auth', description: 'nginx auth_request endpoint: original request from X-Original-Method, X-Original-URI and Host' }),
          ),
          ingressNginxPath: Type.Optional(
            Type.String({ pattern: '^/[^?#]*$', default: '/ingress-nginx-auth', description: 'ingress-nginx auth-url endpoint: original request from X-Original-Method and X-Original-URL' }),
          ),
          originalMethodHeader: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$', default: 'x-original-method', description: 'nginx and ingress-nginx modes: header holding the original method' })),
          originalUriHeader: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$', default: 'x-original-uri', description: 'nginx mode: header holding the original request URI (path and query)' })),
          originalUrlHeader: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$', default: 'x-original-url', description: 'ingress-nginx mode: header holding the original absolute URL' })),
          routedHostHeader: Type.Optional(
            Type.String({
              pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$',
              default: 'x-routed-host',
              description: 'ingress-nginx mode: header the proxy sets to $host, the host nginx routed on (auth-proxy-set-headers ConfigMap); required, and the X-Original-URL host must name the same host',
            }),
          ),
          sourceAddressHeader: Type.Optional(
            Type.String({ pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$', description: 'header the proxy sets to the client IP (e.g. x-real-ip); unset: no source address in HTTP mode' }),
          ),
        },
        { additionalProperties: false, default: {}, description: 'the HTTP authorization listener (server.http): Envoy http_service, nginx auth_request, ingress-nginx auth-url' },
      ),
    ),
    kubernetes: Type.Optional(
      Type.Object(
        {
          enabled: Type.Optional(Type.Boolean({ default: false, description: 'watch ZeroTrustPolicy resources and Pods' })),
          namespaces: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'namespaces to watch; empty or absent: cluster-wide' })),
          rootNamespace: Type.Optional(Type.String({ minLength: 1, description: 'ZeroTrustPolicy resources in this namespace apply to every namespace (Istio root namespace semantics)' })),
          watchPods: Type.Optional(Type.Boolean({ default: true, description: 'pod IP → workload map (annotations, destination fallback)' })),
          podIpSource: Type.Optional(Type.Boolean({ default: false, description: 'WEAKER: fill source namespace/service account from the caller pod IP when there is no mTLS principal or service-account token' })),
          dryRunAnnotationNamespaces: Type.Optional(
            Type.Array(Type.String({ pattern: '^(\\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$' }), {
              default: ['*'],
              description: 'namespaces whose pods may put themselves in dry-run with zt-authz.io/mode ("*": all; []: none, the annotation is ignored). A dry-run pod is exempt from every policy, root-namespace and config-file DENY policies included',
            }),
          ),
          writeStatus: Type.Optional(Type.Boolean({ default: true, description: 'write Accepted/Invalid conditions to ZeroTrustPolicy status' })),
          resyncSeconds: Type.Optional(Type.Integer({ minimum: 1, default: 300, description: 'full relist interval' })),
          backoffMinMs: Type.Optional(Type.Integer({ minimum: 1, default: 500, description: 'first reconnect delay (exponential backoff, ±20 % jitter)' })),
          backoffMaxMs: Type.Optional(Type.Integer({ minimum: 1, default: 30000, description: 'longest reconnect delay' })),
          kubeconfig: Type.Optional(Type.String({ minLength: 1, description: 'kubeconfig file (default: in-cluster service account)' })),
          apiServer: Type.Optional(Type.String({ pattern: '^https?://', description: 'API server URL (overrides in-cluster / kubeconfig)' })),
          tokenFile: Type.Optional(Type.String({ minLength: 1, description: 'bearer token file, with apiServer' })),
          caFile: Type.Optional(Type.String({ minLength: 1, description: 'CA bundle, with apiServer' })),
          insecureSkipTlsVerify: Type.Optional(Type.Boolean({ default: false, description: 'tests only' })),
        },
        { additionalProperties: false, default: {}, description: 'the Kubernetes integration: ZeroTrustPolicy resources, the pod IP → workload map and workload annotations; read at start only' },
      ),
    ),
    reload: Type.Optional(
      Type.Object(
        {
          watchFile: Type.Optional(Type.Boolean({ default: true, description: 'reload the config file when it changes (ConfigMap ..data symlink swaps included)' })),
          debounceMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 60000, default: 100, description: 'wait this long after a file event before reloading, so a burst of events is one reload' })),
          pollSeconds: Type.Optional(Type.Number({ minimum: 0, default: 10, description: 'also re-check the file this often (0: only file events)' })),
        },
        { additionalProperties: false, default: {}, description: 'hot reload of the configuration file; read at start only' },
      ),
    ),
    webhook: Type.Optional(WebhookSchema),
    log: Type.Optional(
      Type.Object(
        {
          level: Type.Optional(StringEnum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, { default: 'info', description: 'operational log level (audit records are written whatever it is)' })),
          maxBufferBytes: Type.Optional(
            Type.Integer({ minimum: 65536, default: DEFAULT_MAX_BUFFER_BYTES, description: 'log bytes held in memory while stdout is not drained; lines beyond are dropped and counted (zt_authz_log_dropped_total)' }),
          ),
        },
        { additionalProperties: false, default: {}, description: 'operational logging; read at start only' },
      ),
    ),
  },
  { additionalProperties: false },
);

export type ConfigInput = Static<typeof ConfigSchema>;
export type IssuerConfig = Static<typeof IssuerSchema>;
export type KubernetesIssuerInput = Static<typeof KubernetesIssuerSchema>;
