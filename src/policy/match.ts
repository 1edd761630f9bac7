// Value matchers compiled once per snapshot.
// - Istio string forms: exact, "prefix*", "*suffix", "*" (any non-empty value).
// - Path templates, exactly as Istio hands them to Envoy: Istio rewrites "{*}" to "*" and "{**}"
//   to "**" (sanitizePathTemplate) and Envoy's uri_template matcher turns "*" into the regex
//   `[literal]+` (one non-empty segment) and "**" into `[literal/]*` (zero or more characters,
//   slashes included), where literal = RFC 3986 pchar minus "*" and "=". So "/admin/{**}" matches
//   "/admin/", "/admin/x/" and "/admin/x/y", but not "/admin"; a DENY on it must not be side-
//   stepped with a trailing slash. "{**}" must be the last operator (literal segments may
//   follow it: "/a/{**}/b" is valid in Istio and Envoy).
// - CIDR blocks (ipaddr.js), IPv4-mapped IPv6 addresses normalised to IPv4.
import ipaddr from 'ipaddr.js';

export type Matcher = (value: string | undefined) => boolean;

export function stringMatcher(pattern: string, caseInsensitive = false): Matcher {
  const norm = caseInsensitive ? (s: string) => s.toLowerCase() : (s: string) => s;
  const p = norm(pattern);
  if (p === '*') return (v) => v !== undefined && v !== '';
  if (p.length > 1 && p.endsWith('*')) {
    const prefix = p.slice(0, -1);
    return (v) => v !== undefined && norm(v).startsWith(prefix);
  }
  if (p.length > 1 && p.startsWith('*')) {
    const suffix = p.slice(1);
    return (v) => v !== undefined && norm(v).endsWith(suffix);
  }
  return (v) => v !== undefined && norm(v) === p;
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

// Envoy's uri_template `kLiteral`: RFC 3986 pchar without "/", "*" and "=". Template literals
// and the characters "{*}"/"{**}" match are both limited to it, as in Envoy.
const LITERAL = "A-Za-z0-9\\-._~%!$&'()+,;:@";
const LITERAL_RE = new RegExp(`^[${LITERAL}]+$`);
const ONE_SEGMENT = `[${LITERAL}]+`; // "{*}" → Envoy "*"
const ANY_TEXT = `[${LITERAL}/]*`; // "{**}" → Envoy "**"

/** Compile "/a/{*}/b/{**}"; throws an Error explaining what is wrong with a bad template. */
export function pathTemplateMatcher(template: string): Matcher {
  if (!template.startsWith('/')) throw new Error('a path template must start with "/"');
  const segments = template.slice(1).split('/');
  const parts: string[] = [];
  let textGlob = false;
  segments.forEach((seg, i) => {
    if (seg === '{*}' || seg === '{**}') {
      if (textGlob) throw new Error('"{**}" must be the last operator in the path');
      textGlob = seg === '{**}';
      parts.push(textGlob ? ANY_TEXT : ONE_SEGMENT);
    } else if (seg.includes('{') || seg.includes('}') || seg.includes('*')) {
      throw new Error(`segment "${seg}": "{*}" and "{**}" must fill a whole segment and cannot be mixed with "*"`);
    } else if (seg === '' && i === segments.length - 1 && i > 0) {
      parts.push(''); // one trailing slash, as Envoy allows
    } else if (!LITERAL_RE.test(seg)) {
      // Envoy rejects such a template (Istio's config would be NACKed), so we do too.
      throw new Error(`segment "${seg}": a template literal may only use RFC 3986 path characters except "*" and "=" (and no empty segment)`);
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
  const range = block.includes('/') ? ipaddr.parseCIDR(block) : ([ipaddr.parse(block), ipaddr.parse(block).kind() === 'ipv4' ? 32 : 128] as [ipaddr.IPv4 | ipaddr.IPv6, number]);
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
