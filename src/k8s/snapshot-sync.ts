// The Kubernetes watchers wired to the snapshot manager: a changed resource requests a coalesced
// rebuild, a rejected ZeroTrustPolicy counts as a failed reload (the rest keeps working), and the
// first complete listing builds the snapshot readiness waits for.
import type { Logger } from 'pino';
import type { KubernetesConfig } from '../config/types.js';
import type { SnapshotManager } from '../snapshot/manager.js';
import type { Metrics } from '../observe/metrics.js';
import { KubernetesSync } from './kubernetes-sync.js';
import type { RevocationList } from '../authn/revocation/list.js';

export interface SnapshotSyncWiring {
  logger: Logger;
  metrics: Metrics;
  manager: Pick<SnapshotManager, 'config' | 'requestRebuild' | 'rejected' | 'rebuild'>;
  /** After the snapshot built from the first complete listing is published. */
  onSynced: () => void;
  /** TokenRevocation resources feed this list (revocation.kubernetes). */
  revocations?: RevocationList;
}

export async function createSnapshotSync(config: KubernetesConfig, w: SnapshotSyncWiring): Promise<KubernetesSync> {
  const { manager } = w;
  const k8s = await KubernetesSync.create(config, {
    logger: w.logger,
    rolesClaim: () => manager.config.authorization.rolesClaim,
    onChange: (why) => manager.requestRebuild(why),
    onRejected: () => manager.rejected(),
    onSynced: () => {
      manager.rebuild('Kubernetes resources synced');
      w.onSynced();
    },
    ...(w.revocations
      ? { revocations: w.revocations, onRevocation: (result) => w.metrics.revocationReload.inc({ source: 'kubernetes', result }) }
      : {}),
  });
  const workloads = k8s.workloads;
  if (workloads) w.metrics.dryRunPodsSource = () => workloads.dryRunPods();
  return k8s;
}
