// The internal token on allow (response.internalToken, src/mint/): whether a decision mints one,
// for which audience and caller, and the header it becomes. The engine denies when minting is
// required and fails (internal_token_unavailable): an allow never goes out without its token.
import type { CheckInput, Identity } from './types.js';
import type { Snapshot } from './snapshot.js';
import type { PeerContext } from '../identity/peer-context.js';

export type MintedHeader =
  | { readonly ok: true; readonly header: readonly [string, string]; readonly jti: string; readonly kid: string }
  | { readonly ok: false; readonly detail: string };

/** The policy's switch when the allowing policy has one, else response.internalToken.enabled. */
export function wantsInternalToken(snap: Pick<Snapshot, 'config'>, policySwitch: boolean | undefined): boolean {
  return policySwitch ?? snap.config.response.internalToken.enabled;
}

/** The minted "Bearer <jwt>" header for a verified identity, or why there is none. Never throws. */
export function mintedHeader(
  input: CheckInput,
  identity: Identity,
  peers: PeerContext,
  snap: Pick<Snapshot, 'config' | 'minter'>,
): MintedHeader {
  const t = snap.config.response.internalToken;
  if (!snap.minter) return { ok: false, detail: 'no tokenIssuer is configured to sign internal tokens' };
  const audience = t.audience === 'host' ? input.host : destinationAudience(input, peers, snap);
  if (!audience) return { ok: false, detail: 'the request names no destination or host for the token audience' };
  const actor = callerPrincipal(peers, snap);
  let r;
  try {
    r = snap.minter.mint({ identity, audience, ...(actor ? { actor } : {}) });
  } catch {
    return { ok: false, detail: 'minting failed' };
  }
  if (!r.ok) return { ok: false, detail: `internal token not minted: ${r.detail}` };
  return { ok: true, header: [t.header, r.value], jti: r.jti, kid: r.kid };
}

/**
 * The destination workload's SPIFFE ID: Envoy's own (the destination principal a sidecar reports),
 * else the one the pod map names (namespace and service account in the local trust domain), else
 * the request host.
 */
function destinationAudience(input: CheckInput, peers: PeerContext, snap: Pick<Snapshot, 'config'>): string {
  const declared = input.destination.principal;
  if (declared?.startsWith('spiffe://')) return declared;
  const wl = peers.destination.workload;
  if (wl) return `spiffe://${snap.config.identity.trustDomains[0]}/ns/${wl.namespace}/sa/${wl.serviceAccount}`;
  return input.host;
}

/** The calling workload's principal as a SPIFFE ID when it has one (mTLS, XFCC), else built from its namespace and service account. */
function callerPrincipal(peers: PeerContext, snap: Pick<Snapshot, 'config'>): string | undefined {
  const c = peers.caller;
  if (!c) return undefined;
  if (c.reported) return c.reported;
  if (c.namespace && c.serviceAccount) return `spiffe://${snap.config.identity.trustDomains[0]}/ns/${c.namespace}/sa/${c.serviceAccount}`;
  return c.principal || undefined;
}
