// The Kubernetes side of the snapshot (SnapshotContributor, src/snapshot/contributor.ts): what
// the integration adds to every snapshot. Policies: the ZeroTrustPolicy resources and copies of
// the policies that pods bind with zt-authz.io/policy. Fields: the workload map and its hooks
// (mode annotation, audience annotation, source workload from service-account tokens or pod IPs).
import type { Config } from '../config/types.js';
import type { WorkloadDestination } from '../identity/destination.js';
import type { PolicySpec } from '../config/policy-schema.js';
import type { ContributedFields, SnapshotContributor } from '../snapshot/contributor.js';
import type { KubernetesSync } from './kubernetes-sync.js';
import { serviceAccountOf } from './sa-issuer.js';
import { BOUND_LABEL_PREFIX, normalizeIp, type WorkloadMap } from './workloads.js';

/**
 * The contributor for the KubernetesSync `sync()` returns: none (kubernetes.enabled false, or not
 * created yet) still contributes the service-account issuer hooks, which need no watch.
 */
export function kubernetesContributor(sync: () => KubernetesSync | undefined): SnapshotContributor {
  return {
    policies(config) {
      const k8s = sync();
      if (!k8s) return undefined;
      // Until every informer has listed once: no policies (fail closed, readiness false).
      if (!k8s.synced) return [];
      const specs = [...config.policies, ...k8s.policies.specs()];
      const bound = k8s.workloads ? boundPolicyCopies(specs, k8s.workloads.bindings()) : [];
      return [...specs, ...bound];
    },
    fields: (config) => kubernetesSnapshotFields(config, sync()?.workloads),
  };
}

export function kubernetesSnapshotFields(config: Config, workloads: WorkloadMap | undefined): Partial<ContributedFields> {
  const saIssuers = new Map(config.issuers.filter((i) => i.kubernetes).map((i) => [i.issuer, i.audiences.length > 0]));
  if (!workloads && saIssuers.size === 0) return {};
  const podIpSource = workloads !== undefined && config.kubernetes.podIpSource;
  const fields: { -readonly [K in keyof ContributedFields]?: ContributedFields[K] } = {
    workloadSource: (input, identity) => {
      // A service-account token names its workload; only issuers with the kubernetes preset are
      // trusted for that (any other IdP could put system:serviceaccount:… in `sub`).
      if (identity && saIssuers.has(identity.issuer)) {
        const sa = serviceAccountOf(identity);
        if (sa) return sa;
      }
      if (podIpSource && input.source.address) {
        // WEAKER (opt-in): the caller's pod IP. Pod IPs are reused, and anything that can send
        // from that IP is taken for that workload.
        const wl = workloads.byIp(normalizeIp(input.source.address));
        if (wl) return { principal: '', namespace: wl.namespace, serviceAccount: wl.serviceAccount };
      }
      return undefined;
    },
    audienceCheck: (destination, identity) => {
      // The destination the peer stage resolved (with the workload map, when there is one).
      const dest = destination as WorkloadDestination;
      const want = dest.workload?.audiences;
      if (want && !identity.audiences.some((a) => want.includes(a))) {
        return `token audience does not include ${want.join(' or ')} (zt-authz.io/audience of ${dest.workload.namespace}/${dest.workload.name})`;
      }
      // A service-account token must be bound to an audience we expect: otherwise any pod's default
      // API-server token, replayed by whoever received it, would be accepted.
      if (saIssuers.get(identity.issuer) === false && !want) {
        return 'service-account token for a destination without an expected audience (set issuers[].audiences or the zt-authz.io/audience annotation)';
      }
      return undefined;
    },
  };
  if (workloads) {
    fields.workloads = workloads;
    fields.workloadMode = (dest: WorkloadDestination) => dest.workload?.mode;
  }
  return fields;
}

/**
 * zt-authz.io/policy bindings: for each (pod namespace, reference) pair, a copy of each referenced
 * policy scoped to that namespace and selected by the synthetic label the pod's workload carries.
 * A reference "<name>" resolves to the ZeroTrustPolicy "<ns>/<name>" and to file policies named
 * "<name>" in that namespace or without one; "<root>/<name>" to a root-namespace ZeroTrustPolicy.
 */
export function boundPolicyCopies(specs: readonly PolicySpec[], bindings: ReadonlyArray<{ namespace: string; ref: string }>): PolicySpec[] {
  if (bindings.length === 0) return [];
  const byName = new Map<string, PolicySpec[]>();
  for (const s of specs) {
    const list = byName.get(s.name);
    if (list) list.push(s);
    else byName.set(s.name, [s]);
  }
  const out: PolicySpec[] = [];
  for (const { namespace, ref } of bindings) {
    const targets = ref.includes('/')
      ? (byName.get(ref) ?? [])
      : [
          ...(byName.get(`${namespace}/${ref}`) ?? []),
          ...(byName.get(ref) ?? []).filter((s) => s.namespace === undefined || s.namespace === namespace),
        ];
    for (const t of targets) out.push({ ...t, namespace, selector: { matchLabels: { [BOUND_LABEL_PREFIX + ref]: 'true' } } });
  }
  return out;
}
