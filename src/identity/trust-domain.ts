// Trust domains, read the way Istio reads them (pilot/pkg/security/trustdomain and the
// srcTrustDomainGenerator of pilot/pkg/security/authz/model/generator.go).
//
// identity.trustDomain (mesh `trustDomain`, default cluster.local) and identity.trustDomainAliases
// (mesh `trustDomainAliases`) form one bundle: [trustDomain, ...aliases]. Istio applies it at
// compile time to two things only:
//  - `principals` / `notPrincipals` / `when source.principal` values of the form
//    <td>/ns/<N>/sa/<S> whose trust domain is in the bundle (exact, or a "*" prefix/suffix form
//    matching either way) or is "cluster.local" (the name for "the local trust domain") are
//    replaced by one value per bundle trust domain (ReplaceTrustDomainAliases);
//  - `trustDomains` / `notTrustDomains` / `when source.trustDomain` values equal to a bundle trust
//    domain are replaced by the whole bundle (ExpandTrustDomainAliases).
// Anything else is kept as written.
import { DEFAULT_TRUST_DOMAIN } from '../config/defaults.js';
import { PolicyError } from '../errors.js';

const prefixMatch = (a: string, pattern: string) => pattern.endsWith('*') && a.startsWith(pattern.slice(0, -1));
const suffixMatch = (a: string, pattern: string) => pattern.startsWith('*') && a.endsWith(pattern.slice(1));

/** Istio's trustdomain.stringMatch: the pattern may be on either side. */
function inBundle(td: string, bundle: readonly string[]): boolean {
  return bundle.some((s) => td === s || s === '*' || prefixMatch(td, s) || prefixMatch(s, td) || suffixMatch(td, s) || suffixMatch(s, td));
}

/** Istio's Bundle.ReplaceTrustDomainAliases for principal values written without spiffe://. */
export function replaceTrustDomainAliases(principals: readonly string[], bundle: readonly string[]): string[] {
  const out: string[] = [];
  const add = (p: string) => {
    if (!out.includes(p)) out.push(p);
  };
  for (const principal of principals) {
    const parts = principal.split('/');
    // Not <td>/ns/N/sa/S, or a trust domain of "*": the trust domain is not being enforced.
    if (parts.length !== 5 || parts[0] === '*') {
      add(principal);
      continue;
    }
    const td = parts[0]!;
    if (!inBundle(td, bundle) && td !== DEFAULT_TRUST_DOMAIN) {
      add(principal);
      continue;
    }
    // One value per bundle trust domain; a "*x" trust domain that already covers one stays as is.
    for (const t of bundle) add(suffixMatch(t, td) ? principal : [t, ...parts.slice(1)].join('/'));
  }
  return out;
}

/** Istio's Bundle.ExpandTrustDomainAliases. */
export function expandTrustDomainAliases(values: readonly string[], bundle: readonly string[]): string[] {
  const out: string[] = [];
  for (const v of values) for (const x of bundle.includes(v) ? bundle : [v]) if (!out.includes(x)) out.push(x);
  return out;
}

/**
 * Istio's CheckTrustDomainValues: non-empty, at most one "*", only at the start or end, no "/".
 * Returns the problem, or undefined.
 */
export function trustDomainValueProblem(v: string): string | undefined {
  if (v.includes('/')) return `"${v}": a trust domain must not contain "/"`;
  const stars = v.split('*').length - 1;
  if (stars > 1) return `"${v}": at most one "*" is allowed`;
  if (stars === 1 && v !== '*' && !v.startsWith('*') && !v.endsWith('*')) return `"${v}": "*" is only allowed at the start or end`;
  return undefined;
}

/**
 * A trust-domain pattern matched, as Istio's RBAC filter does, against the principal exactly as
 * reported (srcTrustDomainGenerator): "*" is the prefix spiffe:// (any SPIFFE ID), "td" the
 * prefix spiffe://td/, and "p*" / "*s" a regex on the segment between spiffe:// and the next "/"
 * (which must exist): it starts with p / ends with s.
 */
export function trustDomainMatcher(pattern: string): (reported: string | undefined) => boolean {
  const problem = trustDomainValueProblem(pattern);
  if (problem) throw new PolicyError(problem);
  if (pattern === '*') return (r) => r !== undefined && r.startsWith('spiffe://');
  const segment = (r: string | undefined): string | undefined => {
    if (r === undefined || !r.startsWith('spiffe://')) return undefined;
    const slash = r.indexOf('/', 'spiffe://'.length);
    return slash < 0 ? undefined : r.slice('spiffe://'.length, slash);
  };
  if (pattern.startsWith('*')) {
    const s = pattern.slice(1);
    return (r) => segment(r)?.endsWith(s) === true;
  }
  if (pattern.endsWith('*')) {
    const p = pattern.slice(0, -1);
    return (r) => segment(r)?.startsWith(p) === true;
  }
  return (r) => segment(r) === pattern;
}
