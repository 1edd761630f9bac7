// Compile policy specs once per snapshot into labelled conditions; evaluation never re-reads
// YAML. Semantics (Istio AuthorizationPolicy): a rule matches when ≥1 `from` source, ≥1 `to`
// operation and every `when` condition match; fields AND, values OR; notX negate.
// Validation mirrors what Istio's ValidateAuthorizationPolicy rejects (bad templates, CIDRs,
// ports, empty from/to lists, empty source/operation, serviceAccounts mixed with principals or
// namespaces or not of the form [ns/]sa, DENY without rules, wildcard selectors, unknown keys)
// and names the policy and field of every problem. A config with problems is never served; still,
// whatever is wrong compiles fail-closed, the way Istio generates RBAC from a policy it cannot
// fully translate: it makes an ALLOW rule match nothing and a DENY/AUDIT rule match more.
import type { PolicySpec, SourceSpec, OperationSpec, ConditionSpec } from '../config/policy-schema.js';
import type { ConfigProblem } from '../config/problems.js';
import { PolicyError } from '../errors.js';
import { anyOf, anyValue, cidrMatcher, headerMatcher, isPort, pathMatcher, stringMatcher, type Matcher } from './match.js';
import { requestPrincipalMatcher } from './request-principal.js';
import { readingMatcher } from './readings.js';
import { OPERATION_FIELDS, SOURCE_FIELDS, WHEN_KEYS, whenAttr, type AttrSpec, type WhenOptions } from './attributes.js';
import type { Attr, AttrRead, PolicyContext } from './context.js';
import type { CompiledPolicy, Condition } from './compiled.js';
import { PolicyIndex } from './policy-index.js';
import { peerValues } from './source-values.js';
import { trustDomainMatcher } from '../identity/trust-domain.js';
import { DEFAULT_TRUST_DOMAIN } from '../config/defaults.js';
import { istioNamespaceMatcher, istioServiceAccountMatcher } from '../identity/spiffe.js';

/**
 * Compiled pieces shared across the policies of one compilation. Generated and real policy sets
 * repeat the same labels, matchers and whole conditions (`requestPrincipals: [<issuer>/*]`,
 * `methods: [GET]`) thousands of times; sharing them cut the index for the 10,000-policy bench
 * set from ~60 MB of heap to a fraction. Conditions are immutable, so
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

export function compilePolicies(
  specs: readonly PolicySpec[],
  problems: ConfigProblem[],
  opts: Partial<WhenOptions> = {},
  at = 'policies',
): PolicyIndex {
  const trustDomains = opts.trustDomains ?? [DEFAULT_TRUST_DOMAIN];
  const whenOpts: WhenOptions = { rolesClaim: opts.rolesClaim ?? 'roles', trustDomains };
  const interner = new Interner();
  const out: CompiledPolicy[] = specs.map((spec, i) => {
    const path = `${at}[${i}]`;
    const report = (field: string, message: string) =>
      problems.push({ path: `${path}.${field}`, message: `${message} (policy "${spec.name}")` });
    const action = spec.action ?? 'ALLOW';
    const scope: FieldScope = {
      namespace: spec.namespace,
      action,
      report,
      interner,
      trustDomains,
      invalid: (label) => (action === 'ALLOW' ? never(label) : always(label)),
    };
    checkPolicyShape(spec, report);
    const rules = (spec.rules ?? []).map((r, j) => {
      const rp = `rules[${j}]`;
      return {
        from: groups(r.from, `${rp}.from`, scope, (f, k) => compileFields(f.source, SOURCE_FIELDS, `${rp}.from[${k}].source`, scope)),
        to: groups(r.to, `${rp}.to`, scope, (t, k) => compileFields(t.operation, OPERATION_FIELDS, `${rp}.to[${k}].operation`, scope)),
        when: (r.when ?? []).map((c, k) => compileCondition(c, `${rp}.when[${k}]`, scope, whenOpts)),
      };
    });
    return {
      order: i,
      name: spec.name,
      ...(spec.namespace !== undefined ? { namespace: spec.namespace } : {}),
      ...(spec.selector ? { selector: spec.selector.matchLabels } : {}),
      action: spec.action ?? 'ALLOW',
      dryRun: spec.dryRun ?? false,
      ...(spec.internalToken !== undefined ? { internalToken: spec.internalToken } : {}),
      rules,
    };
  });
  return new PolicyIndex(out);
}

interface FieldScope {
  /** The policy's namespace: a bare service account name ("sa") means one in it, as in Istio. */
  namespace: string | undefined;
  action: string;
  report: (field: string, message: string) => void;
  interner: Interner;
  /** identity.trustDomain and its aliases (source-values.ts). */
  trustDomains: readonly string[];
  /** What an invalid piece compiles to: never() in an ALLOW policy, always() in a DENY/AUDIT one. */
  invalid: (label: string) => Condition;
}

const READS_NOTHING: AttrRead = { kind: 'none' };

function never(label: string): Condition {
  return { label, role: 'plain', negated: false, authn: false, values: [], attr: () => [], reads: READS_NOTHING, test: () => false };
}

function always(label: string): Condition {
  return { ...never(label), test: () => true };
}

/** `from`/`to`: absent = no constraint ([]); present but empty = a problem, compiled fail-closed. */
function groups<T>(
  list: readonly T[] | undefined,
  at: string,
  scope: FieldScope,
  compile: (item: T, k: number) => Condition[],
): Condition[][] {
  if (list === undefined) return [];
  if (list.length === 0) {
    // Istio rejects it; read as "no constraint" it would let any caller through an ALLOW.
    scope.report(at, 'must not be empty (omit the field to place no constraint)');
    return [[scope.invalid(at)]];
  }
  return list.map(compile);
}

/** Policy-level combinations Istio rejects. */
function checkPolicyShape(spec: PolicySpec, report: (f: string, m: string) => void): void {
  if ((spec.action ?? 'ALLOW') === 'DENY' && spec.rules === undefined) {
    report(
      'rules',
      'a DENY policy without `rules` never matches, and Istio rejects it; add `rules: [{}]` to deny every request in its scope',
    );
  }
  if (spec.internalToken !== undefined && (spec.action ?? 'ALLOW') !== 'ALLOW')
    report('internalToken', 'only an ALLOW policy decides that a request goes upstream, so only it can turn the internal token on or off');
  for (const [k, v] of Object.entries(spec.selector?.matchLabels ?? {})) {
    if (k === '') report('selector.matchLabels', 'empty label key');
    else if (k.includes('*') || v.includes('*')) report(`selector.matchLabels.${k}`, `wildcard not supported in a selector ("${k}=${v}")`);
  }
}

const SA_LIMIT = 16; // Istio's limit per list ("to avoid unbounded configuration sizes")
const SA_MAX_CHARS = 320;

/**
 * Istio's CheckServiceAccount: "sa" or "ns/sa", no wildcard. A bare name means a service account
 * in the policy's namespace; a policy without namespace has none, so it must say "ns/sa".
 * Returns the "ns/sa" values to match, or undefined after reporting a problem.
 */
function serviceAccountValues(values: readonly string[], at: string, scope: FieldScope): string[] | undefined {
  let ok = true;
  const bad = (i: number, message: string) => {
    scope.report(`${at}[${i}]`, message);
    ok = false;
  };
  if (values.length > SA_LIMIT) {
    scope.report(at, `may not have more than ${SA_LIMIT} values (Istio's limit)`);
    ok = false;
  }
  const out = values.map((v, i) => {
    const parts = v.split('/');
    if (v.includes('*')) bad(i, `"${v}": wildcards are not allowed in service accounts`);
    else if (v.length > SA_MAX_CHARS) bad(i, `"${v.slice(0, 40)}…": longer than ${SA_MAX_CHARS} characters`);
    else if (parts.length > 2 || parts.some((x) => x === '')) bad(i, `"${v}": expected "namespace/serviceAccount" or "serviceAccount"`);
    else if (parts.length === 1 && scope.namespace === undefined)
      bad(i, `"${v}": a policy without namespace needs "namespace/serviceAccount"`);
    return parts.length === 1 ? `${scope.namespace}/${v}` : v;
  });
  return ok ? out : undefined;
}

function matcherFor(kind: AttrSpec['kind'], value: string): Matcher {
  switch (kind) {
    case 'path':
      return pathMatcher(value);
    case 'header':
      return headerMatcher(value);
    case 'requestPrincipal':
      return requestPrincipalMatcher(value);
    case 'ip':
      return cidrMatcher(value);
    case 'trustDomain':
      return trustDomainMatcher(value);
    default:
      return readingMatcher(kind, value) ?? stringMatcher(value);
  }
}

/**
 * Which reading of the peer's namespace / service account a condition uses. The strict one (the
 * exact spiffe://td/ns/N/sa/S form, or a Kubernetes workload) matches less; the loose one also
 * matches Istio's regexes over the reported principal, so it matches more (every shape Istio's
 * RBAC filter would). Fail closed both ways: what lets a request through must be strict, so an
 * ALLOW's `namespaces` is strict and its `notNamespaces` loose; a DENY (or AUDIT: logging more is
 * the safe side) is the reverse, so `namespaces: [untrusted]` denies every shape Istio's would
 * and `notNamespaces: [trusted]` spares only the exact form. `when` values/notValues alike.
 */
function looseFor(spec: AttrSpec, action: string, negated: boolean): boolean {
  // The same polarity picks the readings of policy/readings.ts (spec.loose: principals, methods,
  // hosts, scope claims).
  return (spec.peer !== undefined || spec.loose !== undefined) && (action !== 'ALLOW') !== negated;
}

/** The compiled condition for (label, values), shared with identical ones of other policies. */
function condition(label: string, spec: AttrSpec, values: readonly string[], negated: boolean, scope: FieldScope): Condition | undefined {
  const { report, interner } = scope;
  const loose = looseFor(spec, scope.action, negated);
  // The label names the field (and `when` key) and its negation, so it determines spec and
  // negated; labels repeat across ALLOW and DENY policies, so the key also says which reading.
  // An attribute this request lacks (spec.unknown: the remote IP) makes the condition take its
  // fail-closed result: false in an ALLOW, true in a DENY/AUDIT, negated or not.
  const unknown = spec.unknown ? (scope.action === 'ALLOW' ? '\u0000unknown:false' : '\u0000unknown:true') : '';
  return interner.condition(`${label}\u0000${loose ? 'loose' : ''}${unknown}\u0000${JSON.stringify(values)}`, () =>
    whenUnknown(
      buildCondition(interner.label(label), spec, values, negated, loose, report, interner),
      spec.unknown,
      scope.action !== 'ALLOW',
    ),
  );
}

function whenUnknown(c: Condition | undefined, unknown: AttrSpec['unknown'], result: boolean): Condition | undefined {
  if (!c || !unknown) return c;
  const test = c.test;
  return { ...c, test: (ctx) => (unknown(ctx) ? result : test(ctx)) };
}

function buildCondition(
  label: string,
  given: AttrSpec,
  values: readonly string[],
  negated: boolean,
  loose: boolean,
  report: (f: string, m: string) => void,
  interner: Interner,
): Condition | undefined {
  const spec: AttrSpec = loose && given.loose ? { ...given, ...given.loose, match: given.loose.attr } : given;
  const matchers: Matcher[] = [];
  values.forEach((v, i) => {
    try {
      if (spec.kind === 'port' && !isPort(v)) throw new PolicyError(`"${v}" is not a port number (1-65535)`);
      // Principal values come without a spiffe:// scheme (source-values.ts strips it).
      matchers.push(interner.matcher(spec.kind, v));
    } catch (err) {
      report(`${label}[${i}]`, spec.kind === 'ip' ? `"${v}" is not a valid IP address or CIDR block` : (err as Error).message);
    }
  });
  if (matchers.length !== values.length) return undefined;
  const istio =
    loose && spec.peer !== undefined
      ? values.map((v) => (spec.peer === 'namespace' ? istioNamespaceMatcher(v) : istioServiceAccountMatcher(v)))
      : undefined;
  return {
    label,
    role: negated ? 'plain' : (spec.role ?? 'plain'),
    negated,
    authn: spec.authn === true && !negated,
    values,
    attr: istio ? looseAttr(spec.attr) : spec.attr,
    reads: given.reads,
    test: istio ? looseTest(anyOf(matchers), istio, spec.attr, negated) : conditionTest(anyOf(matchers), spec.match ?? spec.attr, negated),
  };
}

/** Traces of a loose condition show the reported principal its regexes read, too. */
function looseAttr(attr: Attr): Attr {
  return (c) => (c.source?.reported ? [...attr(c), c.source.reported] : attr(c));
}

/** The strict reading, or Istio's regex over the reported principal (see looseFor). */
function looseTest(
  m: Matcher,
  istio: ReadonlyArray<(reported: string) => boolean>,
  attr: Attr,
  negated: boolean,
): (c: PolicyContext) => boolean {
  const hit = (c: PolicyContext) => {
    if (anyValue(m, attr(c))) return true;
    const reported = c.source?.reported;
    return reported !== undefined && istio.some((r) => r(reported));
  };
  return negated ? (c) => !hit(c) : hit;
}

/**
 * Built outside buildCondition on purpose: a closure keeps its creator's whole context alive, and
 * buildCondition's also holds the reporter, the interner and the spec (thousands of policies).
 */
function conditionTest(m: Matcher, attr: Attr, negated: boolean): (c: PolicyContext) => boolean {
  return negated ? (c) => !anyValue(m, attr(c)) : (c) => anyValue(m, attr(c));
}

function compileFields(obj: SourceSpec | OperationSpec, fields: Record<string, AttrSpec>, at: string, scope: FieldScope): Condition[] {
  const { report } = scope;
  const conds: Condition[] = [];
  const given = obj as Record<string, string[] | undefined>;
  let any = false;
  let broken = false;
  for (const [field, spec] of Object.entries(fields)) {
    const notField = `not${field[0]!.toUpperCase()}${field.slice(1)}`;
    for (const [name, negated] of [
      [field, false],
      [notField, true],
    ] as const) {
      let values = given[name];
      if (values === undefined) continue;
      any = true;
      if (values.length === 0) {
        report(`${at}.${name}`, 'must not be empty');
        broken = true;
        continue;
      }
      if (field === 'serviceAccounts') values = serviceAccountValues(values, `${at}.${name}`, scope);
      else if (field === 'principals' || field === 'trustDomains') values = peerValues(field, values, `${at}.${name}`, negated, scope);
      const c = values && condition(`${at}.${name}`, spec, values, negated, scope);
      if (c) conds.push(c);
      else broken = true;
    }
  }
  // Istio: "cannot set serviceAccounts with namespaces or principals".
  const peer = ['principals', 'notPrincipals', 'namespaces', 'notNamespaces'].filter((f) => given[f] !== undefined);
  const sa =
    given.serviceAccounts !== undefined ? 'serviceAccounts' : given.notServiceAccounts !== undefined ? 'notServiceAccounts' : undefined;
  if (sa && peer.length) {
    report(`${at}.${sa}`, `cannot be combined with ${peer.join(', ')} in one source (Istio rejects it); use separate sources`);
  }
  // Istio rejects `source: {}` / `operation: {}`: an empty one would silently match everything.
  if (!any) report(at, 'must set at least one field');
  // Fail closed: an ALLOW source/operation with a dropped condition must not match more than
  // written (a DENY one may: that only denies more).
  return !any || broken ? [scope.invalid(at)] : conds;
}

function compileCondition(cond: ConditionSpec, at: string, scope: FieldScope, opts: WhenOptions): Condition {
  const { report, interner } = scope;
  const spec = interner.whenAttr(cond.key, opts);
  if (!spec) {
    report(`${at}.key`, `unknown key "${cond.key}"; supported: ${WHEN_KEYS.join(', ')}`);
    return scope.invalid(at);
  }
  if (cond.values === undefined && cond.notValues === undefined) {
    report(at, 'needs values or notValues');
    return scope.invalid(at);
  }
  const parts: Condition[] = [];
  let broken = false;
  for (const [given, negated] of [
    [cond.values, false],
    [cond.notValues, true],
  ] as const) {
    if (given === undefined) continue;
    const field = `${at}.${negated ? 'notValues' : 'values'}`;
    if (given.length === 0) {
      report(field, 'must not be empty');
      broken = true;
      continue;
    }
    const values =
      cond.key === 'source.serviceAccount'
        ? serviceAccountValues(given, field, scope)
        : cond.key === 'source.principal' || cond.key === 'source.trustDomain'
          ? peerValues(cond.key === 'source.principal' ? 'principals' : 'trustDomains', given, field, negated, scope)
          : given;
    const c = values && condition(`${at}(${cond.key}).${negated ? 'notValues' : 'values'}`, spec, values, negated, scope);
    if (c) parts.push(c);
    else broken = true;
  }
  // Fail closed: in an ALLOW rule, half a condition (values without its broken notValues) would
  // match too much.
  if (broken || parts.length === 0) return scope.invalid(at);
  if (parts.length === 1) return parts[0]!;
  const [a, b] = parts as [Condition, Condition];
  return { ...a, label: `${at}(${cond.key})`, role: 'plain', authn: a.authn, parts: [a, b], test: (c) => a.test(c) && b.test(c) };
}
