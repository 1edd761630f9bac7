// Destination scope and enforcement mode. The destination (namespace, labels) comes only from
// trusted Envoy configuration: per-route context_extensions and the destination's own SPIFFE ID
// and bootstrap labels, never from request headers.
import type { CheckInput } from './types.js';
import type { Snapshot, Workload } from './snapshot.js';
import type { DestinationContext } from '../policy/attributes.js';
import { parsePrincipal } from '../identity/spiffe.js';

export type Mode = 'enforce' | 'observe';

/** A destination resolved through the pod IP → workload map carries the workload. */
export interface WorkloadDestination extends DestinationContext {
  readonly workload?: Workload;
}

export function destinationOf(input: CheckInput, snap?: Pick<Snapshot, 'workloads'>): DestinationContext {
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
  const wl = snap?.workloads && input.destination.address ? snap.workloads.byIp(input.destination.address) : undefined;
  // Pod IP → workload (Kubernetes): weaker than Envoy's data, so it only fills in what Envoy left
  // out, and never contradicts Envoy's namespace. It also adds the synthetic labels that select
  // policies bound by the zt-authz.io/policy annotation.
  if (wl && (namespace === undefined || namespace === wl.namespace)) {
    const envoyLabels = extCount > 0 || Object.keys(input.destination.labels).length > 0;
    const dest: WorkloadDestination = { namespace: wl.namespace, labels: { ...(envoyLabels ? labels : wl.labels), ...wl.bindingLabels }, workload: wl };
    return dest;
  }
  return namespace ? { namespace, labels } : { labels };
}

/** Most specific wins: workload (Kubernetes annotation, when known) → namespace → default. */
export function modeFor(dest: DestinationContext, snap: Snapshot): Mode {
  const m = snap.config.mode;
  return snap.workloadMode?.(dest) ?? (dest.namespace !== undefined ? m.namespaces[dest.namespace] : undefined) ?? m.default;
}
