// The resolved configuration: what every other layer reads. Built by resolveConfig (resolve.ts)
// from the validated input with every default filled in; never mutated afterwards.
import type { PolicySpec } from './policy-schema.js';
import type { WebhookConfig } from './webhook.js';
import type { ResolvedApiKeySource } from './apikeys-schema.js';
import type { RevocationConfig } from './revocation-schema.js';
import type { TracingConfig } from './tracing-schema.js';
import type { TokenIssuerConfig } from './token-issuer-schema.js';
import type { InternalTokenConfig } from './internal-token-schema.js';

/**
 * What to do with paths the proxy may forward differently from how policies see them (the
 * `paths` block). `reject` is the default for both: a proxy that does not normalise
 * (Envoy's normalize_path is off by default, nginx forwards $request_uri as sent) sends the raw
 * path upstream, so matching a normalised copy would let `/api/internal/../public` pass an
 * ALLOW on `/api/*` and reach the internal handler.
 */
export interface PathRules {
  /** Dot segments, repeated slashes, %-encoded unreserved characters: deny, or match normalised. */
  nonCanonical: 'reject' | 'normalize';
  /** `;` or `%3B` in the path (`;jsessionid=`, `..;/`): deny, or match the path literally. */
  parameters: 'reject' | 'allow';
}

/** identity.xfccTrustedPeers: the proxies trusted to sanitise x-forwarded-client-cert (identity/xfcc.ts). */
export interface XfccTrustedPeers {
  /** mTLS principals of trusted proxies: SPIFFE IDs, written with or without spiffe://; the peer's must be the exact ID. */
  principals: readonly string[];
  /** Source IPs / CIDRs of trusted proxies that reach Envoy without a client certificate. */
  ipBlocks: readonly string[];
}

/** issuers[].introspection, resolved: RFC 7662 introspection of opaque tokens (src/authn/introspection/). */
export interface ResolvedIntrospection {
  /** Absent: `introspection_endpoint` of the issuer's OIDC discovery document. */
  endpoint?: string;
  clientId: string;
  clientSecretFile: string;
  cacheSeconds: number;
  negativeCacheSeconds: number;
  timeoutMs: number;
  maxInFlight: number;
  maxResponseBytes: number;
}

export interface ResolvedIssuer {
  issuer: string;
  keySource:
    | { kind: 'remote'; uri: string }
    | { kind: 'discovery'; issuer: string }
    | { kind: 'inline'; jwks: { keys: Record<string, unknown>[] } }
    | { kind: 'file'; path: string }
    /** Kubernetes service-account issuer preset: discovery + JWKS from the API server with its CA and a bearer token. */
    | { kind: 'kubernetes'; issuer: string; apiServer: string; caFile: string; tokenFile: string }
    /**
     * jwksSecret: data[key] of a Secret, pushed by a watch (src/k8s/secrets.ts); needs
     * kubernetes.enabled. No namespace: the one zt-authz runs in, known only at run time.
     */
    | { kind: 'secret'; namespace?: string; name: string; key: string }
    | { kind: 'none' };
  /** Kubernetes service-account issuer: `sub` system:serviceaccount:NS:SA names the calling workload. */
  kubernetes?: true;
  /**
   * hmacSecretFile or hmacSecretFiles: each file holds one HS* secret; all are accepted (rotation
   * overlap). Re-read when they change and on every reload (key-resolvers.ts).
   */
  hmacSecretFiles?: string[];
  /** Empty only for a kubernetes issuer (per-workload audiences, enforced by the snapshot's audienceCheck) or with anyAudience. */
  audiences: string[];
  /** `anyAudience: true`: the operator chose to accept any `aud` (configWarnings reports it). */
  anyAudience: boolean;
  algorithms: string[];
  fromHeaders: { name: string; prefix: string }[];
  fromParams: string[];
  fromCookies: string[];
  clockSkewSeconds: number;
  maxTokenAgeSeconds?: number;
  typ?: string;
  requiredClaims: string[];
  outputClaimToHeaders: { header: string; claim: string }[];
  forwardOriginalToken: boolean;
  jwksRefreshSeconds: number;
  jwksCooldownSeconds: number;
  jwksTimeoutMs: number;
  jwksMaxBytes: number;
  /**
   * Top-level claims split on spaces before policies see them (Istio's spaceDelimitedClaims;
   * authn/space-delimited.ts): the configured ones plus `permission` and `scope`, sorted.
   */
  spaceDelimitedClaims: string[];
  /** Set: tokens that are not JWTs (and JWTs when the issuer has no local keys) are introspected. */
  introspection?: ResolvedIntrospection;
}

/** server.tls: one certificate for both authorization listeners (src/transport/tls/). */
export interface TlsConfig {
  certFile: string;
  keyFile: string;
  /** Set: mTLS, every client must present a certificate this CA bundle verifies. */
  clientCaFile?: string;
  reloadSeconds: number;
}

export interface Config {
  server: {
    grpc: string;
    http: string;
    admin: string;
    drainSeconds: number;
    readyTimeoutSeconds: number;
    grpcMaxReceiveBytes: number;
    /** The gRPC server implementation (src/transport/grpc-h2/ or grpc-js). */
    grpcImplementation: 'node-http2' | 'grpc-js';
    tls?: TlsConfig;
  };
  issuers: ResolvedIssuer[];
  /** API-key sources (src/authn/apikeys/). */
  apiKeys: ResolvedApiKeySource[];
  /** Revoked tokens and API keys: the watched file and TokenRevocation resources (src/authn/revocation/). */
  revocation: RevocationConfig;
  /** zt-authz as the issuer of internal tokens (src/mint/); absent: it mints none. */
  tokenIssuer?: TokenIssuerConfig;
  policies: PolicySpec[];
  authorization: { rolesClaim: string };
  /** `xfccTrustedPeers` is set exactly when trustXfcc is true (validation requires it then). */
  identity: {
    trustXfcc: boolean;
    xfccTrustedPeers?: XfccTrustedPeers;
    /** X-Forwarded-For hops trusted for the remote IP (identity/remote-ip.ts). */
    numTrustedProxies: number;
    /** [trustDomain, ...trustDomainAliases], Istio's trust domain bundle (identity/trust-domain.ts). */
    trustDomains: string[];
  };
  mode: { default: 'enforce' | 'observe'; namespaces: Readonly<Record<string, 'enforce' | 'observe'>> };
  /** HTTP authz transport (server.http): Envoy http_service and nginx auth_request modes. Header names lower case. */
  http: {
    pathPrefix: string;
    nginxPath: string;
    ingressNginxPath: string;
    originalMethodHeader: string;
    originalUriHeader: string;
    originalUrlHeader: string;
    routedHostHeader: string;
    sourceAddressHeader?: string;
  };
  response: {
    subjectHeader: string;
    issuerHeader: string;
    scopesHeader: string;
    realm?: string;
    /** The minted internal token (src/mint/); policies' `internalToken` override `enabled`. */
    internalToken: InternalTokenConfig;
  };
  /** `paths` is a copy of Config.paths: the normalize stage is handed only `limits`. */
  limits: {
    maxTokenBytes: number;
    maxHeaders: number;
    maxPathBytes: number;
    maxHeaderBytes: number;
    maxInFlight: number;
    paths: PathRules;
  };
  /** How non-canonical paths and path parameters are handled (src/decision/normalize.ts). */
  paths: PathRules;
  tokenCache: { maxEntries: number; maxTtlSeconds: number };
  /** `claims`: claim paths recorded for replay (azp, acr, amr, the roles claim, then audit.claims). */
  audit: { enabled: boolean; allowSampleRate: number; subject: 'plain' | 'hash'; claims: string[] };
  log: { level: string; maxBufferBytes: number };
  kubernetes: KubernetesConfig;
  reload: { watchFile: boolean; debounceMs: number; pollSeconds: number };
  /** Sidecar-injection admission webhook (src/webhook). */
  webhook: WebhookConfig;
  /** OpenTelemetry tracing (src/observe/tracing/); absent: off. Hot-reloaded. */
  tracing?: TracingConfig;
  /** The file this configuration was loaded from (hot reload watches it). */
  file?: string;
}

export interface KubernetesConfig {
  enabled: boolean;
  /** Empty: cluster-wide. */
  namespaces: string[];
  rootNamespace?: string;
  watchPods: boolean;
  podIpSource: boolean;
  /** Namespaces whose pods may select dry-run with zt-authz.io/mode; '*' = all, [] = none. */
  dryRunAnnotationNamespaces: string[];
  writeStatus: boolean;
  resyncSeconds: number;
  backoffMinMs: number;
  backoffMaxMs: number;
  kubeconfig?: string;
  apiServer?: string;
  tokenFile?: string;
  caFile?: string;
  insecureSkipTlsVerify: boolean;
}
