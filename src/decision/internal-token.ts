// The internal token on allow (response.internalToken, src/mint/): whether a decision mints one,
// for which audience and caller, and the header it becomes. The engine denies when minting is
// required and fails (internal_token_unavailable): an allow never goes out without its token.
import type { AuthResult, CheckInput, Identity } from './types.js';
import type { DecisionResponse } from './decision.js';
import type { Snapshot } from './snapshot.js';
import { withWorkloadCaller, type PeerContext } from '../identity/peer-context.js';
import { credentialLocations } from '../authn/credentials.js';
import { identityHeadersToRemove, stripCredential, type HeaderList } from './upstream-headers.js';

export type MintedHeader =
  | { readonly ok: true; readonly header: readonly [string, string]; readonly jti: string; readonly kid: string }
  | { readonly ok: false; readonly detail: string };

/** The policy's switch when the allowing policy has one, else response.internalToken.enabled. */
export function wantsInternalToken(snap: Pick<Snapshot, 'config'>, policySwitch: boolean | undefined): boolean {
  return policySwitch ?? snap.config.response.internalToken.enabled;
}

type LetThroughSnapshot = Pick<Snapshot, 'config' | 'minter' | 'workloadSource' | 'authenticator' | 'identityHeaderNames'>;

export type LetThrough =
  | { readonly ok: true; readonly response: DecisionResponse; readonly internalToken?: { jti: string; kid: string } }
  | { readonly ok: false; readonly detail: string };

/**
 * The upstream side of a request that goes through: an enforce-mode allow (`mint: 'required'`: a
 * failure to mint is returned, and the engine denies) or observe mode's observed allow
 * (`'best-effort'`: the request goes on without a token, since observe mode never blocks). The
 * one place that orders the minted header, the credential and the client's identity headers:
 *  - the minted header is set first, before the credential is stripped, so a credential in that
 *    same header is overwritten, not removed (Envoy removes after it sets: the token would go);
 *  - `headers` (identity and claim headers) follow;
 *  - a minted token replaces the credential even for an issuer with forwardOriginalToken: the
 *    upstream gets the token standing for the credential, never both; a forwarded credential
 *    stays even in the internal-token header when no token replaces it;
 *  - a credential that was not verified is stripped unless every issuer forwards (which issuer
 *    it claims is unknown), and an API key that was not verified always (a key is a long-lived
 *    secret of its client). An allow is always verified or anonymous, so this is observe mode's.
 */
export function letThrough(
  input: CheckInput,
  auth: AuthResult,
  token: { identity: Identity; peers: PeerContext; mint: 'required' | 'best-effort' } | undefined,
  headers: HeaderList,
  snap: LetThroughSnapshot,
): LetThrough {
  const upstreamHeaders: HeaderList = [];
  let internalToken: { jti: string; kid: string } | undefined;
  if (token) {
    const minted = mintedHeader(input, token.identity, token.peers, snap);
    if (minted.ok) {
      upstreamHeaders.push([minted.header[0], minted.header[1]]);
      internalToken = { jti: minted.jti, kid: minted.kid };
    } else if (token.mint === 'required') return { ok: false, detail: minted.detail };
  }
  upstreamHeaders.push(...headers);
  const removeHeaders: string[] = [];
  const removeQueryParams: string[] = [];
  const forwarded = auth.kind === 'authenticated' && auth.forwardToken && !internalToken;
  if (auth.kind === 'authenticated') {
    if (!forwarded) stripCredential(input, auth.location, upstreamHeaders, removeHeaders, removeQueryParams);
  } else if (auth.kind === 'failed' && !snap.config.issuers.every((i) => i.forwardOriginalToken)) {
    for (const loc of credentialLocations(input, snap.authenticator.locations))
      stripCredential(input, loc, upstreamHeaders, removeHeaders, removeQueryParams);
  }
  const keyLocations = auth.kind === 'authenticated' ? undefined : snap.authenticator.apiKeyLocations;
  if (keyLocations)
    for (const loc of credentialLocations(input, keyLocations))
      stripCredential(input, loc, upstreamHeaders, removeHeaders, removeQueryParams);
  const kept = forwarded && auth.location.type === 'header' ? [...removeHeaders, auth.location.name] : removeHeaders;
  return {
    ok: true,
    response: {
      upstreamHeaders,
      removeHeaders: removeHeaders.concat(identityHeadersToRemove(snap, upstreamHeaders, kept)),
      removeQueryParams,
    },
    ...(internalToken ? { internalToken } : {}),
  };
}

/**
 * The minted "Bearer <jwt>" header for a verified identity, or why there is none. Never throws.
 * `peers` are completed with the workload caller the policy stage would see (service-account
 * token, pod IP), so `act` is the same whichever decision lets the request through: a would-be
 * deny decided before the policy stage (a path refused for its shape) carries only the peers the
 * request itself names.
 */
export function mintedHeader(
  input: CheckInput,
  identity: Identity,
  peers: PeerContext,
  snap: Pick<Snapshot, 'config' | 'minter' | 'workloadSource'>,
): MintedHeader {
  const t = snap.config.response.internalToken;
  if (!snap.minter) return { ok: false, detail: 'no tokenIssuer is configured to sign internal tokens' };
  const audience = t.audience === 'host' ? input.host : destinationAudience(input, peers, snap);
  if (!audience) return { ok: false, detail: 'the request names no destination or host for the token audience' };
  const actor = callerPrincipal(withWorkloadCaller(peers, input, identity, snap), snap);
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
