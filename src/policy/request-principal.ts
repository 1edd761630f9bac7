// `requestPrincipals`, `notRequestPrincipals` and the `when` key `request.auth.principal`, read
// the way Istio reads them (pilot requestPrincipalGenerator). Istio does not compare the joined
// "<iss>/<sub>" string: it splits the pattern at its LAST "/" (an issuer is usually a URL) and
// matches the token's `iss` and `sub` claims separately:
//
//   "*"            iss any (non-empty)           sub any (non-empty)
//   "<iss>/*"      iss exactly <iss>             sub any
//   "<iss>/<p>*"   iss exactly <iss>             sub starts with <p>
//   "<p>*"  (no /) iss starts with <p>           sub any
//   "*/<sub>"      iss any                       sub exactly <sub>
//   "*<s>/<sub>"   iss ends with <s>             sub exactly <sub>
//   "*<s>"  (no /) iss any                       sub ends with <s>
//   otherwise      iss exactly the part before the last "/", sub exactly the part after it
//                  (no "/": iss exactly the pattern, sub "" — which no token has)
//
// A leading "*" is read first, so "*a/b*" is iss ending with "a" and sub exactly "b*".
// Prefix-matching the joined string instead matches more wherever one issuer URL is a prefix of
// another: "https://idp/t/*" would admit tokens of the issuer "https://idp/t/admin", and
// "https://kc/realms/shop*" those of both realms "shop" and "shop-admin" (Istio: issuer
// "https://kc/realms" with a subject starting "shop").
import type { Matcher } from './match.js';

/**
 * The value request-principal matchers read: issuer and subject kept apart, because the joined
 * "<iss>/<sub>" cannot be split back when the subject holds a "/". The issuer's length leads, so
 * no character of either part can be taken for the separator.
 */
export function principalKey(issuer: string, subject: string): string {
  return `${issuer.length}:${issuer}${subject}`;
}

function splitKey(key: string): [issuer: string, subject: string] | undefined {
  const colon = key.indexOf(':');
  const n = colon > 0 ? Number(key.slice(0, colon)) : NaN;
  if (!Number.isInteger(n) || n < 0 || colon + 1 + n > key.length) return undefined;
  return [key.slice(colon + 1, colon + 1 + n), key.slice(colon + 1 + n)];
}

type Part = (s: string) => boolean;
const any: Part = (s) => s !== ''; // Istio's safe_regex ".+"
const exact =
  (x: string): Part =>
  (s) =>
    s === x;
const prefix =
  (x: string): Part =>
  (s) =>
    s.startsWith(x);
const suffix =
  (x: string): Part =>
  (s) =>
    s.endsWith(x);

/**
 * Istio's (issuer, subject) conditions for one pattern; `subForm` says which kind of subject test
 * it is (policy replay reasons about a subject it only has as a hash).
 */
export function requestPrincipalParts(pattern: string): { iss: Part; sub: Part; subForm: 'any' | 'exact' | 'prefix' | 'suffix' } {
  const slash = pattern.lastIndexOf('/');
  const found = slash >= 0;
  const iss = found ? pattern.slice(0, slash) : pattern;
  const sub = found ? pattern.slice(slash + 1) : '';
  if (pattern === '*') return { iss: any, sub: any, subForm: 'any' };
  if (pattern.startsWith('*')) {
    if (!found) return { iss: any, sub: suffix(pattern.slice(1)), subForm: 'suffix' };
    return { iss: iss === '*' ? any : suffix(iss.slice(1)), sub: exact(sub), subForm: 'exact' };
  }
  if (pattern.endsWith('*')) {
    if (!found) return { iss: prefix(pattern.slice(0, -1)), sub: any, subForm: 'any' };
    return sub === '*'
      ? { iss: exact(iss), sub: any, subForm: 'any' }
      : { iss: exact(iss), sub: prefix(sub.slice(0, -1)), subForm: 'prefix' };
  }
  return { iss: exact(iss), sub: exact(sub), subForm: 'exact' };
}

/** Matches principalKey() values; anything else (no verified token) never matches. */
export function requestPrincipalMatcher(pattern: string): Matcher {
  const { iss, sub } = requestPrincipalParts(pattern);
  return (v) => {
    const parts = v === undefined ? undefined : splitKey(v);
    return parts !== undefined && iss(parts[0]) && sub(parts[1]);
  };
}
