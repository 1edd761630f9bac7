// Enforcement mode of a destination. `observe` (migration to zero trust) lets every request
// through and records what enforce mode would have decided.
import type { Snapshot } from './snapshot.js';
import type { Mode } from './types.js';
import type { DestinationContext } from '../policy/context.js';

/** Most specific wins: workload (Kubernetes annotation, when known) → namespace → default. */
export function modeFor(dest: DestinationContext, snap: Pick<Snapshot, 'config' | 'workloadMode'>): Mode {
  const m = snap.config.mode;
  return snap.workloadMode?.(dest) ?? (dest.namespace !== undefined ? m.namespaces[dest.namespace] : undefined) ?? m.default;
}
