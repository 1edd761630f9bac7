// What `policy generate` writes: the policies as `policies:` YAML (alone or added to a base config)
// or as ZeroTrustPolicy manifests, with comments giving request counts and first/last seen
// times; their names; and the check that the output validates before it is handed out.
import { Document, isMap, isSeq, parseDocument, type Node, type YAMLMap, type YAMLSeq } from 'yaml';
import type { PolicySpec } from '../config/policy-schema.js';
import { resolveConfig } from '../config/resolve.js';
import { parseConfigText } from '../config/parse.js';
import { ConfigError } from '../config/problems.js';
import { checkConfig } from '../snapshot/checked-config.js';
import { CRD } from '../k8s/policies.js';
import { InternalError, InvalidArgumentError } from '../errors.js';
import type { Workload } from './record.js';
import type { GenerateOptions, GenerateSummary } from './generate-options.js';
import type { BuiltRule, Dest } from './generate-rules.js';
import { API_VERSION, isNamespaceName, isObjectName, objectName, parsePolicyManifests, policySpecsOf } from './crd.js';

/** One generated policy with what it was built from (for its comments). */
export interface GeneratedPolicy {
  spec: PolicySpec;
  dest: Dest;
  rules: BuiltRule[];
}

/**
 * A ZeroTrustPolicy is namespaced, and its namespace is its scope. A policy without a
 * namespace (all namespaces) can only be a resource in the root namespace; a namespaced
 * policy cannot live there, since it would then apply to every namespace.
 */
export function checkCrdScopes(specs: PolicySpec[], root: string | undefined): void {
  const global = specs.filter((p) => p.namespace === undefined);
  if (global.length && root === undefined) {
    throw new InvalidArgumentError(
      `${global.length} polic${global.length === 1 ? 'y has' : 'ies have'} no namespace (destinations seen without one, scoped by host or labels alone): ${global.map((p) => p.name).join(', ')}. ` +
        'A ZeroTrustPolicy is namespaced: pass --root-namespace NS (the kubernetes.rootNamespace of the service, whose policies apply to every namespace), ' +
        'or --namespace N to leave them out, or use --format config',
    );
  }
  const problems: string[] = [];
  for (const p of specs) {
    if (p.namespace === undefined) continue;
    if (!isNamespaceName(p.namespace)) problems.push(`${p.name}: namespace "${p.namespace}" is not a Kubernetes namespace name`);
    else if (p.namespace === root)
      problems.push(`${p.name}: its namespace "${p.namespace}" is the root namespace, where a ZeroTrustPolicy applies to every namespace`);
  }
  if (problems.length)
    throw new InvalidArgumentError(
      `cannot write these policies as ZeroTrustPolicy resources:\n${problems.map((l) => `  - ${l}`).join('\n')}`,
    );
}

/** One `---` document per policy: metadata from the policy's name and namespace, the rest as spec. */
export function renderCrd(policies: GeneratedPolicy[], summary: GenerateSummary, opts: GenerateOptions): string {
  const header = headerComment(summary, opts)
    .map((l) => `# ${l}`.trimEnd())
    .join('\n');
  const docs = policies.map((p) => {
    const { name, namespace, ...spec } = p.spec;
    const metadata = { name, namespace: namespace ?? opts.rootNamespace! };
    const doc = new Document({ apiVersion: API_VERSION, kind: CRD.kind, metadata, spec });
    const lines = [`${p.dest.workload.key}: ${p.dest.stats.describe()}`];
    if (namespace === undefined) lines.push(`no namespace: in the root namespace ${metadata.namespace}, so it applies in every namespace`);
    if (p.dest.allowedBy.size)
      lines.push(
        `already allowed by the recorded config: ${[...p.dest.allowedBy]
          .sort()
          .map(([n, c]) => `${n} (${c})`)
          .join(', ')}`,
      );
    doc.commentBefore = lines.map((l) => ` ${l}`).join('\n');
    const specNode = doc.get('spec', true);
    if (isMap(specNode)) decorate(specNode, p.rules);
    return `---\n${doc.toString({ lineWidth: 0, flowCollectionPadding: false })}`;
  });
  return `${header}\n${docs.length ? '\n' : ''}${docs.join('')}`;
}

/** `policies:` YAML, or the base config with the policies added. */
export function renderConfig(policies: GeneratedPolicy[], summary: GenerateSummary, opts: GenerateOptions): string {
  const doc = opts.base ? parseDocument(opts.base.text, { uniqueKeys: true }) : new Document({ policies: [] });
  let seq = doc.get('policies', true) as Node | undefined;
  if (!seq || !isSeq(seq)) {
    doc.set('policies', doc.createNode([]));
    seq = doc.get('policies', true) as Node;
  }
  const target = seq as YAMLSeq;
  policies.forEach((p, i) => {
    const node = doc.createNode(p.spec) as YAMLMap;
    const lines = [`${p.dest.workload.key}: ${p.dest.stats.describe()}`];
    if (p.dest.allowedBy.size)
      lines.push(
        `already allowed by the recorded config: ${[...p.dest.allowedBy]
          .sort()
          .map(([n, c]) => `${n} (${c})`)
          .join(', ')}`,
      );
    if (i === 0 && !opts.base) lines.unshift('');
    node.commentBefore = lines.map((l) => (l ? ` ${l}` : '')).join('\n');
    decorate(node, p.rules);
    target.items.push(node);
  });
  const header = headerComment(summary, opts);
  if (opts.base) {
    target.commentBefore = [target.commentBefore ?? '', ...header.map((l) => ` ${l}`)].filter(Boolean).join('\n');
    return doc.toString({ lineWidth: 0, flowCollectionPadding: false });
  }
  doc.commentBefore = header.map((l) => ` ${l}`).join('\n');
  return doc.toString({ lineWidth: 0, flowCollectionPadding: false });
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

export function policyBaseName(w: Workload): string {
  const base = w.selector ? Object.values(w.selector).join('-') : (w.host ?? 'workload');
  return `allow-${base}`;
}

/**
 * Policy names: valid, unique per namespace, not colliding with the base config's. For CRDs,
 * valid Kubernetes object names (DNS-1123 subdomains: lower case, so two label values differing
 * only in case get distinct suffixed names).
 */
export class NameAllocator {
  private readonly used = new Set<string>();
  constructor(
    taken: string[],
    private readonly dns = false,
  ) {
    for (const t of taken) this.used.add(t);
  }
  next(namespace: string | undefined, wanted: string): string {
    let base = this.dns
      ? objectName(wanted, 60)
      : wanted
          .replace(/[^A-Za-z0-9_.-]+/g, '-')
          .replace(/-{2,}/g, '-')
          .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '')
          .slice(0, 60)
          .replace(/[^A-Za-z0-9]+$/, '');
    if (!base) base = 'allow';
    let name = base;
    for (let i = 2; this.used.has(`${namespace ?? ''}/${name}`); i++) name = `${base}-${i}`;
    this.used.add(`${namespace ?? ''}/${name}`);
    if (this.dns && !isObjectName(name))
      throw new InternalError(`generated policy name "${name}" is not a Kubernetes object name (a bug, please report it)`);
    return name;
  }
}

export function basePolicyNames(base: { text: string; source: string }): string[] {
  const raw = parseConfigText(base.text, base.source) as { policies?: Array<{ name?: unknown; namespace?: unknown }> };
  return (Array.isArray(raw?.policies) ? raw.policies : []).map(
    (p) => `${typeof p?.namespace === 'string' ? p.namespace : ''}/${String(p?.name)}`,
  );
}

export function validateOutput(yaml: string, source: string): void {
  try {
    checkConfig(parseConfigText(yaml, source), source);
  } catch (err) {
    if (err instanceof ConfigError)
      throw new InternalError(`generated configuration does not validate (a bug, please report it):\n${err.message}`);
    throw err;
  }
}

export function validateManifests(yaml: string, rootNamespace: string | undefined, expected: number): void {
  try {
    const objs = parsePolicyManifests(yaml, 'generated ZeroTrustPolicy manifests');
    const specs = policySpecsOf(objs, {
      rootNamespace,
      rolesClaim: resolveConfig({}, 'defaults').authorization.rolesClaim,
      source: 'generated ZeroTrustPolicy manifests',
    });
    if (specs.length !== expected) throw new InternalError(`${specs.length} of ${expected} policies read back`);
  } catch (err) {
    throw new InternalError(`generated ZeroTrustPolicy manifests do not validate (a bug, please report it):\n${(err as Error).message}`);
  }
}
