// Pod IP → workload map, fed by the pod informer. Gives zt-authz the destination workload's
// namespace, labels and zt-authz.io/* annotations when Envoy reports only an address, and (opt-in,
// weaker) the caller's namespace and service account from its pod IP.
//
// IP reuse: an IP maps to every cached pod that holds it. Finished pods (Succeeded/Failed) and
// hostNetwork pods (they share the node's IP) are never indexed. When two live pods claim one IP
// (an old pod's delete event has not arrived yet, or a pod is terminating while its IP is already
// reused), the one without a deletionTimestamp wins; if that is still ambiguous, the IP resolves
// to nothing: no identity is better than the wrong one.
//
// zt-authz.io/mode: dry-run exempts the pod from every policy, including the platform's DENY
// policies (root namespace, config file). Whoever can create pods could therefore switch those off
// for their pods, so the platform decides where the annotation is honoured
// (kubernetes.dryRunAnnotationNamespaces); elsewhere it is ignored, with a rate-limited warning,
// and counted (dryRunPods) either way so a platform can alert on it. `enforce` is always
// honoured: it can only make decisions stricter.
import type { Logger } from 'pino';
import type { Workload } from '../decision/snapshot.js';
import type { Mode } from '../decision/types.js';
import type { KubeObject } from './informer.js';

export const ANNOTATION = {
  policy: 'zt-authz.io/policy',
  audience: 'zt-authz.io/audience',
  mode: 'zt-authz.io/mode',
  inject: 'zt-authz.io/inject',
} as const;

/**
 * Synthetic destination label selecting the copy of a policy bound by zt-authz.io/policy. The ':'
 * cannot occur in a Kubernetes label key, so no real label can collide with it.
 */
export const BOUND_LABEL_PREFIX = 'zt-authz.io/bound-policy:';

export interface PodObject extends KubeObject {
  spec?: { serviceAccountName?: string; hostNetwork?: boolean };
  status?: { podIP?: string; podIPs?: Array<{ ip?: string }>; phase?: string };
}

interface Entry {
  key: string;
  ips: string[];
  deleting: boolean;
  workload: Workload;
  /** Policy references from zt-authz.io/policy, normalised (see parsePolicyRefs). */
  refs: string[];
  /** The pod asks for dry-run: honoured, or ignored (namespace not allowed to). */
  dryRun?: 'honoured' | 'ignored';
}

/** At most one "dry-run annotation ignored" warning per namespace per this long. */
const IGNORED_WARN_INTERVAL_MS = 60_000;

/**
 * The fields of a pod the workload map reads. The pod informer stores pods stripped to these
 * (most of a pod's bulk, its containers and status conditions, is never needed), and only the
 * zt-authz.io/ annotations (kubectl's last-applied-configuration alone can be kilobytes).
 */
export function stripPod(pod: PodObject): PodObject {
  const m = pod.metadata;
  let annotations: Record<string, string> | undefined;
  for (const k in m.annotations ?? {}) if (k.startsWith('zt-authz.io/')) (annotations ??= {})[k] = m.annotations![k]!;
  const s = pod.status;
  return {
    metadata: {
      name: m.name,
      ...(m.namespace !== undefined ? { namespace: m.namespace } : {}),
      ...(m.uid !== undefined ? { uid: m.uid } : {}),
      ...(m.resourceVersion !== undefined ? { resourceVersion: m.resourceVersion } : {}),
      ...(m.labels ? { labels: m.labels } : {}),
      ...(annotations ? { annotations } : {}),
      ...(m.deletionTimestamp != null ? { deletionTimestamp: m.deletionTimestamp } : {}),
    },
    spec: {
      ...(pod.spec?.serviceAccountName ? { serviceAccountName: pod.spec.serviceAccountName } : {}),
      ...(pod.spec?.hostNetwork ? { hostNetwork: true } : {}),
    },
    status: {
      ...(s?.podIP ? { podIP: s.podIP } : {}),
      ...(s?.podIPs ? { podIPs: s.podIPs.map((p) => ({ ...(p.ip ? { ip: p.ip } : {}) })) } : {}),
      ...(s?.phase ? { phase: s.phase } : {}),
    },
  };
}

export function normalizeIp(ip: string): string {
  const v = ip.trim().toLowerCase();
  return v.startsWith('::ffff:') && v.includes('.') ? v.slice(7) : v;
}

export function parseMode(v: string | undefined): Mode | undefined {
  switch (v?.trim().toLowerCase()) {
    case 'enforce':
      return 'enforce';
    case 'dry-run':
    case 'dryrun':
    case 'observe':
      return 'observe';
    default:
      return undefined;
  }
}

/**
 * zt-authz.io/policy: "a, b, shop/c". A bare name or "<pod namespace>/<name>" refers to a policy in
 * the pod's own namespace (or a file policy of that name without a namespace); "<root namespace>/
 * <name>" to a ZeroTrustPolicy in the root namespace. Other namespaces cannot be bound.
 */
export function parsePolicyRefs(
  value: string | undefined,
  podNamespace: string,
  rootNamespace: string | undefined,
): { refs: string[]; rejected: string[] } {
  const refs: string[] = [];
  const rejected: string[] = [];
  for (const raw of (value ?? '').split(',')) {
    const ref = raw.trim();
    if (!ref) continue;
    const slash = ref.indexOf('/');
    if (slash < 0) refs.push(ref);
    else if (ref.slice(0, slash) === podNamespace && !ref.slice(slash + 1).includes('/')) refs.push(ref.slice(slash + 1));
    else if (rootNamespace !== undefined && ref.slice(0, slash) === rootNamespace && !ref.slice(slash + 1).includes('/')) refs.push(ref);
    else rejected.push(ref);
  }
  return { refs: [...new Set(refs)], rejected };
}

export class WorkloadMap {
  private readonly byKey = new Map<string, Entry>();
  private readonly byIpIndex = new Map<string, Set<Entry>>();
  /** "<namespace>\0<ref>" → number of pods binding it. */
  private readonly bindingCounts = new Map<string, number>();
  private readonly warned = new Set<string>();
  /** Namespace → when a "dry-run annotation ignored" warning was last logged for it. */
  private readonly ignoredWarnedAt = new Map<string, number>();
  private readonly dryRunCounts = { honoured: 0, ignored: 0 };
  private readonly dryRunAnywhere: boolean;
  private readonly dryRunNamespaces: ReadonlySet<string>;

  constructor(
    private readonly logger: Logger,
    private readonly rootNamespace: string | undefined,
    /** Called when the set of (namespace, bound policy) pairs changes: the snapshot must be rebuilt. */
    private readonly onBindingsChanged: () => void,
    /** kubernetes.dryRunAnnotationNamespaces: where zt-authz.io/mode: dry-run is honoured ('*': everywhere). */
    dryRunAnnotationNamespaces: readonly string[],
  ) {
    this.dryRunAnywhere = dryRunAnnotationNamespaces.includes('*');
    this.dryRunNamespaces = new Set(dryRunAnnotationNamespaces);
  }

  get size(): number {
    return this.byKey.size;
  }

  /**
   * Pods with an IP whose zt-authz.io/mode asks for dry-run: `honoured` ones are exempt from every
   * policy right now; `ignored` ones are in namespaces not allowed to (zt_authz_dry_run_pods).
   */
  dryRunPods(): { honoured: number; ignored: number } {
    return { ...this.dryRunCounts };
  }

  byIp(ip: string): Workload | undefined {
    const set = this.byIpIndex.get(ip) ?? (ip.includes(':') || ip !== normalizeIp(ip) ? this.byIpIndex.get(normalizeIp(ip)) : undefined);
    if (!set || set.size === 0) return undefined;
    if (set.size === 1) return set.values().next().value!.workload;
    const live = [...set].filter((e) => !e.deleting);
    return live.length === 1 ? live[0]!.workload : undefined;
  }

  /** Distinct (namespace, policy reference) pairs bound by pod annotations. */
  bindings(): Array<{ namespace: string; ref: string }> {
    return [...this.bindingCounts.keys()].map((k) => {
      const i = k.indexOf('\0');
      return { namespace: k.slice(0, i), ref: k.slice(i + 1) };
    });
  }

  apply(type: 'add' | 'update' | 'delete', pod: PodObject): void {
    const key = `${pod.metadata.namespace ?? ''}/${pod.metadata.name}`;
    const before = this.byKey.get(key);
    const entry = type === 'delete' ? undefined : this.entryFor(key, pod);
    const touched = [
      ...(before?.refs.map((r) => `${before.workload.namespace}\0${r}`) ?? []),
      ...(entry?.refs.map((r) => `${entry.workload.namespace}\0${r}`) ?? []),
    ];
    const had = touched.map((k) => this.bindingCounts.has(k));
    if (before) this.remove(before);
    if (entry) this.add(entry);
    // Only a change in the *set* of bindings forces a snapshot rebuild; counts do not matter.
    if (touched.some((k, i) => this.bindingCounts.has(k) !== had[i])) this.onBindingsChanged();
  }

  private add(e: Entry): void {
    this.byKey.set(e.key, e);
    for (const ip of e.ips) {
      let set = this.byIpIndex.get(ip);
      if (!set) this.byIpIndex.set(ip, (set = new Set()));
      set.add(e);
    }
    for (const ref of e.refs) {
      const k = `${e.workload.namespace}\0${ref}`;
      this.bindingCounts.set(k, (this.bindingCounts.get(k) ?? 0) + 1);
    }
    if (e.dryRun && e.ips.length) this.dryRunCounts[e.dryRun]++;
  }

  private remove(e: Entry): void {
    this.byKey.delete(e.key);
    for (const ip of e.ips) {
      const set = this.byIpIndex.get(ip);
      set?.delete(e);
      if (set?.size === 0) this.byIpIndex.delete(ip);
    }
    for (const ref of e.refs) {
      const k = `${e.workload.namespace}\0${ref}`;
      const n = (this.bindingCounts.get(k) ?? 1) - 1;
      if (n <= 0) this.bindingCounts.delete(k);
      else this.bindingCounts.set(k, n);
    }
    if (e.dryRun && e.ips.length) this.dryRunCounts[e.dryRun]--;
  }

  private entryFor(key: string, pod: PodObject): Entry | undefined {
    const ns = pod.metadata.namespace;
    if (!ns) return undefined;
    const phase = pod.status?.phase;
    const ips =
      pod.spec?.hostNetwork || phase === 'Succeeded' || phase === 'Failed'
        ? []
        : [
            ...new Set(
              [pod.status?.podIP, ...(pod.status?.podIPs ?? []).map((p) => p.ip)].filter((ip): ip is string => !!ip).map(normalizeIp),
            ),
          ];
    const ann = pod.metadata.annotations ?? {};
    const modeRaw = ann[ANNOTATION.mode];
    let mode = parseMode(modeRaw);
    if (modeRaw !== undefined && mode === undefined)
      this.warnOnce(key, ANNOTATION.mode, `unknown value "${modeRaw}" (enforce | dry-run); ignored`);
    let dryRun: Entry['dryRun'];
    if (mode === 'observe') {
      dryRun = this.dryRunAnywhere || this.dryRunNamespaces.has(ns) ? 'honoured' : 'ignored';
      if (dryRun === 'ignored') {
        mode = undefined;
        if (ips.length) this.warnIgnoredDryRun(ns, key);
      }
    }
    const audiences = (ann[ANNOTATION.audience] ?? '')
      .split(',')
      .map((a) => a.trim())
      .filter(Boolean);
    const { refs, rejected } = parsePolicyRefs(ann[ANNOTATION.policy], ns, this.rootNamespace);
    if (rejected.length) this.warnOnce(key, ANNOTATION.policy, `cannot bind policies of another namespace: ${rejected.join(', ')}`);
    const bindingLabels: Record<string, string> = {};
    for (const r of refs) bindingLabels[BOUND_LABEL_PREFIX + r] = 'true';
    const workload: Workload = Object.freeze({
      namespace: ns,
      name: pod.metadata.name,
      serviceAccount: pod.spec?.serviceAccountName || 'default',
      labels: Object.freeze({ ...(pod.metadata.labels ?? {}) }),
      ...(mode ? { mode } : {}),
      ...(audiences.length ? { audiences: Object.freeze(audiences) } : {}),
      bindingLabels: Object.freeze(bindingLabels),
    });
    return { key, ips, deleting: pod.metadata.deletionTimestamp != null, workload, refs, ...(dryRun ? { dryRun } : {}) };
  }

  /** Rate-limited per namespace: a rollout of many annotated pods logs once, not once per pod. */
  private warnIgnoredDryRun(namespace: string, pod: string): void {
    const t = Date.now();
    const last = this.ignoredWarnedAt.get(namespace);
    if (last !== undefined && t - last < IGNORED_WARN_INTERVAL_MS) return;
    if (this.ignoredWarnedAt.size > 10_000) this.ignoredWarnedAt.clear();
    this.ignoredWarnedAt.set(namespace, t);
    this.logger.warn(
      { pod, annotation: ANNOTATION.mode, namespace },
      `pod annotation ${ANNOTATION.mode}: dry-run ignored, namespace "${namespace}" is not in kubernetes.dryRunAnnotationNamespaces (the pod stays enforced; further pods of this namespace are not logged for ${IGNORED_WARN_INTERVAL_MS / 1000} s)`,
    );
  }

  private warnOnce(pod: string, annotation: string, message: string): void {
    const k = `${pod}\0${annotation}\0${message}`;
    if (this.warned.has(k)) return;
    this.warned.add(k);
    if (this.warned.size > 10_000) this.warned.clear();
    this.logger.warn({ pod, annotation }, `pod annotation ${annotation}: ${message}`);
  }
}
