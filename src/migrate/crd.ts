// ZeroTrustPolicy manifests for the migration commands: `policy generate --format crd` writes
// them, `policy replay --policies` reads them back.
//
// Reading goes through the Kubernetes integration's own PolicySet, so a manifest is validated
// exactly as the running service would validate the resource (spec without name/namespace,
// named "<namespace>/<name>", root-namespace resources applying to every namespace), and the
// policies replay evaluates are the ones the cluster would enforce.
import { readFileSync } from 'node:fs';
import { parseAllDocuments, isMap, type Document } from 'yaml';
import { pino } from 'pino';
import { ConfigError } from '../config/problems.js';
import { ZtAuthzError, type ErrorCode } from '../errors.js';
import { resolveConfig } from '../config/resolve.js';
import { checkConfigFile } from '../snapshot/checked-config.js';
import type { Config } from '../config/types.js';
import { CRD, PolicySet, type PolicyObject } from '../k8s/policies.js';
import type { PolicySpec } from '../config/policy-schema.js';

/** `apiVersion` of every manifest written or read. */
export const API_VERSION = `${CRD.group}/${CRD.version}`;

/** Kubernetes object names (DNS-1123 subdomain; the API server refuses anything else). */
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Namespace names (DNS-1123 label). */
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const MAX_NAME = 253;

export function isObjectName(s: string): boolean {
  return s.length <= MAX_NAME && DNS1123_SUBDOMAIN.test(s);
}

export function isNamespaceName(s: string): boolean {
  return s.length <= 63 && DNS1123_LABEL.test(s);
}

/**
 * The closest valid object name: lower case, every run of other characters → '-', each
 * dot-separated part starting and ending alphanumeric, at most `max` characters. '' when nothing
 * is left (the caller picks a fallback).
 */
export function objectName(wanted: string, max = 60): string {
  const clean = (s: string) =>
    s
      .split('.')
      .map((part) =>
        part
          .replace(/[^a-z0-9-]+/g, '-')
          .replace(/-{2,}/g, '-')
          .replace(/^-+|-+$/g, ''),
      )
      .filter(Boolean)
      .join('.');
  return clean(clean(wanted.toLowerCase()).slice(0, max));
}

/** A problem with one manifest, or with the stream (`doc` counts from 1). */
export class ManifestError extends ZtAuthzError {
  static override code: ErrorCode = 'ERR_MANIFEST_INVALID';
  constructor(source: string, problems: string[]) {
    super(`invalid ZeroTrustPolicy manifests (${source}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** True when the YAML text is a stream of Kubernetes manifests (not a zt-authz config file). */
export function looksLikeManifests(text: string): boolean {
  let docs: Document.Parsed[];
  try {
    docs = parseAllDocuments(text) as Document.Parsed[];
  } catch {
    return false;
  }
  if (!Array.isArray(docs)) return false;
  const maps = docs.filter((d) => d.contents !== null);
  if (maps.length === 0) return false;
  return maps.length > 1 || (isMap(maps[0]!.contents) && maps[0]!.contents.has('apiVersion') && maps[0]!.contents.has('kind'));
}

/**
 * ZeroTrustPolicy objects from a multi-document YAML stream (`---`-separated manifests, as
 * `policy generate --format crd` writes them, or a `List` as `kubectl get ztp -A -o yaml`
 * prints). Empty documents are skipped; anything else that is not a ZeroTrustPolicy is an error,
 * as are missing namespaces, invalid names and duplicates.
 */
export function parsePolicyManifests(text: string, source: string): PolicyObject[] {
  const problems: string[] = [];
  const out: PolicyObject[] = [];
  const seen = new Map<string, string>();
  const docs = parseAllDocuments(text, { uniqueKeys: true });
  if (!Array.isArray(docs)) throw new ManifestError(source, ['not a YAML document stream']);
  docs.forEach((doc, i) => {
    const where = `document ${i + 1}`;
    if (doc.errors.length) {
      problems.push(`${where}: ${doc.errors[0]!.message.split('\n')[0]}`);
      return;
    }
    const raw = doc.toJS({ maxAliasCount: 100 }) as unknown;
    if (raw === null || raw === undefined) return;
    const items = isKubeList(raw) ? raw.items.map((item, k) => ({ item, at: `${where}, items[${k}]` })) : [{ item: raw, at: where }];
    for (const { item, at } of items) {
      const obj = asPolicyObject(item, at, problems);
      if (!obj) continue;
      const key = `${obj.metadata.namespace}/${obj.metadata.name}`;
      const dup = seen.get(key);
      if (dup) problems.push(`${at}: ZeroTrustPolicy ${key} is already defined (${dup})`);
      else {
        seen.set(key, at);
        out.push(obj);
      }
    }
  });
  if (problems.length) throw new ManifestError(source, problems);
  return out;
}

function isKubeList(v: unknown): v is { items: unknown[] } {
  const o = v as { kind?: unknown; items?: unknown };
  return typeof o === 'object' && o !== null && (o.kind === 'List' || o.kind === `${CRD.kind}List`) && Array.isArray(o.items);
}

function asPolicyObject(v: unknown, at: string, problems: string[]): PolicyObject | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    problems.push(`${at}: not a mapping`);
    return undefined;
  }
  const o = v as {
    apiVersion?: unknown;
    kind?: unknown;
    metadata?: { name?: unknown; namespace?: unknown; generation?: unknown };
    spec?: unknown;
  };
  if (o.kind !== CRD.kind || o.apiVersion !== API_VERSION) {
    problems.push(`${at}: expected apiVersion ${API_VERSION}, kind ${CRD.kind}; got ${String(o.apiVersion)}, ${String(o.kind)}`);
    return undefined;
  }
  const name = o.metadata?.name;
  const ns = o.metadata?.namespace;
  const label = typeof name === 'string' ? name : '(unnamed)';
  if (typeof name !== 'string' || !isObjectName(name)) {
    problems.push(
      `${at}: metadata.name must be a DNS-1123 subdomain (lower case letters, digits, '-' and '.'), got ${JSON.stringify(name)}`,
    );
    return undefined;
  }
  if (typeof ns !== 'string' || !isNamespaceName(ns)) {
    // kubectl would put a manifest without a namespace in the current context's namespace: the
    // policy's scope would depend on who applies it.
    problems.push(`${at}: ZeroTrustPolicy ${label}: metadata.namespace must be set to a namespace name, got ${JSON.stringify(ns)}`);
    return undefined;
  }
  return { metadata: { name, namespace: ns, generation: 1 }, spec: o.spec };
}

/**
 * The policies a set of ZeroTrustPolicy objects contributes, validated by the Kubernetes
 * integration's PolicySet. Every invalid resource is reported with the validator's message:
 * the running service would drop an invalid ALLOW and fail closed on an invalid DENY, so a CI
 * gate must not guess either.
 */
export function policySpecsOf(
  objs: PolicyObject[],
  opts: { rootNamespace: string | undefined; rolesClaim: string; source: string },
): PolicySpec[] {
  const rejected: string[] = [];
  const set = new PolicySet({
    logger: pino({ level: 'silent' }),
    rootNamespace: opts.rootNamespace,
    rolesClaim: () => opts.rolesClaim,
    onChange: () => {},
    onRejected: (key, message) => rejected.push(`ZeroTrustPolicy ${key}: ${message}`),
  });
  for (const o of objs) set.apply('add', o);
  if (rejected.length) throw new ManifestError(opts.source, rejected);
  return set.specs();
}

/**
 * The candidate: a config file plus ZeroTrustPolicy manifests, combined as Kubernetes mode
 * combines them (config policies, then the resources' policies named "<namespace>/<name>";
 * resources in the root namespace apply to every namespace). `--config` may itself be a
 * manifest stream, on the built-in defaults. The root namespace is --root-namespace, else the
 * config's kubernetes.rootNamespace.
 */
export function loadCandidate(configFile: string | undefined, manifestFiles: string[], rootFlag: string | undefined): Config {
  let base: Config;
  const streams = [...manifestFiles];
  const read = (f: string) => {
    try {
      return readFileSync(f, 'utf8');
    } catch (err) {
      throw new ConfigError(f, [{ path: '(file)', message: `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}` }]);
    }
  };
  if (configFile !== undefined && looksLikeManifests(read(configFile))) {
    base = resolveConfig({}, 'defaults');
    streams.unshift(configFile);
  } else base = configFile !== undefined ? checkConfigFile(configFile).config : resolveConfig({}, 'defaults');
  if (!streams.length) return base;
  const rootNamespace = rootFlag ?? base.kubernetes.rootNamespace;
  const objs = streams.flatMap((f) => parsePolicyManifests(read(f), f));
  // Resources from several files share one cluster: a name defined twice is a mistake.
  const seen = new Set<string>();
  const dups = objs.map((o) => `${o.metadata.namespace}/${o.metadata.name}`).filter((k) => (seen.has(k) ? true : (seen.add(k), false)));
  if (dups.length)
    throw new ManifestError(
      streams.join(', '),
      dups.map((k) => `ZeroTrustPolicy ${k} is defined more than once`),
    );
  const specs = policySpecsOf(objs, { rootNamespace, rolesClaim: base.authorization.rolesClaim, source: streams.join(', ') });
  return { ...base, policies: [...base.policies, ...specs] };
}
