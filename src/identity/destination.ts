// The destination of a request: its namespace and labels. They come only from trusted Envoy
// configuration (per-route context_extensions, the destination's own SPIFFE ID and bootstrap
// labels), never from request headers; the Kubernetes pod IP → workload map only fills in what
// Envoy left out.
import type { CheckInput } from '../decision/types.js';
import type { Snapshot, Workload } from '../decision/snapshot.js';
import type { DestinationContext } from '../policy/context.js';
import { parsePrincipal } from './spiffe.js';

/** A destination resolved through the pod IP → workload map carries the workload. */
export interface WorkloadDestination extends DestinationContext {
  readonly workload?: Workload;
}

/**
 * The destination as Envoy describes it (`declared`) and as the policy stage scopes it
 * (`resolved`: the same object unless the workload map added to it).
 */
export interface ResolvedDestination {
  readonly declared: DestinationContext;
  readonly resolved: WorkloadDestination;
}

export function resolveDestination(input: CheckInput, snap?: Pick<Snapshot, 'workloads'>): ResolvedDestination {
  const ext = input.contextExtensions;
  let labels: Readonly<Record<string, string>> = input.destination.labels;
  // context_extensions add destination labels; `namespace` names the destination namespace.
  // Copy only when there is something to merge (the common case allocates nothing).
  let extCount = 0;
  for (const k in ext) if (k !== 'namespace') extCount++;
  if (extCount) {
    const merged: Record<string, string> = { ...labels };
    for (const k in ext) if (k !== 'namespace') merged[k] = ext[k]!;
    labels = merged;
  }
  const namespace = ext.namespace || parsePrincipal(input.destination.principal)?.namespace;
  const declared: DestinationContext = namespace ? { namespace, labels } : { labels };
  const wl = snap?.workloads && input.destination.address ? snap.workloads.byIp(input.destination.address) : undefined;
  // Pod IP → workload (Kubernetes): weaker than Envoy's data, so it only fills in what Envoy left
  // out, and never contradicts Envoy's namespace. It also adds the synthetic labels that select
  // policies bound by the zt-authz.io/policy annotation.
  if (wl && (namespace === undefined || namespace === wl.namespace)) {
    const envoyLabels = extCount > 0 || Object.keys(input.destination.labels).length > 0;
    const resolved: WorkloadDestination = {
      namespace: wl.namespace,
      labels: { ...(envoyLabels ? labels : wl.labels), ...wl.bindingLabels },
      workload: wl,
    };
    return { declared, resolved };
  }
  return { declared, resolved: declared };
}
