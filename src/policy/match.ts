// Value matchers compiled once per snapshot.
// - Istio string forms: exact, "prefix*", "*suffix", "*" (any non-empty value). A leading "*" is
//   read first, as Istio's StringMatcher/HeaderMatcher do: "*x*" is the suffix "x*" (its last
//   "*" is a literal character), not the prefix "*x" and not "contains x".
// - Header values (`request.headers[...]`): the same, except that "*" is Istio's present_match,
//   so it also matches a header sent with an empty value.
// - Path templates, exactly as Istio hands them to Envoy: Istio rewrites "{*}" to "*" and "{**}"
//   to "**" (sanitizePathTemplate) and Envoy's uri_template matcher turns "*" into the regex
//   `[glob]+` (one non-empty segment) and "**" into `[glob/]*` (zero or more characters,
//   slashes included). glob = RFC 3986 pchar, "=" and "*" included: Envoy added "=" to its
//   template characters, and "*" from 1.35 on (runtime guard uri_template_match_on_asterisk, on
//   by default, backported to 1.31-1.34). Matching fewer characters than Envoy would let
//   `DENY /admin/{**}` be side-stepped by `/admin/x=1` or `/admin/x*`. So "/admin/{**}" matches
//   "/admin/", "/admin/x/" and "/admin/x=1/y", but not "/admin"; a DENY on it must not be side-
//   stepped with a trailing slash. "{**}" must be the last operator (literal segments may
//   follow it: "/a/{**}/b" is valid in Istio and Envoy). Template literals may use "=" (Istio's
//   validation and Envoy accept "/a=c/{*}") but not "*".
// - CIDR blocks (ipaddr.js), IPv4-mapped IPv6 addresses normalised to IPv4.
import ipaddr from 'ipaddr.js';
import { PolicyError } from '../errors.js';

export type Matcher = (value: string | undefined) => boolean;

export function stringMatcher(pattern: string, caseInsensitive = false): Matcher {
  const norm = caseInsensitive ? (s: string) => s.toLowerCase() : (s: string) => s;
  const p = norm(pattern);
  if (p === '*') return (v) => v !== undefined && v !== '';
  // Suffix before prefix, in Istio's order: "*x*" is the suffix "x*".
  if (p.startsWith('*')) {
    const suffix = p.slice(1);
    return (v) => v !== undefined && norm(v).endsWith(suffix);
  }
  if (p.endsWith('*')) {
    const prefix = p.slice(0, -1);
    return (v) => v !== undefined && norm(v).startsWith(prefix);
  }
  return (v) => v !== undefined && norm(v) === p;
}

/**
 * `request.headers[name]` values: Istio turns "*" into Envoy's present_match, which a header sent
 * with an empty value satisfies; the other forms are the string forms (none matches "").
 */
export function headerMatcher(pattern: string): Matcher {
  return pattern === '*' ? (v) => v !== undefined : stringMatcher(pattern);
}

/** Values OR: true when any matcher matches the value. */
export function anyOf(matchers: readonly Matcher[]): Matcher {
  if (matchers.length === 1) return matchers[0]!;
  return (v) => {
    for (const m of matchers) if (m(v)) return true;
    return false;
  };
}

/** Multi-valued attributes (list claims, audiences): any element matching counts. */
export function anyValue(m: Matcher, values: readonly string[]): boolean {
  for (const v of values) if (m(v)) return true;
  return false;
}

export function isPathTemplate(p: string): boolean {
  return p.includes('{') || p.includes('}');
}

// Envoy's uri_template `kLiteral`: RFC 3986 pchar without "/" and "*" ("=" is in it). Template
// literals are limited to it (Istio's validLiteral is the same set); what "{*}"/"{**}" match also
// takes "*" (Envoy >= 1.35 and the 1.31-1.34 backports). See the header comment.
const LITERAL = "A-Za-z0-9\\-._~%!$&'()+,;:@=";
const LITERAL_RE = new RegExp(`^[${LITERAL}]+$`);
const GLOB = `${LITERAL}*`;
const ONE_SEGMENT = `[${GLOB}]+`; // "{*}" → Envoy "*"
const ANY_TEXT = `[${GLOB}/]*`; // "{**}" → Envoy "**"

/** Compile "/a/{*}/b/{**}"; throws a PolicyError explaining what is wrong with a bad template. */
export function pathTemplateMatcher(template: string): Matcher {
  if (!template.startsWith('/')) throw new PolicyError('a path template must start with "/"');
  const segments = template.slice(1).split('/');
  const parts: string[] = [];
  let textGlob = false;
  segments.forEach((seg, i) => {
    if (seg === '{*}' || seg === '{**}') {
      if (textGlob) throw new PolicyError('"{**}" must be the last operator in the path');
      textGlob = seg === '{**}';
      parts.push(textGlob ? ANY_TEXT : ONE_SEGMENT);
    } else if (seg.includes('{') || seg.includes('}') || seg.includes('*')) {
      throw new PolicyError(`segment "${seg}": "{*}" and "{**}" must fill a whole segment and cannot be mixed with "*"`);
    } else if (seg === '' && i === segments.length - 1 && i > 0) {
      parts.push(''); // one trailing slash, as Envoy allows
    } else if (!LITERAL_RE.test(seg)) {
      // Envoy rejects such a template (Istio's config would be NACKed), so we do too.
      throw new PolicyError(`segment "${seg}": a template literal may only use RFC 3986 path characters except "*" (and no empty segment)`);
    } else {
      parts.push(seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    }
  });
  const re = new RegExp(`^/${parts.join('/')}$`);
  return (v) => v !== undefined && re.test(v);
}

/** A path pattern: template when it uses {*}/{**}, else an Istio string form. */
export function pathMatcher(pattern: string): Matcher {
  return isPathTemplate(pattern) ? pathTemplateMatcher(pattern) : stringMatcher(pattern);
}

/** "10.0.0.0/8", "2001:db8::/32" or a single address; throws on a malformed block. */
export function cidrMatcher(block: string): Matcher {
  const range = block.includes('/')
    ? ipaddr.parseCIDR(block)
    : ([ipaddr.parse(block), ipaddr.parse(block).kind() === 'ipv4' ? 32 : 128] as [ipaddr.IPv4 | ipaddr.IPv6, number]);
  const [net, bits] = range;
  const kind = net.kind();
  return (v) => {
    if (!v || !ipaddr.isValid(v)) return false;
    const addr = ipaddr.process(v); // ::ffff:a.b.c.d → IPv4
    return addr.kind() === kind && addr.match([net, bits] as never);
  };
}

/** Port numbers as strings, 1–65535. */
export function isPort(s: string): boolean {
  return /^[0-9]{1,5}$/.test(s) && Number(s) >= 1 && Number(s) <= 65535;
}
