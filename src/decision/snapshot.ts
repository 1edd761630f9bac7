// Immutable, compiled view of configuration + policy used by decide(). Built off the request
// path and swapped atomically (a single reference assignment) on reload.
import type { Config } from '../config/load.js';
import type { Authenticator } from '../authn/authenticator.js';
import type { PolicyIndex } from '../policy/index.js';
import type { DestinationContext } from '../policy/attributes.js';
import type { Mode } from './mode.js';

export interface Snapshot {
  readonly generation: number;
  readonly config: Config;
  readonly authenticator: Authenticator;
  readonly policies: PolicyIndex;
  /** Every header zt-authz may set upstream; client-sent copies are stripped on allow. */
  readonly identityHeaderNames: readonly string[];
  readonly realm: string | undefined;
  /** Per-workload mode override (zt-authz.io/mode annotation), when a workload map exists. */
  readonly workloadMode?: (dest: DestinationContext) => Mode | undefined;
}
