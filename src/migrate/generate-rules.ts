// The traffic model `policy generate` builds from served requests (per destination workload, per
// caller, per operation, with counts and first/last seen times) and the least-privilege rules it
// turns into: callers collapsed into their namespace, sibling paths generalised, operations
// grouped by method set.
import type { RuleSpec } from '../config/policy-schema.js';
import type { Workload } from './record.js';
import { covers, segmentsOf, templatable } from './paths.js';

/** Paths collapsed by --generalise need this many distinct siblings. */
export const GENERALISE_MIN_SIBLINGS = 3;

/** OIDC identity scopes: they never grant API access, so rules never require them. */
const IDENTITY_SCOPES = new Set(['openid', 'profile', 'email', 'address', 'phone', 'offline_access']);

export class Stats {
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

export interface Op {
  method: string;
  path: string;
  stats: Stats;
  /** Scopes present on every request of this edge; null once a request's scopes are unknown. */
  scopes: Set<string> | null;
}

export interface Src {
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

export interface Dest {
  workload: Workload;
  stats: Stats;
  sources: Map<string, Src>;
  /** DENY policies the recorded configuration matched for this workload's served requests. */
  deniedBy: Map<string, number>;
  /** ALLOW policies that already admitted some of these requests. */
  allowedBy: Map<string, number>;
}

export interface BuiltRule {
  spec: RuleSpec;
  stats: Stats;
  /** Per operation index, per path: its stats. */
  pathStats: Array<Map<string, Stats>>;
  sourceLabel: string;
  anonymous: boolean;
}

/** Several principals of one namespace calling a workload (with the same JWT issuer) → the namespace. */
export function collapseNamespaces(sources: Src[], threshold: number): Src[] {
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

export function mergeOp(into: Map<string, Op>, key: string, op: Op): void {
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
export function generalise(ops: Map<string, Op>): Map<string, Op> {
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
export function buildRules(sources: Src[], w: Workload): BuiltRule[] {
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
      issuer
        ? `JWT of ${issuer}${subjects.length ? ` (${subjects.join(', ')})` : ''}${m.scopes.length ? ` with scope ${m.scopes.join(' and ')}` : ''}${workload ? '' : ', no mTLS identity'}`
        : '',
    ].filter(Boolean);
    const addrs = [...new Set(m.srcs.flatMap((s) => [...s.addresses]))].sort(cmp);
    const seen = addrs.length > 5 ? `${addrs.slice(0, 5).join(', ')} and ${addrs.length - 5} more` : addrs.join(', ');
    const sourceLabel = who.length
      ? who.join(' + ')
      : `callers with neither mTLS identity nor JWT${addrs.length ? ` (seen from ${seen})` : ''}`;
    const kindOrder = principals.length ? 0 : serviceAccounts.length ? 1 : namespaces.length ? 2 : issuer ? 3 : 4;
    rules.push({
      spec,
      stats,
      pathStats,
      sourceLabel,
      anonymous,
      sortKey: JSON.stringify([kindOrder, principals, serviceAccounts, namespaces, issuer ?? '', subjects, m.scopes, m.operations]),
    });
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

export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
