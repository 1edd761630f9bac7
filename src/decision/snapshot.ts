// Immutable, compiled view of configuration + policy used by decide(). Built off the request
// path and swapped atomically (a single reference assignment) on reload.
import type { Config } from '../config/types.js';
import type { Authenticator } from '../authn/authenticator.js';
import type { PolicyIndex } from '../policy/policy-index.js';
import type { DestinationContext } from '../policy/context.js';
import type { CheckInput, Identity, Mode } from './types.js';
import type { PeerIdentity } from '../identity/spiffe.js';
import type { TokenMinter } from '../mint/minter.js';

/** A pod known from the Kubernetes pod informer (src/k8s/workloads.ts). */
export interface Workload {
  readonly namespace: string;
  readonly name: string;
  readonly serviceAccount: string;
  readonly labels: Readonly<Record<string, string>>;
  /** zt-authz.io/mode (dry-run = observe). */
  readonly mode?: Mode;
  /** zt-authz.io/audience: a token presented to this workload must carry one of these `aud`. */
  readonly audiences?: readonly string[];
  /** zt-authz.io/policy: synthetic destination labels that select the bound policies' copies. */
  readonly bindingLabels: Readonly<Record<string, string>>;
}

export interface Snapshot {
  readonly generation: number;
  readonly config: Config;
  readonly authenticator: Authenticator;
  readonly policies: PolicyIndex;
  /** Every header zt-authz may set upstream; client-sent copies are stripped on allow. */
  readonly identityHeaderNames: readonly string[];
  readonly realm: string | undefined;
  /** Mints the internal token on allow (response.internalToken); absent without tokenIssuer. */
  readonly minter?: TokenMinter;
  /** Per-workload mode override (zt-authz.io/mode annotation), when a workload map exists. */
  readonly workloadMode?: (dest: DestinationContext) => Mode | undefined;
  /** Pod IP → workload (Kubernetes pod informer). Weaker than Envoy's own destination data: IP-based. */
  readonly workloads?: { byIp(ip: string): Workload | undefined };
  /**
   * Source workload when Envoy reports no mTLS principal: from a Kubernetes service-account token
   * (`system:serviceaccount:NS:SA`), or, when enabled, the caller's pod IP (weaker).
   */
  readonly workloadSource?: (input: CheckInput, identity: Identity | undefined) => PeerIdentity | undefined;
  /**
   * Extra audience check for the destination the peer stage resolved (zt-authz.io/audience of its
   * workload); returns why it fails, or undefined.
   */
  readonly audienceCheck?: (destination: DestinationContext, identity: Identity) => string | undefined;
}
