// Value matchers compiled once per snapshot.
// - Istio string forms: exact, "prefix*", "*suffix", "*" (any non-empty value).
// - Path templates (Envoy URI templates as Istio uses them): "{*}" = exactly one segment,
//   "{**}" = one or more segments and only as the last operator.
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

// RFC 3986 pchar minus '/', the segment alphabet of Envoy's URI template matcher.
const SEGMENT = "[A-Za-z0-9\\-._~%!$&'()*+,;=:@]+";

/** Compile "/a/{*}/b/{**}"; throws an Error explaining what is wrong with a bad template. */
export function pathTemplateMatcher(template: string): Matcher {
  if (!template.startsWith('/')) throw new Error('a path template must start with "/"');
  const segments = template.slice(1).split('/');
  const parts: string[] = [];
  segments.forEach((seg, i) => {
    if (seg === '{*}') parts.push(SEGMENT);
    else if (seg === '{**}') {
      if (i !== segments.length - 1) throw new Error('"{**}" must be the last operator in the path');
      parts.push(`${SEGMENT}(?:/${SEGMENT})*`);
    } else if (seg.includes('{') || seg.includes('}') || seg.includes('*')) {
      throw new Error(`segment "${seg}": "{*}" and "{**}" must fill a whole segment and cannot be mixed with "*"`);
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
