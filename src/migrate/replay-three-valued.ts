// Three-valued evaluation of a candidate's policies over what an audit record holds. Records hold
// no header values and only some claims, and may hold a hashed subject: a condition reading
// something the record lacks is "unknown", and when the outcome depends on an unknown the request
// is reported as indeterminate instead of guessed. What a condition reads comes from the compiled
// condition itself (Condition.reads), never from its label.
import type { CompiledPolicy, Condition } from '../policy/compiled.js';
import type { AttrRead, PolicyContext } from '../policy/context.js';
import { requestPrincipalParts } from '../policy/request-principal.js';

export type Tri = 0 | 1 | 2; // false, true, unknown
const F: Tri = 0;
const T: Tri = 1;
const U: Tri = 2;
const and3 = (xs: Iterable<Tri>): Tri => {
  let r: Tri = T;
  for (const x of xs) {
    if (x === F) return F;
    if (x === U) r = U;
  }
  return r;
};
const or3 = (xs: Iterable<Tri>): Tri => {
  let r: Tri = F;
  for (const x of xs) {
    if (x === T) return T;
    if (x === U) r = U;
  }
  return r;
};

/** What a compiled condition reads, in terms of what an audit record holds. */
export type AttrClass =
  /** Recorded for every request (request line, addresses, destination scope, SNI). */
  | { kind: 'known' }
  | { kind: 'header' }
  | { kind: 'sourcePeer' }
  | { kind: 'requestPrincipal' }
  | { kind: 'subjectClaim' }
  /** `nested`: a `[a][b]` key (walks a.b); otherwise the literal top-level claim `name`. */
  | { kind: 'claim'; name: string; nested: boolean }
  | { kind: 'scopes' }
  | { kind: 'audiences' }
  /** values and notValues of one `when` condition. */
  | { kind: 'combined'; inner: AttrClass };

/** The record's knowledge gaps, per request. */
export interface Gaps {
  authenticated: boolean;
  /** Subject hashed and not recovered from an exact policy value. */
  subjectUnknown: boolean;
  issuer: string;
  subjectHash?: string;
  knownClaims: Set<string>;
  /** Recorded dotted paths whose value is the top-level claim of that exact name. */
  literalKeys: Set<string>;
  scopesKnown: boolean;
  audiencesKnown: boolean;
  /** Candidate trusts XFCC, Envoy reported no principal, and the record cannot tell what XFCC said. */
  sourcePeerUnknown: boolean;
}

export function classify(c: Condition): AttrClass {
  const cls = classOf(c.reads);
  return c.parts ? { kind: 'combined', inner: cls } : cls;
}

function classOf(reads: AttrRead): AttrClass {
  switch (reads.kind) {
    case 'header':
      return { kind: 'header' };
    case 'peer':
      return { kind: 'sourcePeer' };
    case 'requestPrincipal':
      return { kind: 'requestPrincipal' };
    case 'audiences':
      return { kind: 'audiences' };
    case 'scopes':
      return { kind: 'scopes' };
    case 'claim': {
      // Records hold the subject and audiences apart from auth.claims. Where a match admits,
      // claims[scope] / [scp] read that claim alone (policy/readings.ts); audit records hold the
      // union of both (auth.scopes), so only a recorded claim decides.
      const name = reads.segments.join('.');
      if (name === 'sub') return { kind: 'subjectClaim' };
      if (name === 'aud') return { kind: 'audiences' };
      return { kind: 'claim', name, nested: reads.segments.length > 1 };
    }
    case 'claimPath':
      // Audit records hold configured paths by the same dotted rule (observe/audit.ts).
      return { kind: 'claim', name: reads.path, nested: false };
    default:
      return { kind: 'known' };
  }
}

/**
 * Three-valued evaluation of the applicable ALLOW and DENY policies: returns why the outcome
 * cannot be known from the record, or undefined when it is determined.
 */
export function undetermined(policies: readonly CompiledPolicy[], ctx: PolicyContext, gaps: Gaps): string | undefined {
  const why = new Set<string>();
  const cond3 = (c: Condition): Tri => {
    const u = unknownReason(c, gaps);
    if (u === undefined) return c.test(ctx) ? T : F;
    if (typeof u === 'number') return u;
    why.add(u);
    return U;
  };
  const groups3 = (gs: Condition[][]): Tri => (gs.length === 0 ? T : or3(gs.map((g) => and3(g.map(cond3)))));
  const policy3 = (p: CompiledPolicy): Tri => or3(p.rules.map((r) => and3([groups3(r.from), groups3(r.to), and3(r.when.map(cond3))])));
  const dest = ctx.destination;
  const applicable = policies.filter(
    (p) =>
      !p.dryRun &&
      p.action !== 'AUDIT' &&
      (p.namespace === undefined || p.namespace === dest.namespace) &&
      (!p.selector || Object.entries(p.selector).every(([k, v]) => dest.labels[k] === v)),
  );
  const deny = or3(applicable.filter((p) => p.action === 'DENY').map(policy3));
  if (deny === T) return undefined;
  const allow = or3(applicable.filter((p) => p.action === 'ALLOW').map(policy3));
  // An undecidable DENY matters only if the request could otherwise be allowed.
  if (deny === U && allow !== F) return `a DENY policy depends on ${[...why].sort().join(', ')}`;
  if (deny === F && allow === U) return `an ALLOW policy depends on ${[...why].sort().join(', ')}`;
  return undefined;
}

/** undefined: the record holds what `c` reads; a Tri: decided without it; a string: unknown (why). */
function unknownReason(c: Condition, gaps: Gaps): undefined | Tri | string {
  const cls = classify(c);
  const inner = cls.kind === 'combined' ? cls.inner : cls;
  switch (inner.kind) {
    case 'known':
      return undefined;
    case 'header':
      return 'request headers (never recorded)';
    case 'sourcePeer':
      return gaps.sourcePeerUnknown ? 'the XFCC principal (not recorded: the recording config did not trust XFCC)' : undefined;
    case 'scopes':
      return !gaps.authenticated || gaps.scopesKnown ? undefined : 'scopes (not in this record)';
    case 'audiences':
      return !gaps.authenticated || gaps.audiencesKnown ? undefined : 'audiences (not in this record)';
    case 'claim':
      if (!gaps.authenticated) return undefined;
      if (!gaps.knownClaims.has(inner.name)) return `claim ${inner.name} (not recorded; see audit.claims)`;
      // The record holds the top-level claim named "a.b": the nested a→b value is unknown.
      if (inner.nested && gaps.literalKeys.has(inner.name))
        return `claim ${inner.name} (the token also had a top-level claim of that name; the nested value is not recorded)`;
      return undefined;
    case 'requestPrincipal':
    case 'subjectClaim': {
      if (!gaps.authenticated || !gaps.subjectUnknown) return undefined;
      const reason = 'the subject (recorded as a hash)';
      if (cls.kind === 'combined') return reason;
      // Exact values were already compared by hash (no match, or the subject was recovered).
      let r: Tri = F;
      for (const v of c.values) {
        let t: Tri;
        if (inner.kind === 'requestPrincipal') {
          // Matched as live: issuer and subject apart (policy/request-principal.ts). The issuer
          // is recorded; an exact subject part was compared by hash (not recovered: no match);
          // of a subject prefix or suffix the hash tells nothing.
          const { iss, subForm } = requestPrincipalParts(v);
          t = !iss(gaps.issuer) ? F : subForm === 'any' ? T : subForm === 'exact' ? F : U;
        } else if (v === '*') t = T;
        else if (v.startsWith('*') || v.endsWith('*')) t = U;
        else t = F;
        if (t === T) {
          r = T;
          break;
        }
        if (t === U) r = U;
      }
      if (r === U) return reason;
      return c.negated ? (r === T ? F : T) : r;
    }
  }
}
