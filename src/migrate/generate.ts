// `zt-authz policy generate`: least-privilege ALLOW policies from recorded traffic.
//
// One ALLOW policy per destination workload (namespace + a stable selector label, or the host
// when the destination has no labels). Its rules admit exactly the observed callers (mTLS
// principals, or a namespace once many of its principals call the workload; JWT callers by
// issuer, with the scopes every one of their requests carried), for the observed methods and
// paths, ids in paths generalised to `{*}`. Output is sorted and deterministic, with comments
// giving request counts and first/last seen times, and is validated before it is returned.
import type { PolicySpec } from '../config/policy-schema.js';
import { parsePrincipal } from '../identity/spiffe.js';
import { InvalidArgumentError } from '../errors.js';
import type { AuditRecord } from '../observe/audit-record.js';
import { POLICY_REASONS, served, recordedVerdict, observedDeny, sourcePrincipal, sourceWorkload, workloadOf } from './record.js';
import { templatePath } from './paths.js';
import { isNamespaceName } from './crd.js';
import type { GenerateOptions, GenerateResult, GenerateSummary } from './generate-options.js';
import { Stats, buildRules, cmp, collapseNamespaces, generalise, type Dest } from './generate-rules.js';
import {
  NameAllocator,
  basePolicyNames,
  checkCrdScopes,
  policyBaseName,
  renderConfig,
  renderCrd,
  validateManifests,
  validateOutput,
  type GeneratedPolicy,
} from './generate-output.js';

export class PolicyGenerator {
  private readonly dests = new Map<string, Dest>();
  private readonly leftOut = new Map<string, number>();
  private readonly all = new Stats();
  private records = 0;
  private readonly opts: Required<Omit<GenerateOptions, 'base' | 'namespace' | 'rootNamespace'>> &
    Pick<GenerateOptions, 'base' | 'namespace' | 'rootNamespace'>;

  constructor(opts: GenerateOptions = {}) {
    this.opts = { minCount: 1, generalise: false, namespaceThreshold: 3, format: 'config', ...opts };
    if (this.opts.format === 'crd' && this.opts.base) {
      throw new InvalidArgumentError(
        '--base writes a configuration file; with --format crd keep the base config apart (replay takes it as --config BASE --policies MANIFESTS)',
      );
    }
    if (this.opts.rootNamespace !== undefined) {
      if (this.opts.format !== 'crd') throw new InvalidArgumentError('--root-namespace only applies to --format crd');
      if (!isNamespaceName(this.opts.rootNamespace))
        throw new InvalidArgumentError(`--root-namespace: "${this.opts.rootNamespace}" is not a namespace name (DNS-1123 label)`);
    }
  }

  private skip(why: string, n = 1): void {
    this.leftOut.set(why, (this.leftOut.get(why) ?? 0) + n);
  }

  add(r: AuditRecord): void {
    this.records++;
    if (!served(r)) return this.skip('denied (not served)');
    const verdict = recordedVerdict(r);
    if (observedDeny(r) && !POLICY_REASONS.has(verdict.reason)) {
      // Served only because of observe mode, with a credential or request shape enforce mode
      // rejects (expired token, bad signature, non-canonical path, …): no policy can admit it.
      // The callers must be fixed instead.
      const what = verdict.reason === 'malformed_request' ? 'a request enforce mode refuses' : 'a rejected credential';
      return this.skip(`served in observe mode with ${what} (${verdict.reason})`);
    }
    if (r.pathTruncated) return this.skip('path too long (truncated in the audit record)');
    const workload = workloadOf(r);
    if (!workload.selector && !workload.host) return this.skip('destination unknown (no namespace, labels or host)');
    if (this.opts.namespace !== undefined && workload.namespace !== this.opts.namespace)
      return this.skip(`destination outside namespace ${this.opts.namespace}`);
    const path = templatePath(r.path);
    if ('unrepresentable' in path) return this.skip(`path not expressible as a policy path (${path.unrepresentable})`);

    let dest = this.dests.get(workload.key);
    if (!dest)
      this.dests.set(
        workload.key,
        (dest = { workload, stats: new Stats(), sources: new Map(), deniedBy: new Map(), allowedBy: new Map() }),
      );
    dest.stats.add(r.time);
    this.all.add(r.time);
    if (observedDeny(r) && verdict.reason === 'policy_denied' && verdict.policy)
      dest.deniedBy.set(verdict.policy, (dest.deniedBy.get(verdict.policy) ?? 0) + 1);
    if (verdict.allow && verdict.policy) dest.allowedBy.set(verdict.policy, (dest.allowedBy.get(verdict.policy) ?? 0) + 1);

    const principal = sourcePrincipal(r);
    // A service-account token names the calling workload: admit that subject, not the whole issuer.
    const workloadSubject = r.issuer && r.subject?.startsWith('system:serviceaccount:') ? r.subject : undefined;
    // A caller identified by pod IP (Kubernetes, opt-in): its service account. One identified by a
    // service-account token is covered by the token's exact subject instead.
    const serviceAccount = r.source.principalFrom === 'pod_ip' ? sourceWorkload(r) : undefined;
    const srcKey = JSON.stringify([principal ?? '', serviceAccount ?? '', r.issuer ?? '', workloadSubject ?? '']);
    let src = dest.sources.get(srcKey);
    if (!src) {
      const peerNamespace = parsePrincipal(r.source.principal)?.namespace;
      src = {
        ...(principal ? { principal } : {}),
        ...(peerNamespace ? { peerNamespace } : {}),
        ...(serviceAccount ? { serviceAccount } : {}),
        ...(r.issuer ? { issuer: r.issuer } : {}),
        ...(workloadSubject ? { workloadSubject } : {}),
        addresses: new Set(),
        ops: new Map(),
      };
      dest.sources.set(srcKey, src);
    }
    if (!principal && !serviceAccount && !r.issuer && r.source.address && src.addresses.size < 1000) src.addresses.add(r.source.address);

    const method = r.method; // as Envoy reported it: policies match methods exactly
    const opKey = `${method} ${path.value}`;
    let op = src.ops.get(opKey);
    if (!op)
      src.ops.set(opKey, (op = { method, path: path.value, stats: new Stats(), scopes: r.issuer ? new Set(r.auth?.scopes ?? []) : null }));
    else if (op.scopes) {
      const seen = new Set(r.auth?.scopes ?? []);
      for (const s of op.scopes) if (!seen.has(s)) op.scopes.delete(s);
    }
    if (r.issuer && !r.auth?.scopes) op.scopes = null; // a record from before scopes were recorded
    op.stats.add(r.time);
  }

  finish(): GenerateResult {
    const warnings: string[] = [];
    const policies: GeneratedPolicy[] = [];
    const crd = this.opts.format === 'crd';
    const names = new NameAllocator(this.opts.base ? basePolicyNames(this.opts.base) : [], crd);
    for (const dest of [...this.dests.values()].sort((a, b) => cmp(a.workload.key, b.workload.key))) {
      let sources = [...dest.sources.values()];
      sources = collapseNamespaces(sources, this.opts.namespaceThreshold);
      for (const s of sources) {
        for (const [k, op] of s.ops) {
          if (op.stats.count < this.opts.minCount) {
            s.ops.delete(k);
            this.skip(`below --min-count ${this.opts.minCount}`, op.stats.count);
          }
        }
        if (this.opts.generalise) s.ops = generalise(s.ops);
      }
      sources = sources.filter((s) => s.ops.size > 0);
      if (!sources.length) continue;
      const rules = buildRules(sources, dest.workload);
      const w = dest.workload;
      const spec: PolicySpec = {
        // A CRD name is unique in the namespace the resource lands in (the root one for policies
        // without a namespace).
        name: names.next(crd ? (w.namespace ?? this.opts.rootNamespace) : w.namespace, policyBaseName(w)),
        ...(w.namespace !== undefined ? { namespace: w.namespace } : {}),
        ...(w.selector ? { selector: { matchLabels: w.selector } } : {}),
        action: 'ALLOW',
        rules: rules.map((r) => r.spec),
      };
      policies.push({ spec, dest, rules });
      for (const [policy, n] of [...dest.deniedBy].sort()) {
        warnings.push(
          `${w.key}: ${n} request(s) were denied by DENY policy ${policy} (served in observe mode); an ALLOW rule does not override it`,
        );
      }
      if (rules.some((r) => r.anonymous))
        warnings.push(
          `${w.key}: some callers had neither an mTLS identity nor a JWT; their rule admits any unauthenticated caller for those operations`,
        );
    }

    const leftOut = Object.fromEntries([...this.leftOut].sort((a, b) => cmp(a[0], b[0])));
    const summary: GenerateSummary = {
      records: this.records,
      used: this.all.count,
      policies: policies.length,
      rules: policies.reduce((n, p) => n + p.rules.length, 0),
      ...(this.all.first ? { first: this.all.first } : {}),
      ...(this.all.last ? { last: this.all.last } : {}),
      leftOut,
      warnings,
    };
    if (crd) {
      checkCrdScopes(
        policies.map((p) => p.spec),
        this.opts.rootNamespace,
      );
      const yaml = renderCrd(policies, summary, this.opts);
      // Never hand out a manifest the Kubernetes integration would reject.
      validateManifests(yaml, this.opts.rootNamespace, policies.length);
      return { yaml, policies: policies.map((p) => p.spec), summary };
    }
    const yaml = renderConfig(policies, summary, this.opts);
    // Never hand out something `validate` would reject.
    validateOutput(yaml, this.opts.base?.source ?? 'generated policies');
    return { yaml, policies: policies.map((p) => p.spec), summary };
  }
}
