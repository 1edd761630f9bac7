// `zt-authz policy generate`: least-privilege ALLOW policies from recorded traffic.
//
// One ALLOW policy per destination workload (namespace + a stable selector label, or the host
// when the destination has no labels). Its rules admit exactly the observed callers (mTLS
// principals, or a namespace once many of its principals call the workload; JWT callers by
// issuer, with the scopes every one of their requests carried), for the observed methods and
// paths, ids in paths generalised to `{*}`. Output is sorted and deterministic, with comments
// giving request counts and first/last seen times, and is validated before it is returned.
import { Document, isMap, isSeq, parseDocument, type Node, type YAMLMap, type YAMLSeq } from 'yaml';
import type { PolicySpec, RuleSpec } from '../policy/schema.js';
import { resolveConfig, parseConfigText, ConfigError } from '../config/load.js';
import { parsePrincipal } from '../identity/spiffe.js';
import type { AuditRecord } from '../observe/audit-record.js';
import { POLICY_REASONS, served, recordedVerdict, observedDeny, sourcePrincipal, sourceWorkload, workloadOf, type Workload } from './record.js';
import { covers, segmentsOf, templatable, templatePath } from './paths.js';
import { API_VERSION, isNamespaceName, isObjectName, objectName, parsePolicyManifests, policySpecsOf } from './crd.js';
import { CRD } from '../k8s/policies.js';

export interface GenerateOptions {
  /** Only destinations in this namespace. */
  namespace?: string;
  /** Leave out (source, method, path) edges seen fewer times than this. Default 1. */
  minCount?: number;
  /** Collapse sibling paths into `prefix/{**}` (wider than one segment). Default false. */
  generalise?: boolean;
  /** Distinct principals of one namespace that turn a rule into `namespaces: [ns]`. 0 = never. Default 3. */
  namespaceThreshold?: number;
  /** A config (YAML text) to add the policies to, instead of emitting `policies:` alone. */
  base?: { text: string; source: string };
  /** `config` (default): `policies:` YAML. `crd`: ZeroTrustPolicy manifests, one `---` document per policy. */
  format?: 'config' | 'crd';
  /**
   * crd: the namespace for policies without one (destinations known only by host, or without a
   * namespace): Kubernetes mode's `kubernetes.rootNamespace`, whose resources apply to every
   * namespace. Without it such policies are refused.
   */
  rootNamespace?: string;
}

/** Paths collapsed by --generalise need this many distinct siblings. */
export const GENERALISE_MIN_SIBLINGS = 3;

/** OIDC identity scopes: they never grant API access, so rules never require them. */
const IDENTITY_SCOPES = new Set(['openid', 'profile', 'email', 'address', 'phone', 'offline_access']);

export interface GenerateSummary {
  records: number;
  /** Served requests the policies are built from. */
  used: number;
  policies: number;
  rules: number;
  first?: string;
  last?: string;
  /** Requests left out, by why. */
  leftOut: Record<string, number>;
  warnings: string[];
}

export interface GenerateResult {
  yaml: string;
  policies: PolicySpec[];
  summary: GenerateSummary;
}

class Stats {
  count = 0;
  first?: string;
  last?: string;
  add(time: string | undefined, n = 1): void {
    this.count += n;
    if (time !== undefined) {
      if (this.first === undefined || time < this.first) this.first = time;
      if (this.last === undefined || time > this.last) this.last = time;
    }
  }
  merge(o: Stats): void {
    this.count += o.count;
    if (o.first !== undefined) this.add(o.first, 0);
    if (o.last !== undefined) this.add(o.last, 0);
  }
  describe(): string {
    const n = `${this.count} request${this.count === 1 ? '' : 's'}`;
    if (this.first === undefined) return n;
    return this.first === this.last ? `${n}, seen ${this.first}` : `${n}, first ${this.first}, last ${this.last}`;
  }
}

interface Op {
  method: string;
  path: string;
  stats: Stats;
  /** Scopes present on every request of this edge; null once a request's scopes are unknown. */
  scopes: Set<string> | null;
}

interface Src {
  principal?: string;
  /** Namespace of the caller's SPIFFE ID (read from the recorded principal, scheme included). */
  peerNamespace?: string;
  /** "ns/sa": a Kubernetes workload identified by its pod IP (no mTLS principal). */
  serviceAccount?: string;
  namespace?: string;
  issuer?: string;
  /** A Kubernetes service-account token (`system:serviceaccount:NS:SA`): the subject is the workload. */
  workloadSubject?: string;
  /** Source addresses of unauthenticated callers (for the comment; capped). */
  addresses: Set<string>;
  ops: Map<string, Op>;
}

interface Dest {
  workload: Workload;
  stats: Stats;
  sources: Map<string, Src>;
  /** DENY policies the recorded configuration matched for this workload's served requests. */
  deniedBy: Map<string, number>;
  /** ALLOW policies that already admitted some of these requests. */
  allowedBy: Map<string, number>;
}

export class PolicyGenerator {
  private readonly dests = new Map<string, Dest>();
  private readonly leftOut = new Map<string, number>();
  private readonly all = new Stats();
  private records = 0;
  private readonly opts: Required<Omit<GenerateOptions, 'base' | 'namespace' | 'rootNamespace'>> & Pick<GenerateOptions, 'base' | 'namespace' | 'rootNamespace'>;

  constructor(opts: GenerateOptions = {}) {
    this.opts = { minCount: 1, generalise: false, namespaceThreshold: 3, format: 'config', ...opts };
    if (this.opts.format === 'crd' && this.opts.base) {
      throw new Error('--base writes a configuration file; with --format crd keep the base config apart (replay takes it as --config BASE --policies MANIFESTS)');
    }
    if (this.opts.rootNamespace !== undefined) {
      if (this.opts.format !== 'crd') throw new Error('--root-namespace only applies to --format crd');
      if (!isNamespaceName(this.opts.rootNamespace)) throw new Error(`--root-namespace: "${this.opts.rootNamespace}" is not a namespace name (DNS-1123 label)`);
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
    if (this.opts.namespace !== undefined && workload.namespace !== this.opts.namespace) return this.skip(`destination outside namespace ${this.opts.namespace}`);
    const path = templatePath(r.path);
    if ('unrepresentable' in path) return this.skip(`path not expressible as a policy path (${path.unrepresentable})`);

    let dest = this.dests.get(workload.key);
    if (!dest) this.dests.set(workload.key, (dest = { workload, stats: new Stats(), sources: new Map(), deniedBy: new Map(), allowedBy: new Map() }));
    dest.stats.add(r.time);
    this.all.add(r.time);
    if (observedDeny(r) && verdict.reason === 'policy_denied' && verdict.policy) dest.deniedBy.set(verdict.policy, (dest.deniedBy.get(verdict.policy) ?? 0) + 1);
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
      src = { ...(principal ? { principal } : {}), ...(peerNamespace ? { peerNamespace } : {}), ...(serviceAccount ? { serviceAccount } : {}), ...(r.issuer ? { issuer: r.issuer } : {}), ...(workloadSubject ? { workloadSubject } : {}), addresses: new Set(), ops: new Map() };
      dest.sources.set(srcKey, src);
    }
    if (!principal && !serviceAccount && !r.issuer && r.source.address && src.addresses.size < 1000) src.addresses.add(r.source.address);

    const method = r.method; // as Envoy reported it: policies match methods exactly
    const opKey = `${method} ${path.value}`;
    let op = src.ops.get(opKey);
    if (!op) src.ops.set(opKey, (op = { method, path: path.value, stats: new Stats(), scopes: r.issuer ? new Set(r.auth?.scopes ?? []) : null }));
    else if (op.scopes) {
      const seen = new Set(r.auth?.scopes ?? []);
      for (const s of op.scopes) if (!seen.has(s)) op.scopes.delete(s);
    }
    if (r.issuer && !r.auth?.scopes) op.scopes = null; // a record from before scopes were recorded
    op.stats.add(r.time);
  }

  finish(): GenerateResult {
    const warnings: string[] = [];
    const policies: Array<{ spec: PolicySpec; dest: Dest; rules: BuiltRule[] }> = [];
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
        warnings.push(`${w.key}: ${n} request(s) were denied by DENY policy ${policy} (served in observe mode); an ALLOW rule does not override it`);
      }
      if (rules.some((r) => r.anonymous)) warnings.push(`${w.key}: some callers had neither an mTLS identity nor a JWT; their rule admits any unauthenticated caller for those operations`);
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
      this.checkCrdScopes(policies.map((p) => p.spec));
      const yaml = this.renderCrd(policies, summary);
      // Never hand out a manifest the Kubernetes integration would reject.
      validateManifests(yaml, this.opts.rootNamespace, policies.length);
      return { yaml, policies: policies.map((p) => p.spec), summary };
    }
    const yaml = this.render(policies, summary);
    // Never hand out something `validate` would reject.
    validateOutput(yaml, this.opts.base?.source ?? 'generated policies');
    return { yaml, policies: policies.map((p) => p.spec), summary };
  }

  /**
   * A ZeroTrustPolicy is namespaced, and its namespace is its scope. A policy without a
   * namespace (all namespaces) can only be a resource in the root namespace; a namespaced
   * policy cannot live there, since it would then apply to every namespace.
   */
  private checkCrdScopes(specs: PolicySpec[]): void {
    const root = this.opts.rootNamespace;
    const global = specs.filter((p) => p.namespace === undefined);
    if (global.length && root === undefined) {
      throw new Error(
        `${global.length} polic${global.length === 1 ? 'y has' : 'ies have'} no namespace (destinations seen without one, scoped by host or labels alone): ${global.map((p) => p.name).join(', ')}. ` +
          'A ZeroTrustPolicy is namespaced: pass --root-namespace NS (the kubernetes.rootNamespace of the service, whose policies apply to every namespace), ' +
          'or --namespace N to leave them out, or use --format config',
      );
    }
    const problems: string[] = [];
    for (const p of specs) {
      if (p.namespace === undefined) continue;
      if (!isNamespaceName(p.namespace)) problems.push(`${p.name}: namespace "${p.namespace}" is not a Kubernetes namespace name`);
      else if (p.namespace === root) problems.push(`${p.name}: its namespace "${p.namespace}" is the root namespace, where a ZeroTrustPolicy applies to every namespace`);
    }
    if (problems.length) throw new Error(`cannot write these policies as ZeroTrustPolicy resources:\n${problems.map((l) => `  - ${l}`).join('\n')}`);
  }

  /** One `---` document per policy: metadata from the policy's name and namespace, the rest as spec. */
  private renderCrd(policies: Array<{ spec: PolicySpec; dest: Dest; rules: BuiltRule[] }>, summary: GenerateSummary): string {
    const header = headerComment(summary, this.opts)
      .map((l) => `# ${l}`.trimEnd())
      .join('\n');
    const docs = policies.map((p) => {
      const { name, namespace, ...spec } = p.spec;
      const metadata = { name, namespace: namespace ?? this.opts.rootNamespace! };
      const doc = new Document({ apiVersion: API_VERSION, kind: CRD.kind, metadata, spec });
      const lines = [`${p.dest.workload.key}: ${p.dest.stats.describe()}`];
      if (namespace === undefined) lines.push(`no namespace: in the root namespace ${metadata.namespace}, so it applies in every namespace`);
      if (p.dest.allowedBy.size) lines.push(`already allowed by the recorded config: ${[...p.dest.allowedBy].sort().map(([n, c]) => `${n} (${c})`).join(', ')}`);
      doc.commentBefore = lines.map((l) => ` ${l}`).join('\n');
      const specNode = doc.get('spec', true);
      if (isMap(specNode)) decorate(specNode, p.rules);
      return `---\n${doc.toString({ lineWidth: 0, flowCollectionPadding: false })}`;
    });
    return `${header}\n${docs.length ? '\n' : ''}${docs.join('')}`;
  }

  private render(policies: Array<{ spec: PolicySpec; dest: Dest; rules: BuiltRule[] }>, summary: GenerateSummary): string {
    const doc = this.opts.base ? parseDocument(this.opts.base.text, { uniqueKeys: true }) : new Document({ policies: [] });
    let seq = doc.get('policies', true) as Node | undefined;
    if (!seq || !isSeq(seq)) {
      doc.set('policies', doc.createNode([]));
      seq = doc.get('policies', true) as Node;
    }
    const target = seq as YAMLSeq;
    policies.forEach((p, i) => {
      const node = doc.createNode(p.spec) as YAMLMap;
      const lines = [`${p.dest.workload.key}: ${p.dest.stats.describe()}`];
      if (p.dest.allowedBy.size) lines.push(`already allowed by the recorded config: ${[...p.dest.allowedBy].sort().map(([n, c]) => `${n} (${c})`).join(', ')}`);
      if (i === 0 && !this.opts.base) lines.unshift('');
      node.commentBefore = lines.map((l) => (l ? ` ${l}` : '')).join('\n');
      decorate(node, p.rules);
      target.items.push(node);
    });
    const header = headerComment(summary, this.opts);
    if (this.opts.base) {
      target.commentBefore = [target.commentBefore ?? '', ...header.map((l) => ` ${l}`)].filter(Boolean).join('\n');
      return doc.toString({ lineWidth: 0, flowCollectionPadding: false });
    }
    doc.commentBefore = header.map((l) => ` ${l}`).join('\n');
    return doc.toString({ lineWidth: 0, flowCollectionPadding: false });
  }
}

interface BuiltRule {
  spec: RuleSpec;
  stats: Stats;
  /** Per operation index, per path: its stats. */
  pathStats: Array<Map<string, Stats>>;
  sourceLabel: string;
  anonymous: boolean;
}

/** Comments on rules and paths; flow style for short lists. */
function decorate(policy: YAMLMap, rules: BuiltRule[]): void {
  const sel = policy.get('selector', true);
  if (isMap(sel)) {
    const ml = sel.get('matchLabels', true);
    if (isMap(ml)) ml.flow = true;
  }
  const ruleSeq = policy.get('rules', true);
  if (!isSeq(ruleSeq)) return;
  ruleSeq.items.forEach((item, i) => {
    const r = rules[i]!;
    if (!isMap(item)) return;
    item.commentBefore = ` from ${r.sourceLabel}: ${r.stats.describe()}`;
    const to = item.get('to', true);
    if (!isSeq(to)) return;
    to.items.forEach((t, k) => {
      if (!isMap(t)) return;
      const op = t.get('operation', true);
      if (!isMap(op)) return;
      for (const key of ['methods', 'hosts']) {
        const s = op.get(key, true);
        if (isSeq(s)) s.flow = true;
      }
      const paths = op.get('paths', true);
      if (!isSeq(paths)) return;
      for (const p of paths.items) {
        const value = (p as { value?: unknown }).value;
        const st = typeof value === 'string' ? r.pathStats[k]?.get(value) : undefined;
        if (st) (p as { comment?: string }).comment = ` ${st.describe()}`;
      }
    });
  });
}

function headerComment(s: GenerateSummary, o: GenerateOptions): string[] {
  const crd = o.format === 'crd';
  const out = [
    `Generated by \`zt-authz policy generate\` from ${s.records} audit record(s): ${s.used} served request(s)${s.first ? `, ${s.first} … ${s.last}` : ''}.`,
    `Least-privilege ALLOW policies for the observed traffic: ${s.policies} polic${s.policies === 1 ? 'y' : 'ies'}, ${s.rules} rule(s).`,
    `Options: --min-count ${o.minCount ?? 1}, --namespace-threshold ${o.namespaceThreshold ?? 3}${o.namespace !== undefined ? `, --namespace ${o.namespace}` : ''}${o.generalise ? ', --generalise' : ''}${crd ? `, --format crd${o.rootNamespace !== undefined ? `, --root-namespace ${o.rootNamespace}` : ''}` : ''}.`,
    'Review them, then check them against the recorded traffic before enforcing:',
    crd
      ? `  zt-authz policy replay --config BASE.yaml --policies THIS.yaml${o.rootNamespace !== undefined ? ` --root-namespace ${o.rootNamespace}` : ''} --from AUDIT.jsonl`
      : '  zt-authz policy replay --config CANDIDATE.yaml --from AUDIT.jsonl',
  ];
  const left = Object.entries(s.leftOut);
  if (left.length) {
    out.push('Left out:');
    for (const [why, n] of left) out.push(`  ${n} request(s): ${why}`);
  }
  if (s.warnings.length) {
    out.push('Warnings:');
    for (const w of s.warnings) out.push(`  ${w}`);
  }
  return out;
}

/** Several principals of one namespace calling a workload (with the same JWT issuer) → the namespace. */
function collapseNamespaces(sources: Src[], threshold: number): Src[] {
  if (threshold <= 0) return sources;
  const groups = new Map<string, Src[]>();
  // Service-account JWT callers keep their exact subject: they are never collapsed.
  const ofNs = (s: Src) => (s.workloadSubject ? undefined : s.serviceAccount ? s.serviceAccount.split('/')[0] : s.peerNamespace);
  for (const s of sources) {
    const ns = ofNs(s);
    if (!ns) continue;
    const k = JSON.stringify([ns, s.issuer ?? '']);
    groups.set(k, [...(groups.get(k) ?? []), s]);
  }
  const out = sources.filter((s) => {
    const ns = ofNs(s);
    return !ns || (groups.get(JSON.stringify([ns, s.issuer ?? '']))?.length ?? 0) < threshold;
  });
  for (const [k, members] of groups) {
    if (members.length < threshold) continue;
    const [ns, issuer] = JSON.parse(k) as [string, string];
    const merged: Src = { namespace: ns, ...(issuer ? { issuer } : {}), addresses: new Set(), ops: new Map() };
    for (const m of members) for (const [key, op] of m.ops) mergeOp(merged.ops, key, op);
    out.push(merged);
  }
  return out;
}

function mergeOp(into: Map<string, Op>, key: string, op: Op): void {
  const cur = into.get(key);
  if (!cur) {
    into.set(key, { ...op, stats: copyStats(op.stats), scopes: op.scopes ? new Set(op.scopes) : null });
    return;
  }
  cur.stats.merge(op.stats);
  if (!cur.scopes || !op.scopes) cur.scopes = null;
  else for (const s of [...cur.scopes]) if (!op.scopes.has(s)) cur.scopes.delete(s);
}

function copyStats(s: Stats): Stats {
  const c = new Stats();
  c.merge(s);
  return c;
}

/**
 * --generalise: a directory with at least GENERALISE_MIN_SIBLINGS distinct children becomes
 * `dir/{**}` (never `/{**}`), bottom up; their methods are merged.
 */
function generalise(ops: Map<string, Op>): Map<string, Op> {
  let paths = new Map<string, Op[]>();
  for (const op of ops.values()) paths.set(op.path, [...(paths.get(op.path) ?? []), op]);
  for (;;) {
    const parents = new Map<string, Set<string>>();
    for (const p of paths.keys()) {
      const segs = segmentsOf(p);
      const node = p.endsWith('/{**}') ? segs.slice(0, -1) : segs;
      if (node.length < 2) continue;
      const parent = node.slice(0, -1).join('/');
      parents.set(parent, (parents.get(parent) ?? new Set()).add(p));
    }
    const ripe = [...parents].filter(([parent, kids]) => kids.size >= GENERALISE_MIN_SIBLINGS && templatable(`/${parent}/{**}`));
    if (!ripe.length) break;
    const deepest = Math.max(...ripe.map(([parent]) => parent.split('/').length));
    const next = new Map(paths);
    for (const [parent, kids] of ripe) {
      if (parent.split('/').length !== deepest) continue;
      const wide = `/${parent}/{**}`;
      const merged = [...(next.get(wide) ?? [])];
      for (const k of kids) {
        if (k === wide) continue;
        merged.push(...(next.get(k) ?? []));
        next.delete(k);
      }
      next.set(wide, merged);
    }
    // Anything a wide path now covers joins it.
    for (const wide of [...next.keys()].filter((p) => p.endsWith('/{**}'))) {
      for (const p of [...next.keys()]) {
        if (covers(wide, p) && next.has(wide)) {
          next.set(wide, [...next.get(wide)!, ...next.get(p)!]);
          next.delete(p);
        }
      }
    }
    paths = next;
  }
  const out = new Map<string, Op>();
  for (const [path, list] of paths) {
    for (const op of list) mergeOp(out, `${op.method} ${path}`, { ...op, path });
  }
  return out;
}

/** Rules for one destination: per source, per required-scope set, operations grouped by method set. */
function buildRules(sources: Src[], w: Workload): BuiltRule[] {
  interface Candidate {
    src: Src;
    scopes: string[];
    ops: Op[];
  }
  const candidates: Candidate[] = [];
  for (const src of sources) {
    const byScopes = new Map<string, Op[]>();
    for (const op of src.ops.values()) {
      const scopes = src.issuer && op.scopes ? [...op.scopes].filter((s) => !IDENTITY_SCOPES.has(s)).sort() : [];
      const k = JSON.stringify(scopes);
      byScopes.set(k, [...(byScopes.get(k) ?? []), op]);
    }
    for (const [k, ops] of byScopes) candidates.push({ src, scopes: JSON.parse(k) as string[], ops });
  }
  // Merge sources with the same kind, issuer, scopes and operations into one rule.
  const merged = new Map<string, { srcs: Src[]; scopes: string[]; operations: Array<{ methods: string[]; paths: string[] }>; ops: Op[] }>();
  for (const c of candidates) {
    const operations = groupOperations(c.ops);
    const kind = c.src.principal ? 'principal' : c.src.serviceAccount ? 'serviceAccount' : c.src.namespace ? 'namespace' : 'none';
    const k = JSON.stringify([kind, c.src.issuer ?? '', c.src.workloadSubject !== undefined, c.scopes, operations]);
    const m = merged.get(k);
    if (m) {
      m.srcs.push(c.src);
      m.ops.push(...c.ops);
    } else merged.set(k, { srcs: [c.src], scopes: c.scopes, operations, ops: [...c.ops] });
  }
  const rules: Array<BuiltRule & { sortKey: string }> = [];
  for (const m of merged.values()) {
    const principals = [...new Set(m.srcs.flatMap((s) => (s.principal ? [s.principal] : [])))].sort(cmp);
    const namespaces = [...new Set(m.srcs.flatMap((s) => (s.namespace ? [s.namespace] : [])))].sort(cmp);
    const serviceAccounts = [...new Set(m.srcs.flatMap((s) => (s.serviceAccount ? [s.serviceAccount] : [])))].sort(cmp);
    const workload = principals.length > 0 || namespaces.length > 0 || serviceAccounts.length > 0;
    const issuer = m.srcs[0]!.issuer;
    const source: NonNullable<RuleSpec['from']>[number]['source'] = {};
    if (principals.length) source.principals = principals;
    if (namespaces.length) source.namespaces = namespaces;
    if (serviceAccounts.length) source.serviceAccounts = serviceAccounts;
    // Callers seen without an mTLS identity: only such callers (`notPrincipals: ["*"]`), so a
    // mesh workload cannot borrow the rule; likewise without a JWT.
    if (!workload) source.notPrincipals = ['*'];
    const subjects = [...new Set(m.srcs.flatMap((s) => (s.workloadSubject ? [s.workloadSubject] : [])))].sort(cmp);
    if (issuer) source.requestPrincipals = subjects.length ? subjects.map((sub) => `${issuer}/${sub}`) : [`${issuer}/*`];
    else if (!workload) source.notRequestPrincipals = ['*'];
    const anonymous = !workload && !issuer;
    const spec: RuleSpec = {
      from: [{ source }],
      to: m.operations.map((o) => ({ operation: { ...(w.host ? { hosts: [`${w.host}:*`] } : {}), methods: o.methods, paths: o.paths } })),
      ...(m.scopes.length ? { when: m.scopes.map((s) => ({ key: 'request.auth.scopes', values: [s] })) } : {}),
    };
    const stats = new Stats();
    for (const op of m.ops) stats.merge(op.stats);
    const pathStats = m.operations.map((o) => {
      const per = new Map<string, Stats>();
      for (const op of m.ops) {
        if (!o.methods.includes(op.method) || !o.paths.includes(op.path)) continue;
        const st = per.get(op.path) ?? new Stats();
        st.merge(op.stats);
        per.set(op.path, st);
      }
      return per;
    });
    const who = [
      principals.length ? principals.join(', ') : '',
      serviceAccounts.length ? `service account ${serviceAccounts.join(', ')} (by pod IP)` : '',
      namespaces.length ? `namespace ${namespaces.join(', ')}` : '',
      issuer ? `JWT of ${issuer}${subjects.length ? ` (${subjects.join(', ')})` : ''}${m.scopes.length ? ` with scope ${m.scopes.join(' and ')}` : ''}${workload ? '' : ', no mTLS identity'}` : '',
    ].filter(Boolean);
    const addrs = [...new Set(m.srcs.flatMap((s) => [...s.addresses]))].sort(cmp);
    const seen = addrs.length > 5 ? `${addrs.slice(0, 5).join(', ')} and ${addrs.length - 5} more` : addrs.join(', ');
    const sourceLabel = who.length ? who.join(' + ') : `callers with neither mTLS identity nor JWT${addrs.length ? ` (seen from ${seen})` : ''}`;
    const kindOrder = principals.length ? 0 : serviceAccounts.length ? 1 : namespaces.length ? 2 : issuer ? 3 : 4;
    rules.push({ spec, stats, pathStats, sourceLabel, anonymous, sortKey: JSON.stringify([kindOrder, principals, serviceAccounts, namespaces, issuer ?? '', subjects, m.scopes, m.operations]) });
  }
  return rules.sort((a, b) => cmp(a.sortKey, b.sortKey)).map(({ sortKey: _, ...r }) => r);
}

/** Paths grouped by identical method sets, so methods × paths admits exactly what was seen. */
function groupOperations(ops: Op[]): Array<{ methods: string[]; paths: string[] }> {
  const methodsByPath = new Map<string, Set<string>>();
  for (const op of ops) methodsByPath.set(op.path, (methodsByPath.get(op.path) ?? new Set()).add(op.method));
  const byMethods = new Map<string, string[]>();
  for (const [path, methods] of methodsByPath) {
    const k = JSON.stringify([...methods].sort(cmp));
    byMethods.set(k, [...(byMethods.get(k) ?? []), path]);
  }
  return [...byMethods]
    .map(([k, paths]) => ({ methods: JSON.parse(k) as string[], paths: paths.sort(cmp) }))
    .sort((a, b) => cmp(a.methods.join(','), b.methods.join(',')) || cmp(a.paths[0]!, b.paths[0]!));
}

function policyBaseName(w: Workload): string {
  const base = w.selector ? Object.values(w.selector).join('-') : (w.host ?? 'workload');
  return `allow-${base}`;
}

/**
 * Policy names: valid, unique per namespace, not colliding with the base config's. For CRDs,
 * valid Kubernetes object names (DNS-1123 subdomains: lower case, so two label values differing
 * only in case get distinct suffixed names).
 */
class NameAllocator {
  private readonly used = new Set<string>();
  constructor(taken: string[], private readonly dns = false) {
    for (const t of taken) this.used.add(t);
  }
  next(namespace: string | undefined, wanted: string): string {
    let base = this.dns
      ? objectName(wanted, 60)
      : wanted.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/-{2,}/g, '-').replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '').slice(0, 60).replace(/[^A-Za-z0-9]+$/, '');
    if (!base) base = 'allow';
    let name = base;
    for (let i = 2; this.used.has(`${namespace ?? ''}/${name}`); i++) name = `${base}-${i}`;
    this.used.add(`${namespace ?? ''}/${name}`);
    if (this.dns && !isObjectName(name)) throw new Error(`generated policy name "${name}" is not a Kubernetes object name (a bug, please report it)`);
    return name;
  }
}

function basePolicyNames(base: { text: string; source: string }): string[] {
  const raw = parseConfigText(base.text, base.source) as { policies?: Array<{ name?: unknown; namespace?: unknown }> };
  return (Array.isArray(raw?.policies) ? raw.policies : []).map((p) => `${typeof p?.namespace === 'string' ? p.namespace : ''}/${String(p?.name)}`);
}

function validateOutput(yaml: string, source: string): void {
  try {
    resolveConfig(parseConfigText(yaml, source), source);
  } catch (err) {
    if (err instanceof ConfigError) throw new Error(`generated configuration does not validate (a bug, please report it):\n${err.message}`);
    throw err;
  }
}

function validateManifests(yaml: string, rootNamespace: string | undefined, expected: number): void {
  try {
    const objs = parsePolicyManifests(yaml, 'generated ZeroTrustPolicy manifests');
    const specs = policySpecsOf(objs, { rootNamespace, rolesClaim: resolveConfig({}, 'defaults').authorization.rolesClaim, source: 'generated ZeroTrustPolicy manifests' });
    if (specs.length !== expected) throw new Error(`${specs.length} of ${expected} policies read back`);
  } catch (err) {
    throw new Error(`generated ZeroTrustPolicy manifests do not validate (a bug, please report it):\n${(err as Error).message}`);
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
