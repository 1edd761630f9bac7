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

export function compilePolicies(specs: readonly PolicySpec[], problems: ConfigProblem[], opts: Partial<WhenOptions> = {}, at = 'policies'): PolicyIndex {
  const whenOpts: WhenOptions = { rolesClaim: opts.rolesClaim ?? 'roles' };
  const out: CompiledPolicy[] = specs.map((spec, i) => {
    const path = `${at}[${i}]`;
    const report = (field: string, message: string) => problems.push({ path: `${path}.${field}`, message: `${message} (policy "${spec.name}")` });
    const rules = (spec.rules ?? []).map((r, j) => {
      const rp = `rules[${j}]`;
      return {
        from: (r.from ?? []).map((f, k) => compileFields(f.source, SOURCE_FIELDS, `${rp}.from[${k}].source`, report)),
        to: (r.to ?? []).map((t, k) => compileFields(t.operation, OPERATION_FIELDS, `${rp}.to[${k}].operation`, report)),
        when: (r.when ?? []).map((c, k) => compileCondition(c, `${rp}.when[${k}]`, report, whenOpts)),
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

function condition(label: string, spec: AttrSpec, values: readonly string[], negated: boolean, report: (f: string, m: string) => void): Condition | undefined {
  const matchers: Matcher[] = [];
  values.forEach((v, i) => {
    try {
      if (spec.kind === 'port' && !isPort(v)) throw new Error(`"${v}" is not a port number (1-65535)`);
      // Istio principals may be written with or without the spiffe:// scheme.
      matchers.push(matcherFor(spec.kind, spec.spiffe ? v.replace(/^spiffe:\/\//, '') : v));
    } catch (err) {
      report(`${label}[${i}]`, spec.kind === 'ip' ? `"${v}" is not a valid IP address or CIDR block` : (err as Error).message);
    }
  });
  if (matchers.length !== values.length) return undefined;
  const m = anyOf(matchers);
  const attr = spec.attr;
  return {
    label,
    role: negated ? 'plain' : (spec.role ?? 'plain'),
    negated,
    authn: spec.authn === true && !negated,
    values,
    attr,
    test: negated ? (c) => !anyValue(m, attr(c)) : (c) => anyValue(m, attr(c)),
  };
}

function compileFields(
  obj: SourceSpec | OperationSpec,
  fields: Record<string, AttrSpec>,
  at: string,
  report: (f: string, m: string) => void,
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
      const c = condition(`${at}.${name}`, spec, values, negated, report);
      if (c) conds.push(c);
    }
  }
  // Istio rejects `source: {}` / `operation: {}`: an empty one would silently match everything.
  if (!any) report(at, 'must set at least one field');
  return conds;
}

function compileCondition(cond: ConditionSpec, at: string, report: (f: string, m: string) => void, opts: WhenOptions): Condition {
  const never: Condition = { label: at, role: 'plain', negated: false, authn: false, values: [], attr: () => [], test: () => false };
  const spec = whenAttr(cond.key, opts);
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
    const c = condition(`${at}(${cond.key}).${negated ? 'notValues' : 'values'}`, spec, values, negated, report);
    if (c) parts.push(c);
  }
  if (parts.length === 1) return parts[0]!;
  if (parts.length === 0) return never;
  const [a, b] = parts as [Condition, Condition];
  return { ...a, label: `${at}(${cond.key})`, role: 'plain', authn: a.authn, test: (c) => a.test(c) && b.test(c) };
}
