// Recorded paths → policy path values. Identifier-like segments (numbers, UUIDs, opaque ids,
// e-mail addresses) become `{*}`, which matches exactly one segment and nothing wider. Segments
// a policy could misread (`*`, which would make the value a prefix pattern, or `{`/`}`) are
// generalised the same way or, when no template can express them, left out.

// Envoy's template literal alphabet (RFC 3986 pchar minus '/', '*' and '='): what the engine's
// `{*}`/`{**}` match and what a template's literal segments may hold (src/policy/match.ts).
const TEMPLATE_SEGMENT = /^[A-Za-z0-9\-._~%!$&'()+,;:@]+$/;

/** Can `value` be a valid template (every literal segment in the alphabet; one trailing slash)? */
export function templatable(value: string): boolean {
  const segs = segmentsOf(value);
  return segs.every((s, i) => s === '{*}' || s === '{**}' || (s === '' && i === segs.length - 1 && i > 0) || TEMPLATE_SEGMENT.test(s));
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NUMERIC = /^[0-9]+$/;
/** Dates, times, dotted numbers: 2024-05-01, 1714550400.123 */
const NUMERIC_LIKE = /^[0-9][0-9._:-]*[0-9]$/;
const HEX = /^[0-9a-f]{8,}$/i;
const OPAQUE = /^[A-Za-z0-9_-]{8,}$/;

function counts(s: string): { digits: number; lower: number; upper: number } {
  let digits = 0;
  let lower = 0;
  let upper = 0;
  for (const ch of s) {
    if (ch >= '0' && ch <= '9') digits++;
    else if (ch >= 'a' && ch <= 'z') lower++;
    else if (ch >= 'A' && ch <= 'Z') upper++;
  }
  return { digits, lower, upper };
}

/**
 * Does this segment look like an identifier rather than a resource name? Numbers, UUIDs,
 * hex ids of 8+ characters, opaque ids of 8+ characters in which digits are at least a fifth
 * (ord_8fJ2kLq9, ULIDs, Stripe-style ids), 16+ character mixed-case-and-digit tokens, and
 * anything with an '@'. Names such as `v1beta1`, `oauth2callback` or `x509-certificates` stay.
 */
export function isIdSegment(seg: string): boolean {
  if (seg === '' || !TEMPLATE_SEGMENT.test(seg)) return false;
  if (NUMERIC.test(seg) || UUID.test(seg) || seg.includes('@')) return true;
  const c = counts(seg);
  if (NUMERIC_LIKE.test(seg) && c.digits >= 2) return true;
  if (HEX.test(seg) && c.digits > 0) return true;
  if (OPAQUE.test(seg) && c.digits >= 2 && c.digits * 5 >= seg.length && c.lower + c.upper > 0) return true;
  if (OPAQUE.test(seg) && seg.length >= 16 && c.digits > 0 && c.lower > 0 && c.upper > 0) return true;
  return false;
}

export type PathValue = { value: string } | { unrepresentable: string };

/** A recorded path → the narrowest policy path value that matches it and its id-siblings. */
export function templatePath(path: string): PathValue {
  if (!path.startsWith('/')) return { unrepresentable: 'does not start with "/"' };
  const segs = path.slice(1).split('/');
  let templated = false;
  const out = segs.map((seg) => {
    if (isIdSegment(seg)) {
      templated = true;
      return '{*}';
    }
    return seg;
  });
  for (let i = 0; i < out.length; i++) {
    const seg = out[i]!;
    if (seg === '{*}') continue;
    if (seg.includes('{') || seg.includes('}')) return { unrepresentable: `segment "${seg}" contains "{" or "}"` };
    if (seg.includes('*')) {
      // No policy value matches such a request and nothing wider: a '*' in an exact value makes it
      // a prefix/suffix pattern, and {*} (like Envoy's) never matches a '*'. Left for a human.
      return { unrepresentable: `segment "${seg}" contains "*", which no exact path or template can match` };
    }
  }
  if (templated) {
    // In a template every {*} must stand for a non-empty segment of the template alphabet:
    // guaranteed above. A literal segment outside it (e.g. "k=v") makes the template invalid:
    // keep the exact path then (it has no '*': refused above).
    if (templatable(`/${out.join('/')}`)) return { value: `/${out.join('/')}` };
    return { value: path };
  }
  return { value: path };
}

/** Segments of a path value ("/a/{*}" → ["a", "{*}"]). */
export function segmentsOf(value: string): string[] {
  return value.slice(1).split('/');
}

/** Does path value `wide` (ending in `/{**}`) cover `narrow`? */
export function covers(wide: string, narrow: string): boolean {
  if (!wide.endsWith('/{**}') || wide === narrow) return false;
  const w = segmentsOf(wide).slice(0, -1);
  const n = segmentsOf(narrow);
  if (n.length <= w.length) return false;
  // {*} and {**} match only the template alphabet (no '=' or '*'): "/a/{**}" does not cover "/a/x=y".
  return templatable(narrow) && w.every((s, i) => s === n[i] || (s === '{*}' && n[i] !== '' && n[i] !== '{**}'));
}
