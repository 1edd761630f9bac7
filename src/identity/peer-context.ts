// The peer-identity stage: who is calling, which destination is called, and from which remote
// IP, resolved once per request and carried on the Decision (evidence.peers), with the
// destination's enforcement mode. The policy stage, observe mode, the audience check, the
// transports and the audit record all read this one result.
import type { CheckInput, Identity, Mode } from '../decision/types.js';
import type { Snapshot } from '../decision/snapshot.js';
import type { DestinationContext } from '../policy/context.js';
import { parsePrincipal, type PeerIdentity } from './spiffe.js';
import { trustedXfccPrincipal } from './xfcc.js';
import { remoteIp } from './remote-ip.js';
import { resolveDestination, type WorkloadDestination } from './destination.js';
import { modeFor } from '../decision/mode.js';

/**
 * How the caller was identified: Envoy's verified mTLS principal; a trusted proxy's XFCC header
 * (identity.xfccTrustedPeers); a Kubernetes service-account token; or (opt-in, weaker) the
 * caller's pod IP.
 */
export type CallerSource = 'mtls' | 'xfcc' | 'sa-token' | 'pod-ip';

export interface Caller extends PeerIdentity {
  readonly via: CallerSource;
}

export interface PeerContext {
  /** Absent when nothing identifies the caller. */
  readonly caller?: Caller;
  /** The destination scope policies and the enforcement mode read (may come from the workload map). */
  readonly destination: WorkloadDestination;
  /** The destination as Envoy alone describes it (the same object when the workload map added nothing). */
  readonly declaredDestination: DestinationContext;
  /** The enforcement mode of `destination` under the snapshot that resolved it. */
  readonly mode: Mode;
  /** The original client IP (identity/remote-ip.ts); absent when it cannot be determined. */
  readonly remoteIp?: string;
}

/**
 * What the request itself says about its peers: the destination, the remote IP, and a caller
 * named by mTLS or trusted XFCC. A caller known only from a credential or a pod IP is added by
 * `withWorkloadCaller` once the credential is verified.
 */
export function identifyPeers(input: CheckInput, snap: Pick<Snapshot, 'config' | 'workloads' | 'workloadMode'>): PeerContext {
  // XFCC only from a trusted immediate peer (identity.xfccTrustedPeers); it then names the
  // proxy's client, which replaces the proxy's own mTLS principal.
  const xfcc = trustedXfccPrincipal(input, snap.config.identity.xfccTrustedPeers);
  const parsed = parsePrincipal(xfcc ?? input.source.principal);
  const caller: Caller | undefined = parsed ? { ...parsed, via: xfcc !== undefined ? 'xfcc' : 'mtls' } : undefined;
  // The original client IP, once per request; X-Forwarded-For only past identity.numTrustedProxies.
  const remote = remoteIp(input, snap.config.identity.numTrustedProxies);
  const { declared, resolved } = resolveDestination(input, snap);
  return {
    ...(caller ? { caller } : {}),
    destination: resolved,
    declaredDestination: declared,
    mode: modeFor(resolved, snap),
    ...(remote !== undefined ? { remoteIp: remote } : {}),
  };
}

/**
 * `peers` with the caller a Kubernetes workload names when mTLS and XFCC named none: the workload
 * of a service-account token (from a kubernetes-preset issuer), else, when enabled, the one
 * owning the caller's pod IP (snapshot hook, k8s/snapshot-contributor.ts).
 */
export function withWorkloadCaller(
  peers: PeerContext,
  input: CheckInput,
  identity: Identity | undefined,
  snap: Pick<Snapshot, 'workloadSource'>,
): PeerContext {
  if (peers.caller || !snap.workloadSource) return peers;
  const workload = snap.workloadSource(input, identity);
  if (!workload) return peers;
  const fromToken = identity?.subject === `system:serviceaccount:${workload.namespace}:${workload.serviceAccount}`;
  return { ...peers, caller: { ...workload, via: fromToken ? 'sa-token' : 'pod-ip' } };
}
