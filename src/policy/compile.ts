// Compile policy specs once per snapshot into labelled conditions; evaluation never re-reads
// YAML. Semantics (Istio AuthorizationPolicy): a rule matches when ≥1 `from` source, ≥1 `to`
// operation and every `when` condition match; fields AND, values OR; notX negate.
// Validation mirrors what Istio rejects (bad templates, CIDRs, ports, empty source/operation,
// unknown keys) and names the policy and field of every problem.
import type { PolicySpec, SourceSpec, OperationSpec, ConditionSpec } from './schema.js';
import type { ConfigProblem } from '../config/load.js';
import { anyOf, anyValue, cidrMatcher, isPort, pathMatcher, stringMatcher, type Matcher } from './match.js';
import { OPERATION_FIELDS, SOURCE_FIELDS, WHEN_KEYS, whenAttr, type Attr, type AttrSpec, type ConditionRole, type PolicyContext, type WhenOptions } from './attributes.js';
import { PolicyIndex } from './index.js';

/** One compiled check, labelled for decision traces (`to[0].operation.paths`). */
export interface Condition {
  label: string;
  role: ConditionRole;
  negated: boolean;
  /** Needs the verified JWT (request principal, request.auth.*): anonymous requests fail it. */
  authn: boolean;
  /** The configured values (for traces and step-up/insufficient-scope challenges). */
  values: readonly string[];
  attr: Attr;
  test(ctx: PolicyContext): boolean;
}

export interface CompiledRule {
  from: Condition[][];
  to: Condition[][];
  when: Condition[];
}

export interface CompiledPolicy {
  /** Position in the configuration: ties are broken by it so results are deterministic. */
  order: number;
  name: string;
  namespace?: string;
  selector?: Readonly<Record<string, string>>;
  action: 'ALLOW' | 'DENY' | 'AUDIT';
  dryRun: boolean;
  rules: CompiledRule[];
}

/**
 * Compiled pieces shared across the policies of one compilation. Generated and real policy sets
 * repeat the same labels, matchers and whole conditions (`requestPrincipals: [<issuer>/*]`,
 * `methods: [GET]`) thousands of times; sharing them cut the index for the 10,000-policy bench
 * set from ~60 MB of heap to a fraction (issue 7 scenario 5). Conditions are immutable, so
 * sharing is safe; each distinct label string is kept once instead of once per policy.
 */
class Interner {
  private readonly strings = new Map<string, string>();
  private readonly matchers = new Map<string, Matcher>();
  private readonly conditions = new Map<string, Condition>();
  private readonly whenAttrs = new Map<string, AttrSpec | undefined>();

  label(s: string): string {
    let v = this.strings.get(s);
    if (v === undefined) this.strings.set(s, (v = s));
    return v;
  }

  matcher(kind: AttrSpec['kind'], value: string): Matcher {
    const key = `${kind}\u0000${value}`;
    let m = this.matchers.get(key);
    if (!m) this.matchers.set(key, (m = matcherFor(kind, value)));
    return m;
  }

  whenAttr(key: string, opts: WhenOptions): AttrSpec | undefined {
    if (!this.whenAttrs.has(key)) this.whenAttrs.set(key, whenAttr(key, opts));
    return this.whenAttrs.get(key);
  }

  condition(key: string, make: () => Condition | undefined): Condition | undefined {
    const hit = this.conditions.get(key);
    if (hit) return hit;
    const c = make();
    if (c) this.conditions.set(key, c);
    return c;
  }
}

export function compilePolicies(specs: readonly PolicySpec[], problems: ConfigProblem[], opts: Partial<WhenOptions> = {}, at = 'policies'): PolicyIndex {
  const whenOpts: WhenOptions = { rolesClaim: opts.rolesClaim ?? 'roles' };
  const interner = new Interner();
  const out: CompiledPolicy[] = specs.map((spec, i) => {
    const path = `${at}[${i}]`;
    const report = (field: string, message: string) => problems.push({ path: `${path}.${field}`, message: `${message} (policy "${spec.name}")` });
    const rules = (spec.rules ?? []).map((r, j) => {
      const rp = `rules[${j}]`;
      return {
        from: (r.from ?? []).map((f, k) => compileFields(f.source, SOURCE_FIELDS, `${rp}.from[${k}].source`, report, interner)),
        to: (r.to ?? []).map((t, k) => compileFields(t.operation, OPERATION_FIELDS, `${rp}.to[${k}].operation`, report, interner)),
        when: (r.when ?? []).map((c, k) => compileCondition(c, `${rp}.when[${k}]`, report, whenOpts, interner)),
      };
    });
    return {
      order: i,
      name: spec.name,
      ...(spec.namespace !== undefined ? { namespace: spec.namespace } : {}),
      ...(spec.selector ? { selector: spec.selector.matchLabels } : {}),
      action: spec.action ?? 'ALLOW',
      dryRun: spec.dryRun ?? false,
      rules,
    };
  });
  return new PolicyIndex(out);
}

function matcherFor(kind: AttrSpec['kind'], value: string): Matcher {
  switch (kind) {
    case 'path':
      return pathMatcher(value);
    case 'ip':
      return cidrMatcher(value);
    case 'host':
      return stringMatcher(value, true);
    default:
      return stringMatcher(value);
  }
}

/** The compiled condition for (label, values), shared with identical ones of other policies. */
function condition(label: string, spec: AttrSpec, values: readonly string[], negated: boolean, report: (f: string, m: string) => void, interner: Interner): Condition | undefined {
  // The label names the field (and `when` key) and its negation, so it determines spec and negated.
  return interner.condition(`${label}\u0000${JSON.stringify(values)}`, () => buildCondition(interner.label(label), spec, values, negated, report, interner));
}

function buildCondition(label: string, spec: AttrSpec, values: readonly string[], negated: boolean, report: (f: string, m: string) => void, interner: Interner): Condition | undefined {
  const matchers: Matcher[] = [];
  values.forEach((v, i) => {
    try {
      if (spec.kind === 'port' && !isPort(v)) throw new Error(`"${v}" is not a port number (1-65535)`);
      // Istio principals may be written with or without the spiffe:// scheme.
      matchers.push(interner.matcher(spec.kind, spec.spiffe ? v.replace(/^spiffe:\/\//, '') : v));
    } catch (err) {
      report(`${label}[${i}]`, spec.kind === 'ip' ? `"${v}" is not a valid IP address or CIDR block` : (err as Error).message);
    }
  });
  if (matchers.length !== values.length) return undefined;
  return {
    label,
    role: negated ? 'plain' : (spec.role ?? 'plain'),
    negated,
    authn: spec.authn === true && !negated,
    values,
    attr: spec.attr,
    test: conditionTest(anyOf(matchers), spec.attr, negated),
  };
}

/**
 * Built outside buildCondition on purpose: a closure keeps its creator's whole context alive, and
 * buildCondition's also holds the reporter, the interner and the spec (thousands of policies).
 */
function conditionTest(m: Matcher, attr: Attr, negated: boolean): (c: PolicyContext) => boolean {
  return negated ? (c) => !anyValue(m, attr(c)) : (c) => anyValue(m, attr(c));
}

function compileFields(
  obj: SourceSpec | OperationSpec,
  fields: Record<string, AttrSpec>,
  at: string,
  report: (f: string, m: string) => void,
  interner: Interner,
): Condition[] {
  const conds: Condition[] = [];
  const given = obj as Record<string, string[] | undefined>;
  let any = false;
  for (const [field, spec] of Object.entries(fields)) {
    const notField = `not${field[0]!.toUpperCase()}${field.slice(1)}`;
    for (const [name, negated] of [[field, false], [notField, true]] as const) {
      const values = given[name];
      if (values === undefined) continue;
      any = true;
      if (values.length === 0) {
        report(`${at}.${name}`, 'must not be empty');
        continue;
      }
      const c = condition(`${at}.${name}`, spec, values, negated, report, interner);
      if (c) conds.push(c);
    }
  }
  // Istio rejects `source: {}` / `operation: {}`: an empty one would silently match everything.
  if (!any) report(at, 'must set at least one field');
  return conds;
}

function compileCondition(cond: ConditionSpec, at: string, report: (f: string, m: string) => void, opts: WhenOptions, interner: Interner): Condition {
  const never: Condition = { label: at, role: 'plain', negated: false, authn: false, values: [], attr: () => [], test: () => false };
  const spec = interner.whenAttr(cond.key, opts);
  if (!spec) {
    report(`${at}.key`, `unknown key "${cond.key}"; supported: ${WHEN_KEYS.join(', ')}`);
    return never;
  }
  if (cond.values === undefined && cond.notValues === undefined) {
    report(at, 'needs values or notValues');
    return never;
  }
  const parts: Condition[] = [];
  for (const [values, negated] of [[cond.values, false], [cond.notValues, true]] as const) {
    if (values === undefined) continue;
    if (values.length === 0) {
      report(`${at}.${negated ? 'notValues' : 'values'}`, 'must not be empty');
      continue;
    }
    const c = condition(`${at}(${cond.key}).${negated ? 'notValues' : 'values'}`, spec, values, negated, report, interner);
    if (c) parts.push(c);
  }
  if (parts.length === 1) return parts[0]!;
  if (parts.length === 0) return never;
  const [a, b] = parts as [Condition, Condition];
  return { ...a, label: `${at}(${cond.key})`, role: 'plain', authn: a.authn, test: (c) => a.test(c) && b.test(c) };
}
