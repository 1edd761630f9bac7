// Destination scope and enforcement mode. The destination (namespace, labels) comes only from
// trusted Envoy configuration: per-route context_extensions and the destination's own SPIFFE ID
// and bootstrap labels, never from request headers.
import type { CheckInput } from './types.js';
import type { Snapshot } from './snapshot.js';
import type { DestinationContext } from '../policy/attributes.js';
import { parsePrincipal } from '../identity/spiffe.js';

export type Mode = 'enforce' | 'observe';

export function destinationOf(input: CheckInput): DestinationContext {
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
  return namespace ? { namespace, labels } : { labels };
}

/** Most specific wins: workload (Kubernetes annotation, when known) → namespace → default. */
export function modeFor(dest: DestinationContext, snap: Snapshot): Mode {
  const m = snap.config.mode;
  return snap.workloadMode?.(dest) ?? (dest.namespace !== undefined ? m.namespaces[dest.namespace] : undefined) ?? m.default;
}
