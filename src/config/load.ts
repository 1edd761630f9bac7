// Load and validate configuration: YAML → JSON Schema (ajv) → semantic checks → resolved Config.
// Every error names the offending field as a path like `issuers[0].jwksUri`.
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject } from 'ajv';
import { parseDocument } from 'yaml';
import { ConfigSchema, HMAC_ALGS, ASYMMETRIC_ALGS, type ConfigInput, type IssuerConfig } from './schema.js';
import type { PolicySpec } from '../policy/schema.js';
import { compilePolicies } from '../policy/compile.js';
import type { PolicyIndex } from '../policy/index.js';
import { resolveWebhook, webhookProblems, type WebhookConfig } from '../webhook/config.js';
import { readTlsFiles, TlsFileError } from '../transport/tls/files.js';
import { DEFAULT_MAX_BUFFER_BYTES } from '../observe/log.js';
import type { XfccTrustedPeers } from '../identity/xfcc.js';
import { DEFAULT_TRUST_DOMAIN } from '../identity/trust-domain.js';
import { cidrMatcher } from '../policy/match.js';
import type { PathRules } from '../decision/normalize.js';

export interface ConfigProblem { path: string; message: string }

export class ConfigError extends Error {
  constructor(readonly source: string, readonly problems: ConfigProblem[]) {
    super(`invalid configuration (${source}):\n` + problems.map((p) => `  - ${p.path || '(root)'}: ${p.message}`).join('\n'));
    this.name = 'ConfigError';
  }
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
  /** Empty only for a kubernetes issuer (per-workload audiences, enforced in k8s/hooks) or with anyAudience. */
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
  server: { grpc: string; http: string; admin: string; drainSeconds: number; readyTimeoutSeconds: number; grpcMaxReceiveBytes: number; tls?: TlsConfig };
  issuers: ResolvedIssuer[];
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
  http: { pathPrefix: string; nginxPath: string; ingressNginxPath: string; originalMethodHeader: string; originalUriHeader: string; originalUrlHeader: string; routedHostHeader: string; sourceAddressHeader?: string };
  response: { subjectHeader: string; issuerHeader: string; scopesHeader: string; realm?: string };
  /** `paths` is a copy of Config.paths: the normalize stage is handed only `limits`. */
  limits: { maxTokenBytes: number; maxHeaders: number; maxPathBytes: number; maxHeaderBytes: number; maxInFlight: number; paths: PathRules };
  /** How non-canonical paths and path parameters are handled (src/decision/normalize.ts). */
  paths: PathRules;
  tokenCache: { maxEntries: number; maxTtlSeconds: number };
  /**
   * `claims`: claim paths recorded for replay (azp, acr, amr, the roles claim, then audit.claims);
   * `trustXfcc`, `xfccTrustedPeers`: copies of identity's, so records name the principal the policy stage used.
   */
  audit: { enabled: boolean; allowSampleRate: number; subject: 'plain' | 'hash'; claims: string[]; trustXfcc: boolean; xfccTrustedPeers?: XfccTrustedPeers };
  log: { level: string; maxBufferBytes: number };
  kubernetes: KubernetesConfig;
  reload: { watchFile: boolean; debounceMs: number; pollSeconds: number };
  /** Sidecar-injection admission webhook (src/webhook). */
  webhook: WebhookConfig;
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

/** Defaults of the kubernetes issuer preset (in-cluster service account). */
export const K8S_DEFAULT_ISSUER = 'https://kubernetes.default.svc.cluster.local';
export const K8S_DEFAULT_API_SERVER = 'https://kubernetes.default.svc';
export const K8S_SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false, verbose: true });
const validateSchema = ajv.compile(ConfigSchema);

/** `/issuers/0/jwksUri` → `issuers[0].jwksUri` */
function jsonPointerToPath(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((seg) => seg.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, seg) => (/^\d+$/.test(seg) ? `${acc}[${seg}]` : acc ? `${acc}.${seg}` : seg), '');
}

function describeAjvError(e: ErrorObject): ConfigProblem {
  const base = jsonPointerToPath(e.instancePath);
  const join = (child: string) => (base ? `${base}.${child}` : child);
  switch (e.keyword) {
    case 'additionalProperties':
      return { path: join(String(e.params.additionalProperty)), message: 'unknown field (check spelling)' };
    case 'required':
      return { path: join(String(e.params.missingProperty)), message: 'is required' };
    case 'pattern': {
      const description = (e.parentSchema as { description?: string } | undefined)?.description;
      return { path: base, message: description ? `must be ${description}` : `must match ${String(e.params.pattern)}` };
    }
    case 'enum':
      return { path: base, message: `must be one of ${(e.params.allowedValues as unknown[]).join(', ')}` };
    default:
      return { path: base, message: e.message ?? e.keyword };
  }
}

export function parseConfigText(text: string, source = 'config'): unknown {
  // JSON is YAML too, but the YAML parser takes ~100× longer on large generated configs
  // (10,000 policies: ~10 s and ~500 MB vs ~0.1 s). Invalid JSON falls through to YAML, which
  // gives the precise error.
  if (/^\s*\{/.test(text)) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      /* not JSON after all */
    }
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(source, doc.errors.map((err) => ({ path: '(yaml)', message: err.message.split('\n')[0] ?? String(err) })));
  }
  return doc.toJS() ?? {};
}

/** Policy lists resolveConfig compiled without problems; keyed by the (never mutated) array. */
const compiledByPolicies = new WeakMap<readonly PolicySpec[], { rolesClaim: string; trustDomains: string; index: PolicyIndex }>();

/** The index resolveConfig already compiled for exactly this policy list and roles claim, if any. */
export function precompiledPolicies(config: Config): PolicyIndex | undefined {
  const hit = compiledByPolicies.get(config.policies);
  return hit && hit.rolesClaim === config.authorization.rolesClaim && hit.trustDomains === config.identity.trustDomains.join(' ') ? hit.index : undefined;
}

/**
 * Read and check the server.tls files (readable, PEM, key matches certificate, CA bundle
 * parses) the way `serve` loads them at start. Not part of resolveConfig: a configuration is
 * often validated where the Secret with the files is not mounted (CI, chart rendering).
 */
export function checkTlsFiles(config: Config, source = config.file ?? 'config'): void {
  const tls = config.server.tls;
  if (tls) withTlsConfigErrors(source, () => readTlsFiles(tls));
}

/** Run `load` (reads server.tls files); a TlsFileError becomes a ConfigError naming the field. */
export function withTlsConfigErrors<T>(source: string, load: () => T): T {
  try {
    return load();
  } catch (err) {
    if (err instanceof TlsFileError) throw new ConfigError(source, [{ path: `server.tls.${err.field}`, message: err.message }]);
    throw err;
  }
}

/**
 * Settings that are valid but weaken a check on purpose; `validate` prints them and the service
 * logs them at start-up and on every reload, so the choice stays visible.
 */
export function configWarnings(config: Config): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  config.issuers.forEach((iss, i) => {
    if (iss.anyAudience) {
      out.push({ path: `issuers[${i}].anyAudience`, message: `tokens of ${iss.issuer} minted for any service (any aud) are accepted; list this service's audiences instead` });
    }
  });
  return out;
}

export function loadConfigFile(file: string): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [{ path: '(file)', message: `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}` }]);
  }
  return { ...resolveConfig(parseConfigText(text, file), file), file };
}

/** Validate (schema + semantics) and fill defaults. Throws ConfigError listing every problem. */
export function resolveConfig(raw: unknown, source = 'config'): Config {
  const input = structuredClone(raw ?? {}) as ConfigInput;
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw new ConfigError(source, [{ path: '', message: 'must be a mapping' }]);
  }
  if (!validateSchema(input)) {
    const problems = dedupe((validateSchema.errors ?? []).filter((e) => e.keyword !== 'anyOf').map(describeAjvError));
    throw new ConfigError(source, problems);
  }
  const problems: ConfigProblem[] = [];
  const issuers = (input.issuers ?? []).map((iss, i) => resolveIssuer(iss, `issuers[${i}]`, problems, input.kubernetes?.enabled === true));
  const seen = new Map<string, number>();
  issuers.forEach((iss, i) => {
    const prev = seen.get(iss.issuer);
    if (prev !== undefined) problems.push({ path: `issuers[${i}].issuer`, message: `duplicate of issuers[${prev}]` });
    seen.set(iss.issuer, i);
  });
  const policies = input.policies ?? [];
  const names = new Map<string, number>();
  policies.forEach((p, i) => {
    const key = `${p.namespace ?? ''}/${p.name}`;
    const prev = names.get(key);
    if (prev !== undefined) problems.push({ path: `policies[${i}].name`, message: `duplicate of policies[${prev}]` });
    names.set(key, i);
  });
  const rolesClaim = input.authorization?.rolesClaim ?? 'roles';
  const before = problems.length;
  const trustDomains = trustDomainBundle(input);
  const index = compilePolicies(policies, problems, { rolesClaim, trustDomains });
  // Kept for the first snapshot of this config: compiling 10,000 policies takes ~0.2-0.3 s.
  if (problems.length === before) compiledByPolicies.set(policies, { rolesClaim, trustDomains: trustDomains.join(' '), index });
  problems.push(...headerProblems(input, issuers));
  (input.audit?.claims ?? []).forEach((c, i) => {
    if (c === 'sub') problems.push({ path: `audit.claims[${i}]`, message: 'the subject is recorded per audit.subject (plain or hash), not as a claim' });
  });
  problems.push(...httpProblems(resolveHttp(input.http ?? {})));
  problems.push(...kubernetesProblems(input));
  problems.push(...identityProblems(input));
  problems.push(...webhookProblems(input.webhook));
  if (problems.length) throw new ConfigError(source, problems);

  const s = input.server ?? {};
  const r = input.response ?? {};
  const l = input.limits ?? {};
  const c = input.tokenCache ?? {};
  const a = input.audit ?? {};
  const paths: PathRules = { nonCanonical: input.paths?.nonCanonical ?? 'reject', parameters: input.paths?.parameters ?? 'reject' };
  return {
    server: {
      grpc: s.grpc ?? '0.0.0.0:9191',
      http: s.http ?? '0.0.0.0:9192',
      admin: s.admin ?? '0.0.0.0:9090',
      drainSeconds: s.drainSeconds ?? 10,
      readyTimeoutSeconds: s.readyTimeoutSeconds ?? 30,
      grpcMaxReceiveBytes: s.grpcMaxReceiveBytes ?? 4 * 1024 * 1024,
      ...(s.tls
        ? { tls: { certFile: s.tls.certFile, keyFile: s.tls.keyFile, ...(s.tls.clientCaFile ? { clientCaFile: s.tls.clientCaFile } : {}), reloadSeconds: s.tls.reloadSeconds ?? 60 } }
        : {}),
    },
    issuers,
    policies,
    authorization: { rolesClaim: input.authorization?.rolesClaim ?? 'roles' },
    identity: {
      trustXfcc: input.identity?.trustXfcc ?? false,
      ...xfccPeers(input),
      numTrustedProxies: input.identity?.numTrustedProxies ?? 0,
      trustDomains,
    },
    mode: { default: input.mode?.default ?? 'enforce', namespaces: input.mode?.namespaces ?? {} },
    http: resolveHttp(input.http ?? {}),
    response: {
      subjectHeader: (r.subjectHeader ?? 'x-auth-subject').toLowerCase(),
      issuerHeader: (r.issuerHeader ?? 'x-auth-issuer').toLowerCase(),
      scopesHeader: (r.scopesHeader ?? 'x-auth-scopes').toLowerCase(),
      ...(r.realm !== undefined ? { realm: r.realm } : {}),
    },
    limits: {
      maxTokenBytes: l.maxTokenBytes ?? 8192,
      maxHeaders: l.maxHeaders ?? 256,
      maxPathBytes: l.maxPathBytes ?? 16384,
      maxHeaderBytes: l.maxHeaderBytes ?? 65536,
      maxInFlight: l.maxInFlight ?? 4096,
      paths,
    },
    paths,
    tokenCache: { maxEntries: c.maxEntries ?? 10000, maxTtlSeconds: c.maxTtlSeconds ?? 300 },
    audit: {
      enabled: a.enabled ?? true,
      allowSampleRate: a.allowSampleRate ?? 1,
      subject: a.subject ?? 'plain',
      claims: [...new Set(['azp', 'acr', 'amr', input.authorization?.rolesClaim ?? 'roles', ...(a.claims ?? [])])].filter((c) => !AUDIT_CLAIMS_RECORDED_ELSEWHERE.has(c)),
      trustXfcc: input.identity?.trustXfcc ?? false,
      ...xfccPeers(input),
    },
    log: { level: input.log?.level ?? 'info', maxBufferBytes: input.log?.maxBufferBytes ?? DEFAULT_MAX_BUFFER_BYTES },
    kubernetes: resolveKubernetes(input.kubernetes ?? {}),
    reload: { watchFile: input.reload?.watchFile ?? true, debounceMs: input.reload?.debounceMs ?? 100, pollSeconds: input.reload?.pollSeconds ?? 10 },
    webhook: resolveWebhook(input.webhook),
  };
}

function resolveKubernetes(k: NonNullable<ConfigInput['kubernetes']>): KubernetesConfig {
  return {
    enabled: k.enabled ?? false,
    namespaces: [...new Set(k.namespaces ?? [])],
    ...(k.rootNamespace !== undefined ? { rootNamespace: k.rootNamespace } : {}),
    watchPods: k.watchPods ?? true,
    podIpSource: k.podIpSource ?? false,
    dryRunAnnotationNamespaces: [...new Set(k.dryRunAnnotationNamespaces ?? ['*'])],
    writeStatus: k.writeStatus ?? true,
    resyncSeconds: k.resyncSeconds ?? 300,
    backoffMinMs: k.backoffMinMs ?? 500,
    backoffMaxMs: Math.max(k.backoffMaxMs ?? 30000, k.backoffMinMs ?? 500),
    ...(k.kubeconfig !== undefined ? { kubeconfig: k.kubeconfig } : {}),
    ...(k.apiServer !== undefined ? { apiServer: k.apiServer } : {}),
    ...(k.tokenFile !== undefined ? { tokenFile: k.tokenFile } : {}),
    ...(k.caFile !== undefined ? { caFile: k.caFile } : {}),
    insecureSkipTlsVerify: k.insecureSkipTlsVerify ?? false,
  };
}

/** Problems of the kubernetes block that the schema cannot express. */
/** Istio's trust domain bundle: the local trust domain first, then its aliases (no repeats). */
function trustDomainBundle(input: ConfigInput): string[] {
  return [...new Set([input.identity?.trustDomain ?? DEFAULT_TRUST_DOMAIN, ...(input.identity?.trustDomainAliases ?? [])])];
}

/** identity.xfccTrustedPeers, resolved only when XFCC is trusted (one shared object: compiled once). */
const resolvedPeers = new WeakMap<object, XfccTrustedPeers>();
function xfccPeers(input: ConfigInput): { xfccTrustedPeers?: XfccTrustedPeers } {
  const id = input.identity;
  if (!id?.trustXfcc || !id.xfccTrustedPeers) return {};
  let peers = resolvedPeers.get(id.xfccTrustedPeers);
  if (!peers) {
    peers = { principals: id.xfccTrustedPeers.principals ?? [], ipBlocks: id.xfccTrustedPeers.ipBlocks ?? [] };
    resolvedPeers.set(id.xfccTrustedPeers, peers);
  }
  return { xfccTrustedPeers: peers };
}

/**
 * trustXfcc without trusted peers would believe a header any client can send (Istio sidecars
 * forward client XFCC by default and accept plaintext under PERMISSIVE mTLS): refuse it.
 */
function identityProblems(input: ConfigInput): ConfigProblem[] {
  const id = input.identity;
  const problems: ConfigProblem[] = [];
  const peers = id?.xfccTrustedPeers;
  if (id?.trustXfcc && !(peers?.principals?.length || peers?.ipBlocks?.length)) {
    problems.push({ path: 'identity.xfccTrustedPeers', message: 'required with identity.trustXfcc: list the principals and/or ipBlocks of the proxies that sanitise x-forwarded-client-cert' });
  }
  (peers?.principals ?? []).forEach((p, i) => {
    if (p.includes('*')) problems.push({ path: `identity.xfccTrustedPeers.principals[${i}]`, message: 'must be an exact principal (no wildcards)' });
  });
  (peers?.ipBlocks ?? []).forEach((b, i) => {
    try {
      cidrMatcher(b);
    } catch {
      problems.push({ path: `identity.xfccTrustedPeers.ipBlocks[${i}]`, message: `"${b}" is not a valid IP address or CIDR block` });
    }
  });
  return problems;
}

function kubernetesProblems(input: ConfigInput): ConfigProblem[] {
  const k = input.kubernetes;
  if (!k) return [];
  const out: ConfigProblem[] = [];
  if (k.kubeconfig && k.apiServer) out.push({ path: 'kubernetes.apiServer', message: 'set either kubeconfig or apiServer, not both' });
  if (!k.apiServer && (k.tokenFile || k.caFile || k.insecureSkipTlsVerify)) out.push({ path: 'kubernetes', message: 'tokenFile, caFile and insecureSkipTlsVerify need apiServer' });
  if (k.rootNamespace && k.namespaces?.length && !k.namespaces.includes(k.rootNamespace)) {
    out.push({ path: 'kubernetes.rootNamespace', message: `"${k.rootNamespace}" is not in kubernetes.namespaces, so it would never be watched` });
  }
  return out;
}

/** Recorded as their own audit fields (issuer, subject / subject_hash, auth.audiences, auth.scopes). */
const AUDIT_CLAIMS_RECORDED_ELSEWHERE = new Set(['iss', 'sub', 'aud', 'scope', 'scp']);

function resolveHttp(h: NonNullable<ConfigInput['http']>): Config['http'] {
  return {
    pathPrefix: h.pathPrefix ?? '',
    nginxPath: h.nginxPath ?? '/nginx-auth',
    ingressNginxPath: h.ingressNginxPath ?? '/ingress-nginx-auth',
    originalMethodHeader: (h.originalMethodHeader ?? 'x-original-method').toLowerCase(),
    originalUriHeader: (h.originalUriHeader ?? 'x-original-uri').toLowerCase(),
    originalUrlHeader: (h.originalUrlHeader ?? 'x-original-url').toLowerCase(),
    routedHostHeader: (h.routedHostHeader ?? 'x-routed-host').toLowerCase(),
    ...(h.sourceAddressHeader ? { sourceAddressHeader: h.sourceAddressHeader.toLowerCase() } : {}),
  };
}

/** The three HTTP modes are told apart by path: their paths must not overlap. */
function httpProblems(h: Config['http']): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  if (h.nginxPath === h.ingressNginxPath) out.push({ path: 'http.ingressNginxPath', message: 'must differ from http.nginxPath' });
  for (const key of ['nginxPath', 'ingressNginxPath'] as const) {
    if (h.pathPrefix && h[key].startsWith(`${h.pathPrefix}/`)) {
      out.push({ path: `http.${key}`, message: `must not start with http.pathPrefix "${h.pathPrefix}" (Envoy requests could reach it)` });
    }
  }
  return out;
}

function dedupe(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const k = `${p.path}\0${p.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

const HMAC = new Set<string>(HMAC_ALGS);

function resolveIssuer(input: IssuerConfig, at: string, problems: ConfigProblem[], kubernetesEnabled: boolean): ResolvedIssuer {
  const k8s = input.kubernetes === true ? {} : input.kubernetes === false ? undefined : input.kubernetes;
  if (input.issuer === undefined && !k8s) problems.push({ path: `${at}.issuer`, message: 'is required' });
  const iss = { ...input, issuer: input.issuer ?? K8S_DEFAULT_ISSUER };
  const sources = (['jwksUri', 'jwks', 'jwksFile', 'jwksSecret', 'discovery', 'kubernetes'] as const).filter((k) => iss[k] !== undefined && iss[k] !== false);
  if (sources.length > 1) problems.push({ path: at, message: `set only one of jwksUri, jwks, jwksFile, jwksSecret, discovery, kubernetes (found ${sources.join(', ')})` });
  const hmacFiles = iss.hmacSecretFiles ?? (iss.hmacSecretFile !== undefined ? [iss.hmacSecretFile] : []);
  if (iss.hmacSecretFile !== undefined && iss.hmacSecretFiles !== undefined) {
    problems.push({ path: `${at}.hmacSecretFiles`, message: 'set either hmacSecretFile or hmacSecretFiles, not both' });
  }
  if (sources.length === 0 && !hmacFiles.length) {
    problems.push({ path: at, message: 'needs a key source: jwksUri, jwks, jwksFile, jwksSecret, discovery: true, or hmacSecretFile' });
  }
  // The Secret is read through the Kubernetes API client; without it the issuer could never get keys.
  if (iss.jwksSecret && !kubernetesEnabled) {
    problems.push({ path: `${at}.jwksSecret`, message: 'needs kubernetes.enabled: true (the Secret is watched through the Kubernetes API); or mount the Secret and use jwksFile' });
  }
  const algorithms = iss.algorithms ?? (hmacFiles.length && sources.length === 0 ? ['HS256'] : [...ASYMMETRIC_ALGS]);
  const hmacAlgs = algorithms.filter((a) => HMAC.has(a));
  if (hmacAlgs.length && !hmacFiles.length) {
    problems.push({ path: `${at}.algorithms`, message: `${hmacAlgs.join(', ')} allowed only with hmacSecretFile (a public JWKS key must never be used as an HMAC secret)` });
  }
  if (hmacFiles.length && !hmacAlgs.length) {
    problems.push({ path: `${at}.${iss.hmacSecretFiles ? 'hmacSecretFiles' : 'hmacSecretFile'}`, message: 'set, but algorithms lists no HS* algorithm' });
  }
  // RFC 8725 §3.9: a token minted for another service must not be accepted here. Leaving the
  // audience unchecked has to be an explicit choice, never the default. A kubernetes issuer
  // without audiences is already audience-bound per destination (zt-authz.io/audience).
  if (iss.anyAudience === true) {
    if (iss.audiences) problems.push({ path: `${at}.anyAudience`, message: 'cannot be combined with audiences: remove one of them' });
    if (k8s) problems.push({ path: `${at}.anyAudience`, message: 'not allowed for a kubernetes issuer: service-account tokens must be audience-bound (issuers[].audiences or the zt-authz.io/audience annotation)' });
  } else if (!iss.audiences && !k8s) {
    problems.push({
      path: `${at}.audiences`,
      message: 'is required: list the audiences tokens for this service are minted for (`aud`, RFC 8725 §3.9), or set anyAudience: true to accept tokens minted for any service',
    });
  }
  if (iss.discovery && !/^https?:\/\//.test(iss.issuer)) {
    problems.push({ path: `${at}.discovery`, message: 'discovery needs an http(s) issuer URL' });
  }
  let keySource: ResolvedIssuer['keySource'] = { kind: 'none' };
  if (k8s) {
    keySource = {
      kind: 'kubernetes',
      issuer: iss.issuer,
      apiServer: (k8s.apiServer ?? K8S_DEFAULT_API_SERVER).replace(/\/+$/, ''),
      caFile: k8s.caFile ?? `${K8S_SA_DIR}/ca.crt`,
      tokenFile: k8s.tokenFile ?? `${K8S_SA_DIR}/token`,
    };
  } else if (iss.jwksUri) keySource = { kind: 'remote', uri: iss.jwksUri };
  else if (iss.discovery) keySource = { kind: 'discovery', issuer: iss.issuer };
  else if (iss.jwksFile) keySource = { kind: 'file', path: iss.jwksFile };
  else if (iss.jwksSecret) {
    const { namespace, name, key } = iss.jwksSecret;
    keySource = { kind: 'secret', ...(namespace ? { namespace } : {}), name, key: key ?? 'jwks.json' };
  }
  else if (iss.jwks !== undefined) {
    let jwks: unknown = iss.jwks;
    if (typeof jwks === 'string') {
      try {
        jwks = JSON.parse(jwks);
      } catch {
        problems.push({ path: `${at}.jwks`, message: 'is not valid JSON' });
      }
    }
    if (!jwks || typeof jwks !== 'object' || !Array.isArray((jwks as { keys?: unknown }).keys)) {
      problems.push({ path: `${at}.jwks`, message: 'must be a JWK Set: {"keys": [...]}' });
    } else {
      keySource = { kind: 'inline', jwks: jwks as { keys: Record<string, unknown>[] } };
    }
  }
  const headers = iss.fromHeaders ?? (iss.fromParams || iss.fromCookies ? [] : [{ name: 'authorization', prefix: 'Bearer ' }]);
  return {
    issuer: iss.issuer,
    keySource,
    ...(k8s ? { kubernetes: true as const } : {}),
    ...(hmacFiles.length ? { hmacSecretFiles: hmacFiles } : {}),
    audiences: iss.audiences ?? [],
    anyAudience: iss.anyAudience === true,
    algorithms,
    fromHeaders: headers.map((h) => ({ name: h.name.toLowerCase(), prefix: h.prefix ?? '' })),
    fromParams: iss.fromParams ?? [],
    fromCookies: iss.fromCookies ?? [],
    clockSkewSeconds: iss.clockSkewSeconds ?? 30,
    ...(iss.maxTokenAgeSeconds !== undefined ? { maxTokenAgeSeconds: iss.maxTokenAgeSeconds } : {}),
    ...(iss.typ !== undefined ? { typ: iss.typ } : {}),
    requiredClaims: [...new Set(['exp', ...(iss.requiredClaims ?? [])])],
    outputClaimToHeaders: (iss.outputClaimToHeaders ?? []).map((h) => ({ header: h.header.toLowerCase(), claim: h.claim })),
    forwardOriginalToken: iss.forwardOriginalToken ?? false,
    jwksRefreshSeconds: iss.jwksRefreshSeconds ?? 300,
    jwksCooldownSeconds: iss.jwksCooldownSeconds ?? 30,
    jwksTimeoutMs: iss.jwksTimeoutMs ?? 2000,
    jwksMaxBytes: iss.jwksMaxBytes ?? 1048576,
    spaceDelimitedClaims: [...new Set([...(iss.spaceDelimitedClaims ?? []), 'permission', 'scope'])].sort(),
  };
}

// Headers we set upstream must not collide with routing or credential headers.
const RESERVED = new Set(['host', 'authorization', 'cookie', 'content-length', 'transfer-encoding', 'connection', 'te', 'upgrade']);

function headerProblems(input: ConfigInput, issuers: ResolvedIssuer[]): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const credentialHeaders = new Set(issuers.flatMap((i) => i.fromHeaders.map((h) => h.name)));
  const check = (raw: string | undefined, path: string) => {
    if (raw === undefined) return;
    const name = raw.toLowerCase();
    if (!/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) out.push({ path, message: `"${raw}" is not a valid header name` });
    else if (name.startsWith(':') || RESERVED.has(name) || credentialHeaders.has(name)) out.push({ path, message: `"${raw}" is reserved (routing or credential header)` });
  };
  check(input.response?.subjectHeader, 'response.subjectHeader');
  check(input.response?.issuerHeader, 'response.issuerHeader');
  check(input.response?.scopesHeader, 'response.scopesHeader');
  issuers.forEach((iss, i) => iss.outputClaimToHeaders.forEach((h, j) => check(h.header, `issuers[${i}].outputClaimToHeaders[${j}].header`)));
  return out;
}
