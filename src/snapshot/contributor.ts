// What a source of cluster state adds to every snapshot: more policies, and the workload map with
// its hooks. Defined here so neither the snapshot layer nor config imports the Kubernetes code:
// src/k8s implements it (k8s/snapshot-contributor.ts) and app.ts hands it to the SnapshotManager.
import type { Config } from '../config/types.js';
import type { PolicySpec } from '../config/policy-schema.js';
import type { Snapshot } from '../decision/snapshot.js';

export type ContributedFields = Pick<Snapshot, 'workloads' | 'workloadMode' | 'workloadSource' | 'audienceCheck'>;

export interface SnapshotContributor {
  /**
   * The policies a snapshot of `config` evaluates, or undefined to keep config.policies. A source
   * that has not listed everything yet returns [] (everything denied: a DENY policy not seen yet
   * must not be missing while requests are allowed).
   */
  policies(config: Config): PolicySpec[] | undefined;
  /** Fields added to the snapshot built for `config` ({}: none). */
  fields(config: Config): Partial<ContributedFields>;
}
