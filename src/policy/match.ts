// Istio string forms: exact, "prefix*", "*suffix", and "*" (any non-empty value).

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

/** Values OR: true when any pattern matches the value. */
export function anyOf(patterns: readonly string[], caseInsensitive = false): Matcher {
  const ms = patterns.map((p) => stringMatcher(p, caseInsensitive));
  return (v) => ms.some((m) => m(v));
}

/** Multi-valued attributes (list claims, audiences): any element matching counts. */
export function anyValue(m: Matcher, values: readonly string[]): boolean {
  return values.some((v) => m(v));
}
