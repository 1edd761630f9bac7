// Peer identity from the principal Envoy reports (certificate URI SAN, else DNS SAN, else the
// Subject) or from trusted XFCC. Only a real SPIFFE ID as Istio issues it,
// spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>, yields a namespace and a service
// account: any other string is a principal only. Envoy falls back to the Subject, so a
// certificate without a URI SAN whose Subject reads "CN=x/ns/prod/sa/admin" must not pass for
// the workload prod/admin in an ALLOW rule.
//
// DENY rules need the opposite, looser reading: Istio matches `namespaces` and `serviceAccounts`
// with regexes over the whole reported principal, so policies/compile.ts also keeps `reported`
// and matches those regexes (istioNamespaceMatcher, istioServiceAccountMatcher) where matching
// more is the fail-closed side.

import { globMatcher } from '../policy/glob.js';

export interface PeerIdentity {
  /** Principal as Istio policies write it: a SPIFFE ID without its scheme (td/ns/N/sa/S), else as reported. */
  principal: string;
  /** The principal exactly as Envoy (or trusted XFCC) reported it; absent for non-mTLS sources. */
  reported?: string;
  namespace?: string;
  serviceAccount?: string;
}

// SPIFFE ID syntax (SPIFFE-ID spec §2): a lower-case `spiffe` scheme, a trust domain of
// [a-z0-9._-], path segments of [A-Za-z0-9._-] that are not "." or "..". Istio's form has
// exactly the four segments ns/N/sa/S; percent-escapes, empty segments, extra segments, a query
// or a fragment are not this form, so they yield no namespace or service account.
const TRUST_DOMAIN = '[a-z0-9._-]+';
const SEGMENT = '(?!\\.\\.?(?:/|$))[A-Za-z0-9._-]+';
const ISTIO_SPIFFE = new RegExp(`^spiffe://${TRUST_DOMAIN}/ns/(${SEGMENT})/sa/(${SEGMENT})$`);

export function parsePrincipal(raw: string | undefined): PeerIdentity | undefined {
  if (!raw) return undefined;
  if (!raw.startsWith('spiffe://')) return { principal: raw, reported: raw };
  const principal = raw.slice('spiffe://'.length);
  const m = ISTIO_SPIFFE.exec(raw);
  return m ? { principal, reported: raw, namespace: m[1]!, serviceAccount: m[2]! } : { principal, reported: raw };
}

/**
 * A policy value as Istio puts it in an RBAC regex: Istio does not escape it, so "*" is ".*" and
 * "." is any character. Other characters are taken literally (Kubernetes names have none that
 * are special in a regex). Matched as a glob (policy/glob.ts), not a regex: a value is policy
 * text, and a regex with a `.*` per "*" backtracks for seconds on a long principal. `.` (any one
 * character, line breaks included) is the glob's any-character.
 */
const ANY = '.';

/**
 * Istio's `namespaces: [N]` (srcNamespaceGenerator): the regex ".*" + "/ns/N/" + ".*" over the
 * whole reported principal. It ignores the scheme and its case, the trust domain and any other
 * segment: spiffe://td/ns/N/sa/x/extra, spiffe://td//ns/N/sa/x and SPIFFE://td/ns/N/sa/x all
 * match, and so does a certificate Subject holding "/ns/N/".
 */
export function istioNamespaceMatcher(value: string): (reported: string) => boolean {
  return globMatcher(`*/ns/${value}/*`, ANY);
}

/**
 * Istio's `serviceAccounts: [ns/sa]` (serviceAccountRegex) is `spiffe://.+/ns/NS/(.+/|)sa/SA(/.+)?`
 * over the whole reported principal: segments may come between ns/NS and sa/SA and after it.
 * This matches a superset: any scheme (or none, as in the namespaces regex), so an upper-case
 * SPIFFE://, a bare td/ns/NS/sa/SA or a Subject holding /ns/NS/sa/SA meets a DENY too, and a
 * trailing slash; matching more is the side this reading is used on. The regex
 * `.*\/ns/NS/(?:.+/|)sa/SA(?:/.*)?` is the union of four globs: with or without segments between
 * (".*" + "/" after "/ns/NS/", the "." being one character), with or without a tail ("/*").
 */
export function istioServiceAccountMatcher(nsSlashSa: string): (reported: string) => boolean {
  const slash = nsSlashSa.indexOf('/');
  const ns = nsSlashSa.slice(0, slash);
  const sa = nsSlashSa.slice(slash + 1);
  const globs = [`*/ns/${ns}/sa/${sa}`, `*/ns/${ns}/sa/${sa}/*`, `*/ns/${ns}/.*/sa/${sa}`, `*/ns/${ns}/.*/sa/${sa}/*`].map((g) =>
    globMatcher(g, ANY),
  );
  return (reported) => globs.some((g) => g(reported));
}
