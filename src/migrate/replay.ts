// `zt-authz policy replay`: re-evaluate recorded requests against a candidate configuration and
// report what would change, grouped by source → destination edge.
//
// - Requests are evaluated by the engine's policy stage (DecisionEngine.authorize) as if the
//   candidate were enforced, whatever its `mode` says: the question is what enforcing it would do.
// - "Before" is what actually happened to the request: served (allowed, or allowed by observe
//   mode) or denied. A served request the candidate denies is a regression; so is one that was
//   served only because of observe mode, since enforcing would break it too.
// - Denies that happened before the policy stage (expired or badly signed tokens, …) cannot be
//   changed by policies: they are carried over, not re-evaluated.
// - Audit records hold no header values and only some claims, and may hold a hashed subject.
//   When the candidate's decision for a request depends on something not recorded, the request
//   is reported as indeterminate instead of guessed (replay-three-valued.ts).
import type { Config } from '../config/types.js';
import { InternalError } from '../errors.js';
import type { Snapshot } from '../decision/snapshot.js';
import type { KeyResolver } from '../authn/authenticator.js';
import type { PeerIdentity } from '../identity/spiffe.js';
import type { AuditRecord } from '../observe/audit-record.js';
import { buildSnapshot } from '../snapshot/builder.js';
import { DecisionEngine } from '../decision/engine.js';
import { policyContext } from '../decision/authorize.js';
import { POLICY_REASONS, served, recordedVerdict, observedDeny, sourceLabel, workloadOf } from './record.js';
import { templatePath } from './paths.js';
import { SubjectRecovery, gapsOf, identityOf, inputOf, peerOf } from './replay-request.js';
import { undetermined } from './replay-three-valued.js';
import type { Change, EdgeDetail, EdgeReport, ReplayReport, ReplaySummary } from './replay-report.js';

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

export class Replayer {
  readonly snap: Snapshot;
  /** The engine's policy stage decides each request, with the identity the record holds. */
  private readonly engine: DecisionEngine;
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
  /** Exact subject values policies name: hashed to recover hashed subjects. */
  private readonly subjects: SubjectRecovery;

  /** The recorded Kubernetes workload of the request being evaluated (see workloadSource). */
  private peer: PeerIdentity | undefined;

  constructor(
    readonly config: Config,
    private readonly opts: ReplayOptions = {},
  ) {
    // Replay never verifies a token: resolvers that would refuse are enough, and nothing is fetched.
    const keys = new Map<string, KeyResolver>(
      config.issuers.map((i) => [
        i.issuer,
        { ready: true, getKey: () => Promise.reject(new InternalError('policy replay does not verify tokens')) },
      ]),
    );
    // A caller the recording service identified from Kubernetes (service-account token, pod IP)
    // is taken as recorded: replay has no workload map of its own.
    this.snap = Object.freeze({ ...buildSnapshot(config, keys, { cacheHit() {}, cacheMiss() {} }, 0), workloadSource: () => this.peer });
    this.engine = new DecisionEngine(() => this.snap);
    this.subjects = new SubjectRecovery(this.snap.policies.all);
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
      e = {
        report: {
          source: src,
          destination: dst,
          requests: 0,
          allowToDeny: 0,
          allowToDenyObserved: 0,
          denyToAllow: 0,
          unchanged: 0,
          indeterminate: 0,
          details: [],
        },
        details: new Map(),
      };
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
        'indeterminate' in now
          ? now.indeterminate
          : !reevaluated
            ? `${now.reason} (rejected before the policy stage, not re-evaluated)`
            : `${now.reason}${now.policy ? ` (${now.policy})` : ''}`;
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
        details: [...details.values()].sort(
          (a, b) => cmp(a.change, b.change) || b.count - a.count || cmp(a.method + a.path, b.method + b.path),
        ),
      }))
      .sort((a, b) => order(a) - order(b) || cmp(a.source, b.source) || cmp(a.destination, b.destination));
    const m = this.config.mode;
    const observing = [
      m.default === 'observe' ? 'default' : '',
      ...Object.entries(m.namespaces)
        .filter(([, v]) => v === 'observe')
        .map(([k]) => `namespace ${k}`),
    ].filter(Boolean);
    return {
      summary: { ...this.summary, observed: { ...this.summary.observed } },
      edges,
      ...(observing.length
        ? { modeNote: `the candidate puts ${observing.join(', ')} in observe mode; replay shows what enforcing it would decide` }
        : {}),
    };
  }

  // -------------------------------------------------------------------------------------------

  /** The candidate's decision for one recorded request, or why it cannot be known. */
  private evaluate(r: AuditRecord): { allow: boolean; reason: string; policy?: string } | { indeterminate: string } {
    const trustXfcc = this.config.identity.trustXfcc;
    const gaps = gapsOf(r, this.subjects, trustXfcc);
    const input = inputOf(r, trustXfcc);
    this.peer = peerOf(r);
    const identity = identityOf(r, gaps);
    const peers = this.engine.peersFor(input, identity);
    const unknown = undetermined(this.snap.policies.all, policyContext(input, identity, peers), gaps);
    if (unknown) return { indeterminate: unknown };
    const { verdict } = this.engine.authorize(input, identity, peers);
    return { allow: verdict.allow, reason: verdict.reason, ...(verdict.policy ? { policy: verdict.policy } : {}) };
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
