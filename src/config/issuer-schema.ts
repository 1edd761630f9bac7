// Issuer schema (Istio `jwtRules` vocabulary): the `issuers[]` entries of the configuration, their
// key sources and token locations. Part of ConfigSchema (schema.ts); defaults live here and only here.
import { Type, type Static } from '@sinclair/typebox';
import { StringEnum } from './schema-parts.js';
import { K8S_DEFAULT_API_SERVER, K8S_SA_DIR } from './defaults.js';

export const ASYMMETRIC_ALGS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;
export const HMAC_ALGS = ['HS256', 'HS384', 'HS512'] as const;
const Alg = StringEnum([...ASYMMETRIC_ALGS, ...HMAC_ALGS]);

const HeaderLocation = Type.Object(
  {
    name: Type.String({ minLength: 1, pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$", description: 'header name' }),
    prefix: Type.Optional(Type.String({ default: '', description: 'value prefix stripped before the token, e.g. "Bearer "' })),
  },
  { additionalProperties: false },
);

const ClaimToHeader = Type.Object(
  {
    header: Type.String({ minLength: 1, pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$", description: 'upstream request header to set' }),
    claim: Type.String({ minLength: 1, description: 'claim name; nested claims with dots, e.g. realm_access.roles' }),
  },
  { additionalProperties: false },
);

const JwkSet = Type.Object(
  {
    keys: Type.Array(Type.Record(Type.String(), Type.Unknown()), {
      description: 'public JWKs; a set holding private or symmetric key material is rejected whole',
    }),
  },
  { additionalProperties: true },
);

/** Issuer preset for Kubernetes service-account tokens (src/k8s/sa-issuer.ts); `kubernetes: true` is this with every default. */
export const KubernetesIssuerSchema = Type.Object(
  {
    apiServer: Type.Optional(
      Type.String({
        pattern: '^https?://',
        default: K8S_DEFAULT_API_SERVER,
        description: 'API server serving /.well-known/openid-configuration and /openid/v1/jwks',
      }),
    ),
    caFile: Type.Optional(
      Type.String({
        minLength: 1,
        default: `${K8S_SA_DIR}/ca.crt`,
        description: 'CA bundle for the API server (default: the pod service-account ca.crt)',
      }),
    ),
    tokenFile: Type.Optional(
      Type.String({
        minLength: 1,
        default: `${K8S_SA_DIR}/token`,
        description: 'bearer token for discovery/JWKS (default: the pod service-account token; re-read on every fetch)',
      }),
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
      Type.String({
        pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
        maxLength: 63,
        description:
          'a namespace name: where the Secret is (default: the namespace zt-authz runs in: POD_NAMESPACE, else the in-cluster service account namespace)',
      }),
    ),
    name: Type.String({ pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$', maxLength: 253, description: 'a Secret name' }),
    key: Type.Optional(
      Type.String({
        pattern: '^[-._a-zA-Z0-9]+$',
        maxLength: 253,
        default: 'jwks.json',
        description: 'a Secret data key: the one holding the JWKS JSON document',
      }),
    ),
  },
  {
    additionalProperties: false,
    description: 'JWKS in a Kubernetes Secret, watched through the API (needs kubernetes.enabled); updates apply at once',
  },
);

/**
 * RFC 7662 token introspection (src/authn/introspection/): tokens that are not JWTs, found where
 * the issuer looks for tokens, are sent to the issuer's introspection endpoint. The key names are
 * a contract.
 */
const Introspection = Type.Object(
  {
    endpoint: Type.Optional(
      Type.String({
        pattern: '^https?://',
        description: 'introspection endpoint URL (default: introspection_endpoint from {issuer}/.well-known/openid-configuration)',
      }),
    ),
    clientId: Type.String({ minLength: 1, description: 'client_id zt-authz authenticates to the endpoint with' }),
    clientSecretFile: Type.String({
      minLength: 1,
      description: 'file holding the client secret (client_secret_basic); re-read when it changes; never logged',
    }),
    cacheSeconds: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 3600,
        default: 60,
        description: 'an active result is reused at most this long, never past its exp (0: ask the endpoint every time)',
      }),
    ),
    negativeCacheSeconds: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 3600, default: 5, description: 'an inactive (active: false) result is reused this long' }),
    ),
    timeoutMs: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 60000,
        default: 1000,
        description: 'per-call timeout, body included; slower: the request is denied as introspection_unavailable',
      }),
    ),
    maxInFlight: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 10000,
        default: 64,
        description:
          'introspection calls in flight for this issuer; past it a request is denied as introspection_unavailable (fail closed)',
      }),
    ),
    maxResponseBytes: Type.Optional(
      Type.Integer({
        minimum: 256,
        maximum: 1048576,
        default: 65536,
        description: 'largest introspection (or discovery) response; larger: introspection_unavailable',
      }),
    ),
  },
  {
    additionalProperties: false,
    description: 'RFC 7662 introspection of opaque (non-JWT) tokens; alone or beside a JWKS source (JWTs are then verified locally)',
  },
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
      Type.String({
        minLength: 1,
        description:
          'file with an HS* secret (≥ 32 bytes for HS256, 48 for HS384, 64 for HS512); the only way to allow HS*; re-read when it changes',
      }),
    ),
    hmacSecretFiles: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        minItems: 1,
        maxItems: 4,
        uniqueItems: true,
        description:
          'instead of hmacSecretFile: up to 4 files, one HS* secret each, all accepted (rotation overlap); each re-read when it changes',
      }),
    ),
    audiences: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        minItems: 1,
        description: 'token `aud` must contain one of these; required unless anyAudience: true (or a kubernetes issuer)',
      }),
    ),
    anyAudience: Type.Optional(
      Type.Boolean({
        description:
          'accept a token minted for any audience (no `aud` check; validate and start-up warn). Not allowed with audiences or kubernetes',
      }),
    ),
    algorithms: Type.Optional(Type.Array(Alg, { minItems: 1, description: 'allow-list; default: asymmetric algorithms only' })),
    fromHeaders: Type.Optional(
      Type.Array(HeaderLocation, {
        minItems: 1,
        description: 'headers that may carry the token (default: authorization with the prefix "Bearer ")',
      }),
    ),
    fromParams: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), { description: 'query parameters that may carry the token (names matched as sent)' }),
    ),
    fromCookies: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), { description: 'cookies that may carry the token (names matched as sent)' }),
    ),
    clockSkewSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 600, default: 30, description: 'leeway for exp, nbf and iat' })),
    maxTokenAgeSeconds: Type.Optional(Type.Integer({ minimum: 1, description: 'reject tokens whose iat is older; requires iat' })),
    typ: Type.Optional(Type.String({ minLength: 1, description: 'required JWT typ header, e.g. at+jwt' })),
    requiredClaims: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'claims that must be present (exp always is)' }),
    ),
    outputClaimToHeaders: Type.Optional(
      Type.Array(ClaimToHeader, {
        default: [],
        description: 'claims sent upstream as headers; nested claims written with dots, arrays comma-joined',
      }),
    ),
    forwardOriginalToken: Type.Optional(
      Type.Boolean({ default: false, description: 'keep the credential on the upstream request (Istio default: removed)' }),
    ),
    jwksRefreshSeconds: Type.Optional(
      Type.Integer({
        minimum: 1,
        default: 300,
        description: 'background JWKS refresh interval (after errors: backoff from 1 s up to this)',
      }),
    ),
    jwksCooldownSeconds: Type.Optional(
      Type.Integer({
        minimum: 1,
        default: 30,
        description:
          'window of the unknown-kid refetch bound: at most 4 refetches per window, ≥ 1 s apart; ≥ 1 so unknown-kid floods cannot hammer the IdP',
      }),
    ),
    jwksTimeoutMs: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 60000,
        default: 2000,
        description: 'per-request timeout of JWKS, discovery and Kubernetes issuer fetches, body included',
      }),
    ),
    jwksMaxBytes: Type.Optional(
      Type.Integer({
        minimum: 256,
        maximum: 16 * 1024 * 1024,
        default: 1048576,
        description: 'largest JWKS or discovery response; larger: the fetch fails and the last-known-good keys stay',
      }),
    ),
    introspection: Type.Optional(Introspection),
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

export type IssuerConfig = Static<typeof IssuerSchema>;
export type KubernetesIssuerInput = Static<typeof KubernetesIssuerSchema>;
export type IntrospectionInput = Static<typeof Introspection>;
