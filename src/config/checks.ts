// Rules across fields that the JSON Schema cannot express. Each returns its problems; the
// resolver reports them together. Input: validated, schema defaults filled in.
import ipaddr from 'ipaddr.js';
import type { ConfigInput } from './schema.js';
import type { ConfigProblem } from './problems.js';
import type { Config, ResolvedIssuer } from './types.js';

// Headers we set upstream must not collide with routing or credential headers.
const RESERVED = new Set(['host', 'authorization', 'cookie', 'content-length', 'transfer-encoding', 'connection', 'te', 'upgrade']);

export function headerProblems(input: ConfigInput, issuers: ResolvedIssuer[]): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const credentialHeaders = new Set(issuers.flatMap((i) => i.fromHeaders.map((h) => h.name)));
  const check = (raw: string | undefined, path: string) => {
    if (raw === undefined) return;
    const name = raw.toLowerCase();
    if (!/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) out.push({ path, message: `"${raw}" is not a valid header name` });
    else if (name.startsWith(':') || RESERVED.has(name) || credentialHeaders.has(name))
      out.push({ path, message: `"${raw}" is reserved (routing or credential header)` });
  };
  check(input.response?.subjectHeader, 'response.subjectHeader');
  check(input.response?.issuerHeader, 'response.issuerHeader');
  check(input.response?.scopesHeader, 'response.scopesHeader');
  issuers.forEach((iss, i) =>
    iss.outputClaimToHeaders.forEach((h, j) => check(h.header, `issuers[${i}].outputClaimToHeaders[${j}].header`)),
  );
  return out;
}

export function auditProblems(input: ConfigInput): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  input.audit!.claims!.forEach((c, i) => {
    if (c === 'sub')
      out.push({ path: `audit.claims[${i}]`, message: 'the subject is recorded per audit.subject (plain or hash), not as a claim' });
  });
  return out;
}

/** The three HTTP modes are told apart by path: their paths must not overlap. */
export function httpProblems(h: Config['http']): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  if (h.nginxPath === h.ingressNginxPath) out.push({ path: 'http.ingressNginxPath', message: 'must differ from http.nginxPath' });
  for (const key of ['nginxPath', 'ingressNginxPath'] as const) {
    if (h.pathPrefix && h[key].startsWith(`${h.pathPrefix}/`)) {
      out.push({ path: `http.${key}`, message: `must not start with http.pathPrefix "${h.pathPrefix}" (Envoy requests could reach it)` });
    }
  }
  return out;
}

export function kubernetesProblems(input: ConfigInput): ConfigProblem[] {
  const k = input.kubernetes!;
  const out: ConfigProblem[] = [];
  if (k.kubeconfig && k.apiServer) out.push({ path: 'kubernetes.apiServer', message: 'set either kubeconfig or apiServer, not both' });
  if (!k.apiServer && (k.tokenFile || k.caFile || k.insecureSkipTlsVerify))
    out.push({ path: 'kubernetes', message: 'tokenFile, caFile and insecureSkipTlsVerify need apiServer' });
  if (k.rootNamespace && k.namespaces!.length && !k.namespaces!.includes(k.rootNamespace)) {
    out.push({
      path: 'kubernetes.rootNamespace',
      message: `"${k.rootNamespace}" is not in kubernetes.namespaces, so it would never be watched`,
    });
  }
  return out;
}

/**
 * trustXfcc without trusted peers would believe a header any client can send (Istio sidecars
 * forward client XFCC by default and accept plaintext under PERMISSIVE mTLS): refuse it.
 */
export function identityProblems(input: ConfigInput): ConfigProblem[] {
  const id = input.identity!;
  const problems: ConfigProblem[] = [];
  const peers = id.xfccTrustedPeers;
  if (id.trustXfcc && !(peers?.principals?.length || peers?.ipBlocks?.length)) {
    problems.push({
      path: 'identity.xfccTrustedPeers',
      message: 'required with identity.trustXfcc: list the principals and/or ipBlocks of the proxies that sanitise x-forwarded-client-cert',
    });
  }
  (peers?.principals ?? []).forEach((p, i) => {
    if (p.includes('*'))
      problems.push({ path: `identity.xfccTrustedPeers.principals[${i}]`, message: 'must be an exact principal (no wildcards)' });
  });
  (peers?.ipBlocks ?? []).forEach((b, i) => {
    if (!isIpOrCidr(b))
      problems.push({ path: `identity.xfccTrustedPeers.ipBlocks[${i}]`, message: `"${b}" is not a valid IP address or CIDR block` });
  });
  return problems;
}

/** What the XFCC peer matcher (identity/xfcc.ts, through policy/match.ts) accepts: an address or a CIDR block. */
function isIpOrCidr(block: string): boolean {
  try {
    if (block.includes('/')) ipaddr.parseCIDR(block);
    else ipaddr.parse(block);
    return true;
  } catch {
    return false;
  }
}
