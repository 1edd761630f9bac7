// A recorded request rebuilt for the engine: the CheckInput, the verified identity as far as the
// record holds it, and what the record lacks (Gaps) for the three-valued evaluation.
import type { CheckInput, Identity } from '../decision/types.js';
import type { CompiledPolicy } from '../policy/compiled.js';
import type { PeerIdentity } from '../identity/spiffe.js';
import { hashSubject, type AuditRecord } from '../observe/audit-record.js';
import { classify, type Gaps } from './replay-three-valued.js';

/** The request as the engine takes it. Headers and query were never recorded: empty. */
export function inputOf(r: AuditRecord, trustXfcc: boolean): CheckInput {
  // An XFCC-derived principal counts only if the candidate trusts XFCC too.
  const principal = r.source.principalFrom === 'xfcc' && !trustXfcc ? undefined : r.source.principal;
  return {
    requestId: r.requestId ?? `line-${r.line}`,
    method: r.method,
    host: r.destination.host,
    ...(r.destination.hostAsSent !== undefined ? { hostAsSent: r.destination.hostAsSent } : {}),
    path: r.path,
    query: '',
    headers: {},
    source: { ...(r.source.address ? { address: r.source.address } : {}), ...(principal ? { principal } : {}), labels: {} },
    destination: {
      ...(r.destination.address ? { address: r.destination.address } : {}),
      ...(r.destination.port !== undefined ? { port: r.destination.port } : {}),
      ...(r.destination.principal ? { principal: r.destination.principal } : {}),
      labels: r.destination.labels,
    },
    contextExtensions: r.destination.namespace ? { namespace: r.destination.namespace } : {},
    ...(r.sni ? { sni: r.sni } : {}),
  };
}

/** The recorded Kubernetes workload of a caller identified by service-account token or pod IP. */
export function peerOf(r: AuditRecord): PeerIdentity | undefined {
  if (r.source.principalFrom !== 'sa_token' && r.source.principalFrom !== 'pod_ip') return undefined;
  return r.source.namespace && r.source.serviceAccount
    ? { principal: '', namespace: r.source.namespace, serviceAccount: r.source.serviceAccount }
    : undefined;
}

/**
 * Exact subject values the candidate's policies name, per kind: a hashed subject that equals
 * one of them is that subject (the record's hash is compared with each, hashed the same way).
 */
export class SubjectRecovery {
  private readonly exactSubjects: string[];

  constructor(policies: readonly CompiledPolicy[]) {
    const subjects = new Set<string>();
    for (const p of policies) {
      for (const r of p.rules) {
        for (const c of [...r.from.flat(), ...r.when]) {
          const cls = classify(c);
          if (cls.kind === 'requestPrincipal' || cls.kind === 'subjectClaim')
            for (const v of c.values) if (!v.includes('*')) subjects.add(`${cls.kind}\0${v}`);
          // "*<suffix>/<sub>" names an exact subject too (Istio's split at the last "/").
          if (cls.kind === 'requestPrincipal')
            for (const v of c.values)
              if (v.startsWith('*') && v.includes('/')) subjects.add(`subjectClaim\0${v.slice(v.lastIndexOf('/') + 1)}`);
        }
      }
    }
    this.exactSubjects = [...subjects];
  }

  /** A hashed subject that equals an exact subject some policy names: that subject. */
  recover(issuer: string, hash: string | undefined): string | undefined {
    if (!hash) return undefined;
    for (const entry of this.exactSubjects) {
      const [kind, v] = entry.split('\0') as [string, string];
      let sub: string | undefined;
      if (kind === 'subjectClaim') sub = v;
      else if (v.startsWith(`${issuer}/`)) sub = v.slice(issuer.length + 1);
      if (sub && hashSubject(issuer, sub) === hash) return sub;
    }
    return undefined;
  }
}

/** What the record does not tell. A hashed subject a policy names is recovered into `r.subject`. */
export function gapsOf(r: AuditRecord, subjects: SubjectRecovery, trustXfcc: boolean): Gaps {
  const knownClaims = new Set<string>();
  if (r.issuer) knownClaims.add('iss');
  if (r.auth?.audiences) knownClaims.add('aud');
  // Recorded claims are known, including recorded-as-absent (null) ones; capped ones are not.
  for (const k of Object.keys(r.auth?.claims ?? {})) if (!r.auth?.truncated.includes(k)) knownClaims.add(k);
  let subjectUnknown = false;
  if (r.issuer && r.subject === undefined) {
    subjectUnknown = true;
    const recovered = subjects.recover(r.issuer, r.subjectHash);
    if (recovered !== undefined) {
      r.subject = recovered;
      subjectUnknown = false;
    }
  }
  if (r.issuer && !subjectUnknown) knownClaims.add('sub');
  return {
    authenticated: r.issuer !== undefined,
    subjectUnknown,
    issuer: r.issuer ?? '',
    ...(r.subjectHash ? { subjectHash: r.subjectHash } : {}),
    knownClaims,
    literalKeys: new Set(r.auth?.literalKeys ?? []),
    scopesKnown: r.auth?.scopes !== undefined,
    audiencesKnown: r.auth?.audiences !== undefined,
    sourcePeerUnknown: trustXfcc && !r.source.principal && !r.source.namespace,
  };
}

/** The verified identity as far as the record holds it; undefined for an anonymous request. */
export function identityOf(r: AuditRecord, gaps: Gaps): Identity | undefined {
  if (!r.issuer) return undefined;
  // Unknown subject: any non-empty stand-in. Decisions that would depend on it are reported
  // as indeterminate before the engine runs, so its value never decides anything.
  const subject = r.subject ?? `(hashed ${r.subjectHash ?? 'subject'})`;
  const claims: Record<string, unknown> = { iss: r.issuer };
  if (!gaps.subjectUnknown) claims.sub = subject;
  if (r.auth?.audiences) claims.aud = r.auth.audiences;
  const literal = new Set(r.auth?.literalKeys ?? []);
  for (const [k, v] of Object.entries(r.auth?.claims ?? {})) {
    if (v === null) continue;
    // A dotted path was read nested unless the record says the token had that exact top-level
    // name: rebuild it the way it was read, so [a][b] and [a.b] keys see what live matching saw.
    if (!k.includes('.') || literal.has(k)) claims[k] = v;
    else setNested(claims, k.split('.'), v);
  }
  return {
    issuer: r.issuer,
    subject,
    requestPrincipal: `${r.issuer}/${subject}`,
    audiences: r.auth?.audiences ?? [],
    scopes: r.auth?.scopes ?? [],
    claims,
    tokenHash: '',
  };
}

/** Sets obj[a][b]… = value, creating plain objects on the way; never overwrites a non-object. */
function setNested(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = obj;
  for (const seg of path.slice(0, -1)) {
    const next = cur[seg];
    if (next === undefined) cur = cur[seg] = {} as Record<string, unknown>;
    else if (typeof next === 'object' && next !== null && !Array.isArray(next)) cur = next as Record<string, unknown>;
    else return;
  }
  cur[path.at(-1)!] = value;
}
