// Policy values of the peer-identity fields that Istio rewrites before matching, with the trust
// domain bundle (identity.trustDomain + identity.trustDomainAliases; identity/trust-domain.ts):
// `principals` / `notPrincipals` / `when source.principal` and `trustDomains` /
// `notTrustDomains` / `when source.trustDomain`.
import { expandTrustDomainAliases, replaceTrustDomainAliases, trustDomainValueProblem } from '../identity/trust-domain.js';

export interface PeerValueScope {
  action: string;
  report: (field: string, message: string) => void;
  /** [trustDomain, ...trustDomainAliases]. */
  trustDomains: readonly string[];
}

/**
 * The values to match, or undefined after reporting a problem. Istio's rewrite can also narrow a
 * value: a wildcard trust domain (`td*` before /ns/N/sa/S) becomes one value per bundle trust
 * domain it matches, and `cluster.local/...`
 * (the local trust domain) loses cluster.local itself when the local trust domain has another
 * name. Where a match denies (values of a DENY/AUDIT, not-values of an ALLOW) the values as
 * written are kept too, so such a rule never matches less than its author wrote.
 */
export function peerValues(
  field: 'principals' | 'trustDomains',
  values: readonly string[],
  at: string,
  negated: boolean,
  scope: PeerValueScope,
): string[] | undefined {
  const matchDenies = (scope.action !== 'ALLOW') !== negated;
  if (field === 'principals') {
    // Istio principals may be written with or without the spiffe:// scheme; the one place it is
    // dropped (compile.ts matches these values as they are).
    const bare = values.map((v) => v.replace(/^spiffe:\/\//, ''));
    const out = replaceTrustDomainAliases(bare, scope.trustDomains);
    return matchDenies ? union(out, bare) : out;
  }
  let ok = true;
  values.forEach((v, i) => {
    const problem = trustDomainValueProblem(v);
    if (problem) {
      scope.report(`${at}[${i}]`, problem);
      ok = false;
    }
  });
  return ok ? expandTrustDomainAliases(values, scope.trustDomains) : undefined;
}

function union(a: readonly string[], b: readonly string[]): string[] {
  return [...new Set([...a, ...b])];
}
