// Wildcard patterns from policy text, matched without regular expressions. A tenant can write
// these patterns (`namespaces: ["*a*a*a*a*a*b"]` in a ZeroTrustPolicy), and a regex with one
// `[\s\S]*` per `*` backtracks polynomially in the input with the number of stars as exponent:
// that pattern against a 100-character principal took ~30 s, stalling the event loop for every
// request. Here a pattern is split at its `*`s into fixed-length segments: the first must start
// the value, the last must end it, and each one between is taken at its leftmost place after the
// previous one (taking it later can only leave less room for the rest, so leftmost never misses
// a match). No segment is ever tried twice at the same place: the cost is at most the value's
// length times the pattern's, whatever the pattern.

/** True when the value matches; never throws. */
export type Glob = (value: string) => boolean;

/**
 * `pattern` where `*` is any run of characters (possibly none) and, if given, `anyChar` stands
 * for exactly one character (Istio's unquoted `.`); everything else is literal. Characters are
 * UTF-16 code units, as a regex without the `u` flag reads them.
 */
export function globMatcher(pattern: string, anyChar?: string): Glob {
  const parts = pattern.split('*');
  const eq = anyChar;
  if (parts.length === 1) return (v) => v.length === pattern.length && at(v, 0, pattern, eq);
  const first = parts[0]!;
  const last = parts[parts.length - 1]!;
  const middle = parts.slice(1, -1).filter((p) => p !== '');
  const fixed = first.length + last.length;
  return (v) => {
    if (v.length < fixed || !at(v, 0, first, eq)) return false;
    const end = v.length - last.length;
    if (!at(v, end, last, eq)) return false;
    let pos = first.length;
    for (const seg of middle) {
      const i = find(v, seg, pos, end, eq);
      if (i < 0) return false;
      pos = i + seg.length;
    }
    return true;
  };
}

/** Does `seg` occur in `v` at `i` (`any` matching any one character)? */
function at(v: string, i: number, seg: string, any: string | undefined): boolean {
  for (let k = 0; k < seg.length; k++) {
    const c = seg.charCodeAt(k);
    if (c !== v.charCodeAt(i + k) && (any === undefined || seg[k] !== any)) return false;
  }
  return true;
}

/** The leftmost i in [from, end - seg.length] where `seg` occurs in `v`, or -1. */
function find(v: string, seg: string, from: number, end: number, any: string | undefined): number {
  if (any === undefined || !seg.includes(any)) {
    const i = v.indexOf(seg, from);
    return i >= 0 && i + seg.length <= end ? i : -1;
  }
  for (let i = from; i + seg.length <= end; i++) if (at(v, i, seg, any)) return i;
  return -1;
}
