// Configuration → resolved Config: YAML → JSON Schema (ajv, which also fills every default) →
// cross-field checks → the Config every other layer reads. Every problem names its field as a
// path like `issuers[0].jwksUri`, and all of them are thrown together in one ConfigError.
//
// Checks that need other layers (compiling the policies, reading server.tls files) are not made
// here: config is the bottom layer. The snapshot layer passes the policy check in (`checks`),
// so `validate` and reload still list every problem at once, in the same order.
import type { ConfigInput } from './schema.js';
import type { PolicySpec } from './policy-schema.js';
import { validateConfigInput } from './schema-check.js';
import { introspectionLocationProblems, resolveIssuer } from './resolve-issuer.js';
import { resolveApiKeySources } from './apikeys-schema.js';
import { resolveRevocation } from './revocation-schema.js';
import { resolveTracing, tracingProblems } from './tracing-schema.js';
import { resolveTokenIssuer } from './token-issuer-schema.js';
import { internalTokenProblems, resolveInternalToken, type InternalTokenContext } from './internal-token-schema.js';
import { auditProblems, headerProblems, httpProblems, identityProblems, kubernetesProblems } from './checks.js';
import { resolveWebhook, webhookProblems } from './webhook.js';
import { parseConfigText, readConfigText } from './parse.js';
import { ConfigError, type ConfigProblem } from './problems.js';
import type { Config, KubernetesConfig, PathRules, ResolvedIssuer, XfccTrustedPeers } from './types.js';

/** Checks the caller adds to resolution (they need layers above config). */
export interface ConfigChecks {
  /** The problems of the policies, once their names are known to be unique (the snapshot layer compiles them). */
  policies?(policies: PolicySpec[], context: { rolesClaim: string; trustDomains: string[] }): ConfigProblem[];
}

export function loadConfigFile(file: string, checks: ConfigChecks = {}): Config {
  return { ...resolveConfig(parseConfigText(readConfigText(file), file), file, checks), file };
}

/** Validate (schema + cross-field rules + `checks`) and fill defaults. Throws ConfigError listing every problem. */
export function resolveConfig(raw: unknown, source = 'config', checks: ConfigChecks = {}): Config {
  // Every field with a schema default is present from here on (read with `!` below).
  const input = validateConfigInput(raw, source);
  const problems: ConfigProblem[] = [];
  const issuers = input.issuers!.map((iss, i) => resolveIssuer(iss, `issuers[${i}]`, problems, input.kubernetes!.enabled!));
  const seen = new Map<string, number>();
  issuers.forEach((iss, i) => {
    const prev = seen.get(iss.issuer);
    if (prev !== undefined) problems.push({ path: `issuers[${i}].issuer`, message: `duplicate of issuers[${prev}]` });
    seen.set(iss.issuer, i);
  });
  problems.push(...introspectionLocationProblems(issuers));
  const apiKeys = resolveApiKeySources(
    input.apiKeys!,
    { headers: new Set(issuers.flatMap((i) => i.fromHeaders.map((h) => h.name))), params: new Set(issuers.flatMap((i) => i.fromParams)) },
    input.kubernetes!.enabled!,
    problems,
  );
  const tokenIssuer = resolveTokenIssuer(input.tokenIssuer, input.kubernetes!.enabled!, problems);
  const policies = input.policies!;
  const names = new Map<string, number>();
  policies.forEach((p, i) => {
    const key = `${p.namespace ?? ''}/${p.name}`;
    const prev = names.get(key);
    if (prev !== undefined) problems.push({ path: `policies[${i}].name`, message: `duplicate of policies[${prev}]` });
    names.set(key, i);
  });
  const rolesClaim = input.authorization!.rolesClaim!;
  const trustDomains = trustDomainBundle(input);
  if (checks.policies) problems.push(...checks.policies(policies, { rolesClaim, trustDomains }));
  problems.push(...headerProblems(input, issuers));
  const internalToken = resolveInternalToken(input.response!.internalToken ?? {});
  problems.push(...internalTokenProblems(internalToken, internalTokenContext(input, issuers, tokenIssuer !== undefined)));
  problems.push(...auditProblems(input));
  const http = resolveHttp(input.http!);
  problems.push(...httpProblems(http));
  problems.push(...kubernetesProblems(input));
  problems.push(...identityProblems(input));
  problems.push(...webhookProblems(input.webhook!));
  problems.push(...tracingProblems(input.tracing));
  if (problems.length) throw new ConfigError(source, problems);

  const s = input.server!;
  const r = input.response!;
  const l = input.limits!;
  const c = input.tokenCache!;
  const a = input.audit!;
  const id = input.identity!;
  const paths: PathRules = { nonCanonical: input.paths!.nonCanonical!, parameters: input.paths!.parameters! };
  const peers = xfccPeers(input);
  return {
    server: {
      grpc: s.grpc!,
      http: s.http!,
      admin: s.admin!,
      drainSeconds: s.drainSeconds!,
      readyTimeoutSeconds: s.readyTimeoutSeconds!,
      grpcMaxReceiveBytes: s.grpcMaxReceiveBytes!,
      grpcImplementation: s.grpcImplementation!,
      ...(s.tls
        ? {
            tls: {
              certFile: s.tls.certFile,
              keyFile: s.tls.keyFile,
              ...(s.tls.clientCaFile ? { clientCaFile: s.tls.clientCaFile } : {}),
              reloadSeconds: s.tls.reloadSeconds!,
            },
          }
        : {}),
    },
    issuers,
    apiKeys,
    revocation: resolveRevocation(input.revocation),
    ...(tokenIssuer ? { tokenIssuer } : {}),
    policies,
    authorization: { rolesClaim },
    identity: { trustXfcc: id.trustXfcc!, ...peers, numTrustedProxies: id.numTrustedProxies!, trustDomains },
    mode: { default: input.mode!.default!, namespaces: input.mode!.namespaces! },
    http,
    response: {
      subjectHeader: r.subjectHeader!.toLowerCase(),
      issuerHeader: r.issuerHeader!.toLowerCase(),
      scopesHeader: r.scopesHeader!.toLowerCase(),
      ...(r.realm !== undefined ? { realm: r.realm } : {}),
      internalToken,
    },
    limits: {
      maxTokenBytes: l.maxTokenBytes!,
      maxHeaders: l.maxHeaders!,
      maxPathBytes: l.maxPathBytes!,
      maxHeaderBytes: l.maxHeaderBytes!,
      maxInFlight: l.maxInFlight!,
      paths,
    },
    paths,
    tokenCache: { maxEntries: c.maxEntries!, maxTtlSeconds: c.maxTtlSeconds! },
    audit: {
      enabled: a.enabled!,
      allowSampleRate: a.allowSampleRate!,
      subject: a.subject!,
      claims: [...new Set(['azp', 'acr', 'amr', rolesClaim, ...a.claims!])].filter((claim) => !AUDIT_CLAIMS_RECORDED_ELSEWHERE.has(claim)),
    },
    log: { level: input.log!.level!, maxBufferBytes: input.log!.maxBufferBytes! },
    kubernetes: resolveKubernetes(input.kubernetes!),
    reload: { watchFile: input.reload!.watchFile!, debounceMs: input.reload!.debounceMs!, pollSeconds: input.reload!.pollSeconds! },
    webhook: resolveWebhook(input.webhook!),
    ...(input.tracing ? { tracing: resolveTracing(input.tracing) } : {}),
  };
}

/** What the internal-token checks need of the other blocks. */
function internalTokenContext(input: ConfigInput, issuers: readonly ResolvedIssuer[], hasIssuer: boolean): InternalTokenContext {
  const r = input.response!;
  const identityHeaders = new Set([r.subjectHeader!, r.issuerHeader!, r.scopesHeader!].map((h) => h.toLowerCase()));
  for (const iss of issuers) for (const h of iss.outputClaimToHeaders) identityHeaders.add(h.header.toLowerCase());
  const policiesOn: string[] = [];
  input.policies!.forEach((p, i) => {
    if (p.internalToken) policiesOn.push(`policies[${i}]`);
  });
  return { hasIssuer, policiesOn, identityHeaders };
}

/** Recorded as their own audit fields (issuer, subject / subject_hash, auth.audiences, auth.scopes). */
const AUDIT_CLAIMS_RECORDED_ELSEWHERE = new Set(['iss', 'sub', 'aud', 'scope', 'scp']);

function resolveKubernetes(k: NonNullable<ConfigInput['kubernetes']>): KubernetesConfig {
  return {
    enabled: k.enabled!,
    namespaces: [...new Set(k.namespaces)],
    ...(k.rootNamespace !== undefined ? { rootNamespace: k.rootNamespace } : {}),
    watchPods: k.watchPods!,
    podIpSource: k.podIpSource!,
    dryRunAnnotationNamespaces: [...new Set(k.dryRunAnnotationNamespaces)],
    writeStatus: k.writeStatus!,
    resyncSeconds: k.resyncSeconds!,
    backoffMinMs: k.backoffMinMs!,
    // A maximum below the minimum would make the backoff shrink.
    backoffMaxMs: Math.max(k.backoffMaxMs!, k.backoffMinMs!),
    ...(k.kubeconfig !== undefined ? { kubeconfig: k.kubeconfig } : {}),
    ...(k.apiServer !== undefined ? { apiServer: k.apiServer } : {}),
    ...(k.tokenFile !== undefined ? { tokenFile: k.tokenFile } : {}),
    ...(k.caFile !== undefined ? { caFile: k.caFile } : {}),
    insecureSkipTlsVerify: k.insecureSkipTlsVerify!,
  };
}

function resolveHttp(h: NonNullable<ConfigInput['http']>): Config['http'] {
  return {
    pathPrefix: h.pathPrefix!,
    nginxPath: h.nginxPath!,
    ingressNginxPath: h.ingressNginxPath!,
    originalMethodHeader: h.originalMethodHeader!.toLowerCase(),
    originalUriHeader: h.originalUriHeader!.toLowerCase(),
    originalUrlHeader: h.originalUrlHeader!.toLowerCase(),
    routedHostHeader: h.routedHostHeader!.toLowerCase(),
    ...(h.sourceAddressHeader ? { sourceAddressHeader: h.sourceAddressHeader.toLowerCase() } : {}),
  };
}

/** Istio's trust domain bundle: the local trust domain first, then its aliases (no repeats). */
function trustDomainBundle(input: ConfigInput): string[] {
  return [...new Set([input.identity!.trustDomain!, ...input.identity!.trustDomainAliases!])];
}

/** identity.xfccTrustedPeers, resolved only when XFCC is trusted (unused otherwise). */
function xfccPeers(input: ConfigInput): { xfccTrustedPeers?: XfccTrustedPeers } {
  const id = input.identity!;
  if (!id.trustXfcc || !id.xfccTrustedPeers) return {};
  return { xfccTrustedPeers: { principals: id.xfccTrustedPeers.principals!, ipBlocks: id.xfccTrustedPeers.ipBlocks! } };
}
