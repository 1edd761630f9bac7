// Strict and loose readings of attributes where zt-authz and Istio/Envoy could disagree (see
// docs/istio-differences.md). compile.ts picks the reading per condition: the strict one where a
// match lets a request through (`X` in an ALLOW, `notX` in a DENY/AUDIT), the loose one where a
// match denies (`X` in a DENY/AUDIT, `notX` in an ALLOW). The strict reading never matches more
// than Istio's RBAC filter would, so an ALLOW never admits what its author did not write; the
// loose one matches at least what Istio's would, so a DENY still fires wherever Istio's does.
import type { Attr, PolicyContext } from './context.js';
import { stringMatcher, type Matcher } from './match.js';
import { globMatcher } from './glob.js';
import { canonicalHostPattern, hostAsSent, hostMatchValues, portHostPattern, withoutDefaultPort } from '../decision/host.js';

const NONE: readonly string[] = [];
const SCHEME = 'spiffe://';

/**
 * `namespaces` / `source.namespace`, as Istio's srcNamespaceGenerator reads them: every `*` is
 * any run of characters (`ns.*.prod`, `*-prod`, `team-*-ns`), everything else literal (Istio
 * quotes the rest). The value compared is the peer's namespace alone, so `*` cannot reach into
 * another segment of the principal the way Istio's regex over the whole principal can; that wider
 * reading is the loose one (identity/spiffe.ts istioNamespaceMatcher).
 */
export function namespaceGlobMatcher(pattern: string): Matcher {
  // A glob, not a regex: one `[\s\S]*` per `*` backtracks for seconds on a long value (glob.ts).
  const glob = globMatcher(pattern);
  return (v) => v !== undefined && v !== '' && glob(v);
}

/**
 * `principals` / `source.principal`, strict: Istio's StringMatcherWithPrefix(value, "spiffe://")
 * over the principal as reported. `*` is any non-empty principal; every other form compares
 * "spiffe://" + pattern, so a peer whose principal is not a spiffe:// URI (a bare td/ns/N/sa/S,
 * a certificate Subject, SPIFFE:// in upper case) matches only `*`. `pattern` has no scheme
 * (compile.ts strips one the policy wrote).
 */
export function spiffePrincipalMatcher(pattern: string): Matcher {
  if (pattern === '*') return (v) => v !== undefined && v !== '';
  const rest = stringMatcher(pattern);
  return (v) => v !== undefined && v.startsWith(SCHEME) && rest(v.slice(SCHEME.length));
}

/** Strict: the principal as reported (spiffePrincipalMatcher adds the scheme to the pattern). */
export const reportedPrincipal: Attr = (c) => (c.source?.reported ? [c.source.reported] : NONE);

/**
 * Loose: the principal without its scheme, in any case, and as reported: a DENY on
 * `td/ns/N/sa/S` also meets a peer reporting the bare `td/ns/N/sa/S` or `SPIFFE://td/ns/N/sa/S`,
 * which Istio's would not; matching more is the side this reading is used on.
 */
export const loosePrincipals: Attr = (c) => {
  const reported = c.source?.reported;
  if (!reported) return c.source?.principal ? [c.source.principal] : NONE;
  const bare = /^spiffe:\/\//i.test(reported) ? reported.slice(SCHEME.length) : reported;
  return bare === reported ? [reported] : [bare, reported];
};

/**
 * Methods. Envoy compares `:method` as sent, case-sensitively (methods are case-sensitive,
 * RFC 9110 §9.1), so Istio's `methods: [GET]` does not match `get`. Strict: the method as sent
 * against the pattern as written. Loose: both upper-cased, since an upstream may well serve `get`
 * as GET, so a DENY on GET also denies `get`, `Get`...
 */
export const methodAsSent: Attr = (c) => {
  const m = c.input.methodAsSent ?? c.input.method;
  return m ? [m] : NONE;
};
export const methodUpper: Attr = (c) => (c.input.method ? [c.input.method.toUpperCase()] : NONE);
export function methodLooseMatcher(pattern: string): Matcher {
  return stringMatcher(pattern, true);
}

/**
 * Hosts, strict: Istio matches `hosts` against `:authority` as sent (case-insensitively), so
 * `example.com` does not match `example.com:8080`; Istio's own advice for "any port" is
 * `example.com:*` (a prefix match on "example.com:"). The value is the host as sent
 * (decision/host.ts hostAsSent: lower case, no trailing dot or empty port, the port kept, 80 and
 * 443 too). A pattern that names a port (`orders:443`, `*:443`) is compared with it, so it admits
 * only that port: `orders:443` neither `orders:80` nor `orders`, `*:443` not `admin:8080`. Every
 * other pattern is compared with the canonical host (default port dropped): `example.com` admits
 * `example.com`, `example.com:80` and `example.com:443` (one virtual host), not
 * `example.com:8080`; `name:*` matches `name` and `name:<port>`.
 */
export const strictHost: Attr = (c) => {
  const raw = c.input.hostAsSent ?? c.input.host;
  if (!raw) return NONE;
  const h = hostAsSent(raw) ?? raw.toLowerCase();
  return h ? [h] : NONE;
};
export function strictHostMatcher(pattern: string): Matcher {
  const withPort = portHostPattern(pattern);
  if (withPort !== undefined) return stringMatcher(withPort, true);
  const name = stringMatcher(canonicalHostPattern(pattern), true);
  if (!(pattern.length > 2 && pattern.endsWith(':*'))) return (v) => v !== undefined && name(withoutDefaultPort(v));
  // "name:*" (canonicalHostPattern made it "name"): the name with or without a port.
  return (v) => {
    if (v === undefined) return false;
    const c = withoutDefaultPort(v);
    return name(c) || name(/^(.+):[0-9]+$/.exec(c)?.[1]);
  };
}

/**
 * Hosts, loose: the canonical host and the host without its port (`hostMatchValues`: a DENY on a
 * bare host holds on every port), and the host as sent, each against the canonical pattern or
 * the strict matcher: never less than either, so a DENY on `admin:443` still meets `admin:80`
 * (one canonical host) as it did before ports were kept.
 */
export const looseHosts: Attr = (c) => {
  const canonical = c.input.host ? hostMatchValues(c.input.host) : NONE;
  const sent = strictHost(c);
  return sent.length === 0 || canonical.includes(sent[0]!) ? canonical : [...canonical, sent[0]!];
};
export function looseHostMatcher(pattern: string): Matcher {
  const canonical = stringMatcher(canonicalHostPattern(pattern), true);
  const strict = strictHostMatcher(pattern);
  return (v) => canonical(v) || strict(v);
}

/**
 * `request.auth.claims[scope]` / `[scp]`. Istio has Envoy split `scope` (and `permission`) on
 * spaces and reads each claim under its own name only. Strict: that, for the claim named
 * (`scp` as Envoy leaves it: a string is one value). Loose: every scope the token carries,
 * `scope` and `scp` alike, split on spaces (Identity.scopes), so a DENY on a scope fires
 * whichever of the two claims the issuer used.
 */
export function scopeClaimStrict(name: 'scope' | 'scp'): Attr {
  return (c: PolicyContext) => {
    const v = c.identity?.claims[name];
    if (typeof v === 'string') return name === 'scope' ? v.split(' ').filter((s) => s !== '') : v === '' ? NONE : [v];
    if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string' && x !== '');
    return NONE;
  };
}
export const allScopes: Attr = (c) => c.identity?.scopes ?? NONE;

/** Matchers of the kinds above (compile.ts matcherFor), or undefined for another kind. */
export function readingMatcher(kind: string, value: string): Matcher | undefined {
  switch (kind) {
    case 'namespace':
      return namespaceGlobMatcher(value);
    case 'principal':
      return spiffePrincipalMatcher(value);
    case 'methodLoose':
      return methodLooseMatcher(value);
    case 'hostStrict':
      return strictHostMatcher(value);
    case 'host':
      return looseHostMatcher(value);
    default:
      return undefined;
  }
}
