// The compiled policy set, indexed by destination so a decision only looks at the policies that
// can apply to this request: by destination namespace, by one selector label, and by exact host
// for unscoped host-only policies. Everything else lands in a small global bucket. The cost of a
// decision therefore does not grow with the number of unrelated policies.
//
// A selector policy is filed under the one label of its selector that the fewest policies of the
// same namespace share (ties: the first sorted), so 1,000 policies on `app: orders` that differ in
// `version` are filed by version, not all in one `app=orders` bucket. Any of its labels is a sound
// key: the policy can only apply where the destination has all of them (applies() checks them).
// The blind spot left: policies whose selectors are identical, or all of whose labels are
// shared, still sit in one bucket and are evaluated one by one for that workload.
//
// Order: DENY match → deny; ALLOW match → allow; otherwise deny (zero trust). AUDIT and dryRun
// policies never decide; dry-run policies yield a separate would-be verdict.
import type { CompiledPolicy, CompiledRule, Condition } from './compiled.js';
import type { PolicyContext } from './context.js';
import type { PolicyMatch } from '../decision/types.js';
import { canonicalHostPattern, hostMatchValues } from '../decision/host.js';

interface Bucket {
  deny: CompiledPolicy[];
  allow: CompiledPolicy[];
  /** AUDIT policies and every dryRun policy: evaluated for the record only. */
  observe: CompiledPolicy[];
}

export interface NearMiss {
  /**
   * `authn`: an anonymous request that a rule would admit once authenticated (→ 401);
   * `scope`: the token lacks OAuth scopes; `step_up`: it lacks acr/amr (RFC 9470).
   */
  kind: 'authn' | 'scope' | 'step_up';
  policy: string;
  rule: number;
  scopes: string[];
  acr: string[];
  amr: string[];
}

export interface PolicyVerdict {
  allow: boolean;
  reason: 'allowed' | 'policy_denied' | 'no_policy_matched';
  policy?: string;
  rule?: number;
  /** Allow only: the allowing policy's internalToken switch, when it has one. */
  internalToken?: boolean;
  audits: PolicyMatch[];
  /** Set when dry-run policies apply: the verdict if they were enforced. */
  dryRun?: { allow: boolean; reason: 'allowed' | 'policy_denied' | 'no_policy_matched'; policy?: string; rule?: number };
}

export interface TraceEntry {
  policy: string;
  action: string;
  dryRun: boolean;
  applies: boolean;
  /** Why the policy does not apply (scope), or per rule: "match" or the first failing condition. */
  detail: string[];
}

const emptyBucket = (): Bucket => ({ deny: [], allow: [], observe: [] });

export class PolicyIndex {
  private readonly global = emptyBucket();
  private readonly byHost = new Map<string, Bucket>();
  private readonly byNamespace = new Map<string, { unselected: Bucket; byLabel: Map<string, Bucket> }>();
  private readonly bySelectorOnly = new Map<string, Bucket>();
  readonly hasDryRun: boolean;

  constructor(readonly all: readonly CompiledPolicy[]) {
    // How many policies of each scope (namespace, or none) select on each label.
    const shared = new Map<string, number>();
    for (const p of all) {
      for (const l of selectorLabels(p)) {
        const k = scopedLabel(p, l);
        shared.set(k, (shared.get(k) ?? 0) + 1);
      }
    }
    for (const p of all) this.place(p, rarestLabel(p, shared));
    this.hasDryRun = all.some((p) => p.dryRun);
  }

  get size(): number {
    return this.all.length;
  }

  private place(p: CompiledPolicy, label: string | undefined): void {
    let buckets: Bucket[];
    if (p.namespace !== undefined) {
      let ns = this.byNamespace.get(p.namespace);
      if (!ns) this.byNamespace.set(p.namespace, (ns = { unselected: emptyBucket(), byLabel: new Map() }));
      buckets = [label ? getOrAdd(ns.byLabel, label) : ns.unselected];
    } else if (label) {
      buckets = [getOrAdd(this.bySelectorOnly, label)];
    } else {
      const hosts = exactHosts(p);
      buckets = hosts ? hosts.map((h) => getOrAdd(this.byHost, h)) : [this.global];
    }
    for (const b of buckets) {
      if (p.dryRun || p.action === 'AUDIT') b.observe.push(p);
      else if (p.action === 'DENY') b.deny.push(p);
      else b.allow.push(p);
    }
  }

  /** The buckets that may hold policies for this request's destination. */
  private lookup(ctx: PolicyContext): Bucket[] {
    const out: Bucket[] = [this.global];
    if (this.byHost.size) {
      // The canonical host, then without its port: the keys exact patterns are filed under
      // (canonicalHostPattern). A pattern that names a port matches only a host sent with that
      // port, whose canonical form is the pattern's (`orders:443` → `orders`), so the index can
      // never skip a policy the matchers would apply (decision/host.ts, policy/readings.ts).
      for (const h of hostMatchValues(ctx.input.host)) pushIf(out, this.byHost.get(h));
    }
    const labels = ctx.destination.labels;
    if (this.bySelectorOnly.size) for (const k in labels) pushIf(out, this.bySelectorOnly.get(`${k}=${labels[k]}`));
    const nsName = ctx.destination.namespace;
    if (nsName !== undefined) {
      const ns = this.byNamespace.get(nsName);
      if (ns) {
        out.push(ns.unselected);
        if (ns.byLabel.size) for (const k in labels) pushIf(out, ns.byLabel.get(`${k}=${labels[k]}`));
      }
    }
    return out;
  }

  /** How many policies the index hands to evaluation for this request (tests, benchmarks). */
  candidateCount(ctx: PolicyContext): number {
    return this.lookup(ctx).reduce((n, b) => n + b.deny.length + b.allow.length + b.observe.length, 0);
  }

  evaluate(ctx: PolicyContext): PolicyVerdict {
    const buckets = this.lookup(ctx);
    const deny = firstMatch(buckets, 'deny', ctx);
    const allow = deny ? undefined : firstMatch(buckets, 'allow', ctx);
    const verdict: PolicyVerdict = deny
      ? { allow: false, reason: 'policy_denied', policy: deny.p.name, rule: deny.rule, audits: [] }
      : allow
        ? {
            allow: true,
            reason: 'allowed',
            policy: allow.p.name,
            rule: allow.rule,
            ...(allow.p.internalToken !== undefined ? { internalToken: allow.p.internalToken } : {}),
            audits: [],
          }
        : { allow: false, reason: 'no_policy_matched', audits: [] };

    let dryDeny: Hit | undefined;
    let dryAllow: Hit | undefined;
    let anyDry = false;
    for (const b of buckets) {
      for (const p of b.observe) {
        if (!applies(p, ctx)) continue;
        anyDry ||= p.dryRun;
        const rule = matchingRule(p.rules, ctx);
        if (rule < 0) continue;
        verdict.audits.push({ policy: p.name, rule, action: p.action, dryRun: p.dryRun });
        if (p.dryRun && p.action === 'DENY' && (!dryDeny || p.order < dryDeny.p.order)) dryDeny = { p, rule };
        if (p.dryRun && p.action === 'ALLOW' && (!dryAllow || p.order < dryAllow.p.order)) dryAllow = { p, rule };
      }
    }
    if (anyDry) {
      const d = deny ?? dryDeny;
      const a = allow ?? dryAllow;
      verdict.dryRun = d
        ? { allow: false, reason: 'policy_denied', policy: d.p.name, rule: d.rule }
        : a
          ? { allow: true, reason: 'allowed', policy: a.p.name, rule: a.rule }
          : { allow: false, reason: 'no_policy_matched' };
    }
    return verdict;
  }

  /**
   * After a default deny: an ALLOW rule that failed *only* for lack of a credential, or only on
   * scope, or only on acr/amr conditions, tells the client what would let it in (401 with a
   * challenge, RFC 6750 insufficient_scope, RFC 9470 step-up). Off the hot path: only called
   * for default-denied requests.
   */
  nearMiss(ctx: PolicyContext): NearMiss | undefined {
    const anonymous = ctx.identity === undefined;
    let scope: NearMiss | undefined;
    for (const b of this.lookup(ctx)) {
      for (const p of b.allow) {
        if (!applies(p, ctx)) continue;
        for (let i = 0; i < p.rules.length; i++) {
          const r = p.rules[i]!;
          if (anonymous) {
            // Would a credential help? Every failing condition must be one a JWT could satisfy.
            const fromOk = r.from.length === 0 || r.from.some((g) => g.every((c) => c.authn || c.test(ctx)));
            const needsAuthn = [...r.from.flat(), ...r.when].some((c) => c.authn);
            if (needsAuthn && fromOk && anyGroup(r.to, ctx) && r.when.every((c) => c.authn || c.test(ctx))) {
              return { kind: 'authn', policy: p.name, rule: i, scopes: [], acr: [], amr: [] };
            }
            continue;
          }
          if (!anyGroup(r.from, ctx) || !anyGroup(r.to, ctx)) continue;
          const failing = r.when.filter((c) => !c.test(ctx));
          if (failing.length === 0 || failing.some((c) => c.role === 'plain')) continue;
          const roles = new Set(failing.map((c) => c.role));
          const values = (role: string) => failing.filter((c) => c.role === role).flatMap((c) => [...c.values]);
          const miss: NearMiss = {
            kind: roles.has('scope') ? 'scope' : 'step_up',
            policy: p.name,
            rule: i,
            scopes: values('scope'),
            acr: values('acr'),
            amr: values('amr'),
          };
          // Step-up alone is the more useful answer: the client can fix it by re-authenticating.
          if (miss.kind === 'step_up') return miss;
          scope ??= miss;
        }
      }
    }
    return scope;
  }

  /** Explain every policy (CLI `check`): scope applicability and, per rule, the first failure. */
  trace(ctx: PolicyContext): TraceEntry[] {
    const candidates = new Set(this.lookup(ctx).flatMap((b) => [...b.deny, ...b.allow, ...b.observe]));
    return this.all.map((p) => {
      const entry: TraceEntry = { policy: p.name, action: p.action, dryRun: p.dryRun, applies: false, detail: [] };
      if (!candidates.has(p) || !applies(p, ctx)) {
        entry.detail.push(scopeMismatch(p, ctx));
        return entry;
      }
      entry.applies = true;
      if (p.rules.length === 0) entry.detail.push('no rules: never matches');
      p.rules.forEach((r, i) => entry.detail.push(`rules[${i}]: ${explainRule(r, ctx)}`));
      return entry;
    });
  }
}

interface Hit {
  p: CompiledPolicy;
  rule: number;
}

function firstMatch(buckets: Bucket[], kind: 'deny' | 'allow', ctx: PolicyContext): Hit | undefined {
  let best: Hit | undefined;
  for (const b of buckets) {
    for (const p of b[kind]) {
      if (best && p.order > best.p.order) break; // buckets are in config order
      if (!applies(p, ctx)) continue;
      const rule = matchingRule(p.rules, ctx);
      if (rule >= 0) {
        best = { p, rule };
        break;
      }
    }
  }
  return best;
}

/** Selector check (the index only used one label to find the policy). */
function applies(p: CompiledPolicy, ctx: PolicyContext): boolean {
  if (p.namespace !== undefined && p.namespace !== ctx.destination.namespace) return false;
  if (p.selector) for (const k in p.selector) if (ctx.destination.labels[k] !== p.selector[k]) return false;
  return true;
}

function matchingRule(rules: CompiledRule[], ctx: PolicyContext): number {
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i]!;
    if (anyGroup(r.from, ctx) && anyGroup(r.to, ctx) && all(r.when, ctx)) return i;
  }
  return -1;
}

function all(conds: Condition[], ctx: PolicyContext): boolean {
  for (const c of conds) if (!c.test(ctx)) return false;
  return true;
}

/** No groups = no constraint; otherwise at least one group must fully match. */
function anyGroup(groups: Condition[][], ctx: PolicyContext): boolean {
  if (groups.length === 0) return true;
  for (const g of groups) if (all(g, ctx)) return true;
  return false;
}

function explainRule(r: CompiledRule, ctx: PolicyContext): string {
  const failing = (conds: Condition[]) => conds.find((c) => !c.test(ctx));
  const describe = (c: Condition) =>
    `${c.label} ${c.negated ? 'excludes' : 'needs'} ${JSON.stringify(c.values)}, request has ${JSON.stringify(c.attr(ctx))}`;
  for (const [name, groups] of [
    ['from', r.from],
    ['to', r.to],
  ] as const) {
    if (groups.length && !anyGroup(groups, ctx)) {
      return `no match: ${groups.map((g) => describe(failing(g)!)).join('; ')}${groups.length > 1 ? ` (none of ${groups.length} ${name} entries)` : ''}`;
    }
  }
  const w = failing(r.when);
  return w ? `no match: ${describe(w)}` : 'MATCH';
}

function scopeMismatch(p: CompiledPolicy, ctx: PolicyContext): string {
  if (p.namespace !== undefined && p.namespace !== ctx.destination.namespace) {
    return `not applicable: policy namespace ${p.namespace}, destination namespace ${ctx.destination.namespace ?? '(unknown)'}`;
  }
  if (p.selector) {
    const missing = Object.entries(p.selector).filter(([k, v]) => ctx.destination.labels[k] !== v);
    if (missing.length) return `not applicable: destination labels lack ${missing.map(([k, v]) => `${k}=${v}`).join(', ')}`;
  }
  return `not applicable: host ${ctx.input.host} is not among the policy's hosts`;
}

/** "k=v" for each selector label, sorted (so ties break the same way every time). */
function selectorLabels(p: CompiledPolicy): string[] {
  return p.selector
    ? Object.keys(p.selector)
        .sort()
        .map((k) => `${k}=${p.selector![k]}`)
    : [];
}

function scopedLabel(p: CompiledPolicy, label: string): string {
  return p.namespace === undefined ? `\u0000${label}` : `${p.namespace}\u0000${label}`;
}

/** The selector label the fewest policies of this scope share; undefined without a selector. */
function rarestLabel(p: CompiledPolicy, shared: ReadonlyMap<string, number>): string | undefined {
  let best: string | undefined;
  let bestCount = Infinity;
  for (const l of selectorLabels(p)) {
    const n = shared.get(scopedLabel(p, l))!;
    if (n < bestCount) [best, bestCount] = [l, n];
  }
  return best;
}

function getOrAdd<K>(m: Map<K, Bucket>, k: K): Bucket {
  let b = m.get(k);
  if (!b) m.set(k, (b = emptyBucket()));
  return b;
}

function pushIf(out: Bucket[], b: Bucket | undefined): void {
  if (b) out.push(b);
}

/**
 * Unscoped policies whose every rule is limited to exact hosts can be found by host. Returns
 * the hosts in canonical form (as the matchers compare them), or undefined when the policy must be checked for every request.
 */
function exactHosts(p: CompiledPolicy): string[] | undefined {
  if (p.rules.length === 0) return undefined;
  const hosts = new Set<string>();
  for (const r of p.rules) {
    if (r.to.length === 0) return undefined;
    for (const group of r.to) {
      const hc = group.find((c) => c.label.endsWith('.hosts'));
      if (!hc || hc.values.some((v) => v.includes('*'))) return undefined;
      hc.values.forEach((v) => hosts.add(canonicalHostPattern(v)));
    }
  }
  return [...hosts];
}
