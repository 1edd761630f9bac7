// Compile policy specs once per snapshot into closures; evaluation never re-reads YAML.
// Semantics (Istio AuthorizationPolicy): a rule matches when ≥1 `from` source, ≥1 `to`
// operation and every `when` condition match; fields AND, values OR; notX negate. Order:
// DENY match → deny; ALLOW match → allow; otherwise deny (zero trust). AUDIT and dryRun
// policies are evaluated and reported but never decide.
//
// Fields the engine does not evaluate yet are *rejected* at compile time: silently ignoring a
// condition could widen an ALLOW or narrow a DENY, i.e. fail open.
import type { PolicySpec, SourceSpec, OperationSpec, ConditionSpec } from './schema.js';
import type { ConfigProblem } from '../config/load.js';
import type { CheckInput, Identity, PolicyMatch } from '../decision/types.js';
import { claimAt } from '../authn/claims.js';
import type { PeerIdentity } from '../identity/spiffe.js';
import { anyOf, anyValue } from './match.js';

export interface PolicyContext {
  input: CheckInput;
  identity: Identity | undefined;
  source: PeerIdentity | undefined;
}

type Attr = (ctx: PolicyContext) => readonly string[];
type Predicate = (ctx: PolicyContext) => boolean;

export interface PolicyVerdict {
  allow: boolean;
  reason: 'allowed' | 'policy_denied' | 'no_policy_matched';
  policy?: string;
  rule?: number;
  audits: PolicyMatch[];
}

interface CompiledPolicy {
  name: string;
  action: 'ALLOW' | 'DENY' | 'AUDIT';
  dryRun: boolean;
  rules: Predicate[];
}

export class CompiledPolicies {
  private readonly deny: CompiledPolicy[];
  private readonly allow: CompiledPolicy[];
  private readonly observe: CompiledPolicy[];

  constructor(policies: CompiledPolicy[]) {
    this.deny = policies.filter((p) => p.action === 'DENY' && !p.dryRun);
    this.allow = policies.filter((p) => p.action === 'ALLOW' && !p.dryRun);
    this.observe = policies.filter((p) => p.action === 'AUDIT' || p.dryRun);
  }

  get size(): number {
    return this.deny.length + this.allow.length + this.observe.length;
  }

  evaluate(ctx: PolicyContext): PolicyVerdict {
    const audits: PolicyMatch[] = [];
    for (const p of this.observe) {
      const rule = firstMatch(p, ctx);
      if (rule >= 0) audits.push({ policy: p.name, rule, action: p.action, dryRun: p.dryRun });
    }
    for (const p of this.deny) {
      const rule = firstMatch(p, ctx);
      if (rule >= 0) return { allow: false, reason: 'policy_denied', policy: p.name, rule, audits };
    }
    for (const p of this.allow) {
      const rule = firstMatch(p, ctx);
      if (rule >= 0) return { allow: true, reason: 'allowed', policy: p.name, rule, audits };
    }
    return { allow: false, reason: 'no_policy_matched', audits };
  }
}

function firstMatch(p: CompiledPolicy, ctx: PolicyContext): number {
  for (let i = 0; i < p.rules.length; i++) if (p.rules[i]!(ctx)) return i;
  return -1;
}

export function compilePolicies(specs: readonly PolicySpec[], problems: ConfigProblem[], at = 'policies'): CompiledPolicies {
  const out: CompiledPolicy[] = [];
  specs.forEach((spec, i) => {
    const path = `${at}[${i}]`;
    if (spec.namespace !== undefined || spec.selector !== undefined) {
      problems.push({ path: `${path}.${spec.namespace !== undefined ? 'namespace' : 'selector'}`, message: 'destination scoping is not supported by this version; remove it or upgrade' });
    }
    const rules = (spec.rules ?? []).map((r, j) => {
      const rp = `${path}.rules[${j}]`;
      const from = (r.from ?? []).map((f, k) => compileSource(f.source, `${rp}.from[${k}].source`, problems));
      const to = (r.to ?? []).map((t, k) => compileOperation(t.operation, `${rp}.to[${k}].operation`, problems));
      const when = (r.when ?? []).map((c, k) => compileCondition(c, `${rp}.when[${k}]`, problems));
      const pred: Predicate = (ctx) =>
        (from.length === 0 || from.some((f) => f(ctx))) && (to.length === 0 || to.some((t) => t(ctx))) && when.every((w) => w(ctx));
      return pred;
    });
    // Istio: a policy without rules never matches (for ALLOW this denies the selected workloads).
    out.push({ name: spec.name, action: spec.action ?? 'ALLOW', dryRun: spec.dryRun ?? false, rules });
  });
  return new CompiledPolicies(out);
}

const one = (v: string | undefined): readonly string[] => (v === undefined || v === '' ? [] : [v]);

const SOURCE_ATTRS: Record<string, Attr | null> = {
  principals: (c) => one(c.source?.principal),
  requestPrincipals: (c) => one(c.identity?.requestPrincipal),
  namespaces: (c) => one(c.source?.namespace),
  serviceAccounts: null,
  ipBlocks: null,
};

const OPERATION_ATTRS: Record<string, { attr: Attr; ci?: boolean }> = {
  hosts: { attr: (c) => one(c.input.host), ci: true },
  ports: { attr: (c) => one(c.input.destination.port?.toString()) },
  methods: { attr: (c) => one(c.input.method) },
  paths: { attr: (c) => one(c.input.path) },
};

function fieldPredicate(attr: Attr, values: string[] | undefined, notValues: string[] | undefined, ci = false): Predicate[] {
  const preds: Predicate[] = [];
  if (values) {
    const m = anyOf(values, ci);
    preds.push((c) => anyValue(m, attr(c)));
  }
  if (notValues) {
    const m = anyOf(notValues, ci);
    preds.push((c) => !anyValue(m, attr(c)));
  }
  return preds;
}

function compileSource(src: SourceSpec, at: string, problems: ConfigProblem[]): Predicate {
  const preds: Predicate[] = [];
  for (const [field, attr] of Object.entries(SOURCE_ATTRS)) {
    const notField = `not${field[0]!.toUpperCase()}${field.slice(1)}`;
    const values = (src as Record<string, string[] | undefined>)[field];
    const notValues = (src as Record<string, string[] | undefined>)[notField];
    if (values === undefined && notValues === undefined) continue;
    if (attr === null) {
      problems.push({ path: `${at}.${values !== undefined ? field : notField}`, message: 'not supported by this version of the policy engine' });
      continue;
    }
    preds.push(...fieldPredicate(attr, values, notValues));
  }
  return (c) => preds.every((p) => p(c));
}

function compileOperation(op: OperationSpec, at: string, problems: ConfigProblem[]): Predicate {
  const preds: Predicate[] = [];
  for (const [field, { attr, ci }] of Object.entries(OPERATION_ATTRS)) {
    const notField = `not${field[0]!.toUpperCase()}${field.slice(1)}`;
    const values = (op as Record<string, string[] | undefined>)[field];
    const notValues = (op as Record<string, string[] | undefined>)[notField];
    if (field === 'paths') {
      for (const [name, list] of [[field, values], [notField, notValues]] as const) {
        (list ?? []).forEach((p, i) => {
          if (p.includes('{')) problems.push({ path: `${at}.${name}[${i}]`, message: 'path templates ({*}, {**}) are not supported by this version' });
        });
      }
    }
    preds.push(...fieldPredicate(attr, values, notValues, ci));
  }
  return (c) => preds.every((p) => p(c));
}

/** Values of a claim for matching: lists match any element; scope/scp split on spaces. */
function claimValues(identity: Identity | undefined, path: string[]): readonly string[] {
  if (!identity) return [];
  if (path.length === 1 && (path[0] === 'scope' || path[0] === 'scp')) return identity.scopes;
  const v = claimAt(identity.claims, path.join('.'));
  if (typeof v === 'string') return [v];
  if (typeof v === 'number' || typeof v === 'boolean') return [String(v)];
  if (Array.isArray(v)) return v.filter((x) => ['string', 'number', 'boolean'].includes(typeof x)).map(String);
  return [];
}

function whenAttr(key: string): Attr | undefined {
  const claims = /^request\.auth\.claims((?:\[[^\][]+\])+)$/.exec(key);
  if (claims) {
    const path = [...claims[1]!.matchAll(/\[([^\][]+)\]/g)].map((m) => m[1]!);
    return (c) => claimValues(c.identity, path);
  }
  const header = /^request\.headers\[([^\][]+)\]$/.exec(key);
  if (header) {
    const name = header[1]!.toLowerCase();
    return (c) => one(c.input.headers[name]);
  }
  switch (key) {
    case 'request.auth.principal':
      return (c) => one(c.identity?.requestPrincipal);
    case 'request.auth.audiences':
      return (c) => c.identity?.audiences ?? [];
    case 'request.auth.presenter':
      return (c) => one(typeof c.identity?.claims.azp === 'string' ? c.identity.claims.azp : undefined);
    case 'source.principal':
      return (c) => one(c.source?.principal);
    case 'source.namespace':
      return (c) => one(c.source?.namespace);
    case 'source.serviceAccount':
      return (c) => (c.source?.namespace && c.source.serviceAccount ? [`${c.source.namespace}/${c.source.serviceAccount}`] : []);
    case 'destination.port':
      return (c) => one(c.input.destination.port?.toString());
    case 'connection.sni':
      return (c) => one(c.input.sni);
    default:
      return undefined;
  }
}

function compileCondition(cond: ConditionSpec, at: string, problems: ConfigProblem[]): Predicate {
  const attr = whenAttr(cond.key);
  if (!attr) {
    problems.push({ path: `${at}.key`, message: `unknown or unsupported key "${cond.key}"` });
    return () => false;
  }
  if (cond.values === undefined && cond.notValues === undefined) {
    problems.push({ path: at, message: 'needs values or notValues' });
    return () => false;
  }
  const preds = fieldPredicate(attr, cond.values, cond.notValues);
  return (c) => preds.every((p) => p(c));
}
