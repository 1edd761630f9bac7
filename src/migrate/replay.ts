// `zt-authz policy replay`: re-evaluate recorded requests against a candidate configuration and
// report what would change, grouped by source → destination edge.
//
// - Requests are evaluated with the real engine (`authorize`) as if the candidate were enforced,
//   whatever its `mode` says: the question is what enforcing it would do.
// - "Before" is what actually happened to the request: served (allowed, or allowed by observe
//   mode) or denied. A served request the candidate denies is a regression; so is one that was
//   served only because of observe mode, since enforcing would break it too.
// - Denies that happened before the policy stage (expired or badly signed tokens, …) cannot be
//   changed by policies: they are carried over, not re-evaluated.
// - Audit records hold no header values and only some claims, and may hold a hashed subject.
//   When the candidate's decision for a request depends on something not recorded, the request
//   is reported as indeterminate instead of guessed (three-valued evaluation of the applicable
//   policies).
import type { Config } from '../config/load.js';
import type { Snapshot } from '../decision/snapshot.js';
import type { CheckInput, Identity } from '../decision/types.js';
import type { KeyResolver } from '../authn/authenticator.js';
import type { CompiledPolicy, Condition } from '../policy/compile.js';
import { claimKeySegments, type PolicyContext } from '../policy/attributes.js';
import { requestPrincipalParts } from '../policy/request-principal.js';
import type { PeerIdentity } from '../identity/spiffe.js';
import { buildSnapshot } from '../config/snapshot-builder.js';
import { authorize, policyContext } from '../decision/decide.js';
import { hashSubject, type AuditRecord } from '../observe/audit-record.js';
import { POLICY_REASONS, served, recordedVerdict, observedDeny, sourceLabel, workloadOf } from './record.js';
import { templatePath } from './paths.js';

export interface ReplayOptions {
  /**
   * Do not fail on requests served in observe mode whose credential enforce mode rejects
   * (expired, bad signature, …): no policy can admit them; they are still reported.
   */
  ignoreRejectedCredentials?: boolean;
  /** Fail on served requests whose outcome is indeterminate. */
  strict?: boolean;
  /** Only destinations in this namespace. */
  namespace?: string;
}

export type Change = 'allow→deny' | 'deny→allow' | 'unchanged' | 'indeterminate';

export interface EdgeDetail {
  change: Change;
  method: string;
  path: string;
  /** Candidate outcome: reason code (and policy), or why it is indeterminate. */
  now: string;
  /** What happened before. */
  before: string;
  count: number;
}

export interface EdgeReport {
  source: string;
  destination: string;
  requests: number;
  allowToDeny: number;
  /** Of allowToDeny: served only because of observe mode (the recorded config would deny them too). */
  allowToDenyObserved: number;
  denyToAllow: number;
  unchanged: number;
  indeterminate: number;
  /** Every change and indeterminate outcome, by method, path template and reason. */
  details: EdgeDetail[];
}

export interface ReplaySummary {
  records: number;
  allowToDeny: number;
  allowToDenyObserved: number;
  denyToAllow: number;
  unchanged: number;
  indeterminate: number;
  /** Observe-mode requests the recorded configuration would deny: now allowed / still denied / indeterminate. */
  observed: { total: number; nowAllowed: number; stillDenied: number; indeterminate: number };
  /** Denies decided before policy (authentication), carried over unchanged. */
  notReevaluated: number;
  /** Records left out by --namespace. */
  filtered: number;
  /** Requests whose regression fails the gate. */
  failing: number;
}

export interface ReplayReport {
  summary: ReplaySummary;
  edges: EdgeReport[];
  /** Candidate config mode note (it is ignored: replay shows enforcement). */
  modeNote?: string;
}

type Tri = 0 | 1 | 2; // false, true, unknown
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

/** What a compiled condition reads, for deciding whether a record holds it. */
type AttrClass =
  | { kind: 'known' }
  | { kind: 'header' }
  | { kind: 'sourcePeer' }
  | { kind: 'requestPrincipal' }
  | { kind: 'subjectClaim' }
  /** `nested`: a `[a][b]` key (walks a.b); otherwise the literal top-level claim `name`. */
  | { kind: 'claim'; name: string; nested: boolean }
  | { kind: 'scopes' }
  | { kind: 'audiences' }
  | { kind: 'combined'; inner: AttrClass };

/** The record's knowledge gaps, per request. */
interface Gaps {
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

export class Replayer {
  readonly snap: Snapshot;
  private readonly classes = new Map<Condition, AttrClass>();
  private readonly edges = new Map<string, { report: EdgeReport; details: Map<string, EdgeDetail> }>();
  private readonly summary: ReplaySummary = {
    records: 0,
    allowToDeny: 0,
    allowToDenyObserved: 0,
    denyToAllow: 0,
    unchanged: 0,
    indeterminate: 0,
    observed: { total: 0, nowAllowed: 0, stillDenied: 0, indeterminate: 0 },
    notReevaluated: 0,
    filtered: 0,
    failing: 0,
  };
  /** Exact subject values policies name, per issuer: hashed to recover hashed subjects. */
  private readonly exactSubjects: string[];

  /** The recorded Kubernetes workload of the request being evaluated (see workloadSource). */
  private peer: PeerIdentity | undefined;

  constructor(readonly config: Config, private readonly opts: ReplayOptions = {}) {
    // Replay never verifies a token: resolvers that would refuse are enough, and nothing is fetched.
    const keys = new Map<string, KeyResolver>(
      config.issuers.map((i) => [i.issuer, { ready: true, getKey: () => Promise.reject(new Error('policy replay does not verify tokens')) }]),
    );
    // A caller the recording service identified from Kubernetes (service-account token, pod IP)
    // is taken as recorded: replay has no workload map of its own.
    this.snap = Object.freeze({ ...buildSnapshot(config, keys, { cacheHit() {}, cacheMiss() {} }, 0), workloadSource: () => this.peer });
    const subjects = new Set<string>();
    for (const p of this.snap.policies.all) {
      for (const r of p.rules) {
        for (const c of [...r.from.flat(), ...r.when]) {
          const cls = this.classify(c);
          if (cls.kind === 'requestPrincipal' || cls.kind === 'subjectClaim') for (const v of c.values) if (!v.includes('*')) subjects.add(`${cls.kind}\0${v}`);
          // "*<suffix>/<sub>" names an exact subject too (Istio's split at the last "/").
          if (cls.kind === 'requestPrincipal') for (const v of c.values) if (v.startsWith('*') && v.includes('/')) subjects.add(`subjectClaim\0${v.slice(v.lastIndexOf('/') + 1)}`);
        }
      }
    }
    this.exactSubjects = [...subjects];
  }

  add(r: AuditRecord): void {
    const workload = workloadOf(r);
    if (this.opts.namespace !== undefined && workload.namespace !== this.opts.namespace) {
      this.summary.filtered++;
      return;
    }
    this.summary.records++;
    const before = served(r);
    const recorded = recordedVerdict(r);
    const wasObservedDeny = observedDeny(r);
    let now: { allow: boolean; reason: string; policy?: string } | { indeterminate: string };
    let reevaluated = true;
    if (r.pathTruncated) now = { indeterminate: 'path truncated in the audit record' };
    else if (!POLICY_REASONS.has(recorded.reason) && recorded.reason !== 'observed') {
      // Denied before the policy stage (authentication, limits): policies cannot change that.
      this.summary.notReevaluated++;
      reevaluated = false;
      now = { allow: false, reason: recorded.reason };
    } else now = this.evaluate(r);

    let change: Change;
    if ('indeterminate' in now) change = 'indeterminate';
    else if (before && !now.allow) change = 'allow→deny';
    else if (!before && now.allow) change = 'deny→allow';
    else change = 'unchanged';

    const s = this.summary;
    if (change === 'allow→deny') {
      s.allowToDeny++;
      if (wasObservedDeny) s.allowToDenyObserved++;
      if (!(reevaluated === false && this.opts.ignoreRejectedCredentials)) s.failing++;
    } else if (change === 'deny→allow') s.denyToAllow++;
    else if (change === 'indeterminate') {
      s.indeterminate++;
      if (before && this.opts.strict) s.failing++;
    } else s.unchanged++;
    if (wasObservedDeny) {
      s.observed.total++;
      if ('indeterminate' in now) s.observed.indeterminate++;
      else if (now.allow) s.observed.nowAllowed++;
      else s.observed.stillDenied++;
    }

    const src = sourceLabel(r);
    const dst = workload.key;
    const key = `${src}\0${dst}`;
    let e = this.edges.get(key);
    if (!e) {
      e = { report: { source: src, destination: dst, requests: 0, allowToDeny: 0, allowToDenyObserved: 0, denyToAllow: 0, unchanged: 0, indeterminate: 0, details: [] }, details: new Map() };
      this.edges.set(key, e);
    }
    const er = e.report;
    er.requests++;
    if (change === 'allow→deny') {
      er.allowToDeny++;
      if (wasObservedDeny) er.allowToDenyObserved++;
    } else if (change === 'deny→allow') er.denyToAllow++;
    else if (change === 'indeterminate') er.indeterminate++;
    else er.unchanged++;
    if (change !== 'unchanged') {
      const t = templatePath(r.path);
      const path = 'value' in t ? t.value : r.path;
      const nowText =
        'indeterminate' in now ? now.indeterminate : !reevaluated ? `${now.reason} (rejected before the policy stage, not re-evaluated)` : `${now.reason}${now.policy ? ` (${now.policy})` : ''}`;
      const beforeText = !before
        ? `denied: ${r.reason}`
        : wasObservedDeny
          ? `served in observe mode; recorded config would deny: ${recorded.reason}`
          : `allowed${recorded.policy ? ` by ${recorded.policy}` : ''}`;
      const dk = [change, r.method, path, nowText, beforeText].join('\0');
      const d = e.details.get(dk);
      if (d) d.count++;
      else e.details.set(dk, { change, method: r.method, path, now: nowText, before: beforeText, count: 1 });
    }
  }

  finish(): ReplayReport {
    const order = (e: EdgeReport) => (e.allowToDeny ? 0 : e.indeterminate ? 1 : e.denyToAllow ? 2 : 3);
    const edges = [...this.edges.values()]
      .map(({ report, details }) => ({
        ...report,
        details: [...details.values()].sort((a, b) => cmp(a.change, b.change) || b.count - a.count || cmp(a.method + a.path, b.method + b.path)),
      }))
      .sort((a, b) => order(a) - order(b) || cmp(a.source, b.source) || cmp(a.destination, b.destination));
    const m = this.config.mode;
    const observing = [m.default === 'observe' ? 'default' : '', ...Object.entries(m.namespaces).filter(([, v]) => v === 'observe').map(([k]) => `namespace ${k}`)].filter(Boolean);
    return {
      summary: { ...this.summary, observed: { ...this.summary.observed } },
      edges,
      ...(observing.length ? { modeNote: `the candidate puts ${observing.join(', ')} in observe mode; replay shows what enforcing it would decide` } : {}),
    };
  }

  // -------------------------------------------------------------------------------------------

  /** The candidate's decision for one recorded request, or why it cannot be known. */
  private evaluate(r: AuditRecord): { allow: boolean; reason: string; policy?: string } | { indeterminate: string } {
    const gaps = this.gaps(r);
    const input = this.inputOf(r);
    this.peer = r.source.principalFrom === 'sa_token' || r.source.principalFrom === 'pod_ip' ? peerOf(r) : undefined;
    const identity = this.identityOf(r, gaps);
    const ctx = policyContext(input, identity, this.snap);
    const unknown = this.undetermined(ctx, gaps);
    if (unknown) return { indeterminate: unknown };
    const d = authorize(input, identity, this.snap);
    return { allow: d.allow, reason: d.reason, ...(d.policy ? { policy: d.policy } : {}) };
  }

  private inputOf(r: AuditRecord): CheckInput {
    const trustXfcc = this.config.identity.trustXfcc;
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

  private gaps(r: AuditRecord): Gaps {
    const knownClaims = new Set<string>();
    if (r.issuer) knownClaims.add('iss');
    if (r.auth?.audiences) knownClaims.add('aud');
    // Recorded claims are known, including recorded-as-absent (null) ones; capped ones are not.
    for (const k of Object.keys(r.auth?.claims ?? {})) if (!r.auth?.truncated.includes(k)) knownClaims.add(k);
    let subjectUnknown = false;
    if (r.issuer && r.subject === undefined) {
      subjectUnknown = true;
      const recovered = this.recoverSubject(r.issuer, r.subjectHash);
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
      sourcePeerUnknown: this.config.identity.trustXfcc && !r.source.principal && !r.source.namespace,
    };
  }

  /** A hashed subject that equals an exact subject some policy names: that subject. */
  private recoverSubject(issuer: string, hash: string | undefined): string | undefined {
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

  private identityOf(r: AuditRecord, gaps: Gaps): Identity | undefined {
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

  /**
   * Three-valued evaluation of the applicable ALLOW and DENY policies: returns why the outcome
   * cannot be known from the record, or undefined when it is determined.
   */
  private undetermined(ctx: PolicyContext, gaps: Gaps): string | undefined {
    const why = new Set<string>();
    const cond3 = (c: Condition): Tri => {
      const u = this.unknownReason(c, gaps);
      if (u === undefined) return c.test(ctx) ? T : F;
      if (typeof u === 'number') return u;
      why.add(u);
      return U;
    };
    const groups3 = (gs: Condition[][]): Tri => (gs.length === 0 ? T : or3(gs.map((g) => and3(g.map(cond3)))));
    const policy3 = (p: CompiledPolicy): Tri => or3(p.rules.map((r) => and3([groups3(r.from), groups3(r.to), and3(r.when.map(cond3))])));
    const dest = ctx.destination;
    const applicable = this.snap.policies.all.filter(
      (p) => !p.dryRun && p.action !== 'AUDIT' && (p.namespace === undefined || p.namespace === dest.namespace) && (!p.selector || Object.entries(p.selector).every(([k, v]) => dest.labels[k] === v)),
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
  private unknownReason(c: Condition, gaps: Gaps): undefined | Tri | string {
    const cls = this.classify(c);
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
        if (inner.nested && gaps.literalKeys.has(inner.name)) return `claim ${inner.name} (the token also had a top-level claim of that name; the nested value is not recorded)`;
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

  private classify(c: Condition): AttrClass {
    let cls = this.classes.get(c);
    if (cls) return cls;
    cls = classifyLabel(c.label, this.config.authorization.rolesClaim);
    this.classes.set(c, cls);
    return cls;
  }
}

function peerOf(r: AuditRecord): PeerIdentity | undefined {
  return r.source.namespace && r.source.serviceAccount ? { principal: '', namespace: r.source.namespace, serviceAccount: r.source.serviceAccount } : undefined;
}

/** From the condition's label (`rules[0].from[0].source.principals`, `rules[0].when[1](key).values`). */
function classifyLabel(label: string, rolesClaim: string): AttrClass {
  const when = /\.?when\[\d+\]\((.*)\)(\.values|\.notValues)?$/.exec(label);
  if (when) {
    const cls = classifyKey(when[1]!, rolesClaim);
    return when[2] ? cls : { kind: 'combined', inner: cls };
  }
  const field = label.slice(label.lastIndexOf('.') + 1);
  switch (field) {
    case 'principals':
    case 'notPrincipals':
    case 'namespaces':
    case 'notNamespaces':
    case 'serviceAccounts':
      return { kind: 'sourcePeer' };
    case 'requestPrincipals':
    case 'notRequestPrincipals':
      return { kind: 'requestPrincipal' };
    default:
      return { kind: 'known' };
  }
}

function classifyKey(key: string, rolesClaim: string): AttrClass {
  if (/^request\.headers\[/.test(key)) return { kind: 'header' };
  const segments = claimKeySegments(key);
  if (segments) {
    const name = segments.join('.');
    // Where a match admits, claims[scope] / [scp] read that claim alone (policy/readings.ts); audit
    // records hold the union of both (auth.scopes), so only a recorded claim decides.
    if (name === 'sub') return { kind: 'subjectClaim' };
    if (name === 'aud') return { kind: 'audiences' };
    return { kind: 'claim', name, nested: segments.length > 1 };
  }
  switch (key) {
    case 'request.auth.principal':
      return { kind: 'requestPrincipal' };
    case 'request.auth.audiences':
      return { kind: 'audiences' };
    case 'request.auth.presenter':
      return { kind: 'claim', name: 'azp', nested: false };
    case 'request.auth.scopes':
      return { kind: 'scopes' };
    case 'request.auth.roles':
      return { kind: 'claim', name: rolesClaim, nested: false };
    case 'request.auth.acr':
      return { kind: 'claim', name: 'acr', nested: false };
    case 'request.auth.amr':
      return { kind: 'claim', name: 'amr', nested: false };
    case 'source.principal':
    case 'source.namespace':
    case 'source.serviceAccount':
      return { kind: 'sourcePeer' };
    default:
      return { kind: 'known' };
  }
}

// ---------------------------------------------------------------------------------------------
// Output

export function formatReport(rep: ReplayReport, opts: { configFile: string; all?: boolean; ignoreRejectedCredentials?: boolean; strict?: boolean }): string {
  const s = rep.summary;
  const out: string[] = [];
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
  out.push(`Replayed ${plural(s.records, 'recorded request')} against ${opts.configFile} (as if enforced).`);
  if (rep.modeNote) out.push(`Note: ${rep.modeNote}.`);
  const shown = rep.edges.filter((e) => opts.all || e.allowToDeny || e.denyToAllow || e.indeterminate);
  if (shown.length) {
    const rows = shown.map((e) => [`${e.source} → ${e.destination}`, String(e.requests), fmtA2D(e), String(e.denyToAllow), String(e.unchanged), String(e.indeterminate)]);
    const head = ['EDGE (source → destination)', 'REQUESTS', 'ALLOW→DENY', 'DENY→ALLOW', 'UNCHANGED', 'INDETERMINATE'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
    out.push('', line(head));
    shown.forEach((e, i) => {
      out.push(line(rows[i]!));
      for (const d of e.details) out.push(`    ${d.change.padEnd(13)} ${`${d.method} ${d.path}`} ×${d.count}: now ${d.now}; before: ${d.before}`);
    });
    if (shown.some((e) => e.allowToDenyObserved)) out.push('(obs: served only because of observe mode; the recorded config would have denied them too)');
  }
  const unchangedEdges = rep.edges.length - shown.length;
  out.push('');
  if (unchangedEdges > 0) out.push(`${plural(unchangedEdges, 'edge')} unchanged (--all lists them).`);
  out.push(
    `allow→deny: ${s.allowToDeny}${s.allowToDenyObserved ? ` (${s.allowToDenyObserved} served only in observe mode)` : ''}   deny→allow: ${s.denyToAllow}   unchanged: ${s.unchanged}   indeterminate: ${s.indeterminate}`,
  );
  if (s.observed.total) {
    out.push(`Observe mode: ${plural(s.observed.total, 'request')} the recorded config would deny: ${s.observed.nowAllowed} now allowed, ${s.observed.stillDenied} still denied${s.observed.indeterminate ? `, ${s.observed.indeterminate} indeterminate` : ''}.`);
  }
  if (s.filtered) out.push(`${plural(s.filtered, 'request')} to destinations outside the namespace left out.`);
  if (s.notReevaluated) {
    out.push(`${plural(s.notReevaluated, 'request')} with a credential enforce mode rejects (or otherwise denied before the policy stage): carried over as denied, not re-evaluated${opts.ignoreRejectedCredentials ? '; not failing (--ignore-rejected-credentials)' : ''}.`);
  }
  if (s.indeterminate) out.push('Indeterminate: the candidate decides on data audit records do not hold (header values, unrecorded claims, hashed subjects); see the details above.');
  if (s.failing) {
    out.push(`FAIL: ${plural(s.failing, 'request')} that went through would be denied${opts.strict && s.indeterminate ? ' or are indeterminate (--strict)' : ''}.`);
  } else {
    out.push('OK: no request that went through would be denied.');
  }
  return out.join('\n') + '\n';
}

function fmtA2D(e: EdgeReport): string {
  return e.allowToDenyObserved ? `${e.allowToDeny} (${e.allowToDenyObserved} obs)` : String(e.allowToDeny);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
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
