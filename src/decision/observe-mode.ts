// Observe mode (migration to zero trust): a request to a destination in observe mode goes through,
// and its decision records what enforce mode would have done.
import type { AuthResult, CheckInput } from './types.js';
import type { Decision } from './decision.js';
import type { Snapshot } from './snapshot.js';
import { credentialLocations } from '../authn/credentials.js';
import { addIdentityHeaders, identityHeadersToRemove, stripCredential, type HeaderList } from './upstream-headers.js';
import { mintedHeader } from './internal-token.js';

/**
 * The observe-mode allow for `would`, the enforce-mode deny. A verified identity is still passed
 * upstream; client-sent identity headers are still stripped, so observe mode never lets a client
 * impersonate anyone. The credential is stripped as an enforce-mode allow would strip it
 * (forwardOriginalToken false), verified or not: a forged or expired token must not reach the
 * upstream either.
 */
export function observed(
  would: Decision,
  input: CheckInput,
  auth: AuthResult,
  snap: Pick<Snapshot, 'config' | 'authenticator' | 'identityHeaderNames' | 'minter'>,
): Decision {
  const upstreamHeaders: HeaderList = [];
  const identity = would.evidence.identity;
  // A verified identity gets the internal token as an allow would (response.internalToken.enabled:
  // no policy allowed it), so upstreams that read it keep working before enforcing. Unlike an
  // enforce-mode allow, a failure to mint does not deny: observe mode never blocks, and the
  // request then goes on without a token, as a request with an unverified credential does.
  let internalToken: { jti: string; kid: string } | undefined;
  const peers = would.evidence.peers;
  if (identity && peers && snap.config.response.internalToken.enabled) {
    const minted = mintedHeader(input, identity, peers, snap);
    if (minted.ok) {
      upstreamHeaders.push([minted.header[0], minted.header[1]]);
      internalToken = { jti: minted.jti, kid: minted.kid };
    }
  }
  if (identity) addIdentityHeaders(upstreamHeaders, snap, identity);
  const removeHeaders: string[] = [];
  const removeQueryParams: string[] = [];
  // A minted token replaces the credential even for an issuer with forwardOriginalToken.
  const forwarded = auth.kind === 'authenticated' && auth.forwardToken && !internalToken;
  if (auth.kind === 'authenticated') {
    if (!forwarded) stripCredential(input, auth.location, upstreamHeaders, removeHeaders, removeQueryParams);
  } else if (auth.kind === 'failed' && !snap.config.issuers.every((i) => i.forwardOriginalToken)) {
    // Not verified: which issuer it claims is unknown, so keep it only if every issuer forwards.
    for (const loc of credentialLocations(input, snap.authenticator.locations))
      stripCredential(input, loc, upstreamHeaders, removeHeaders, removeQueryParams);
  }
  // API keys are never forwarded, verified or not (a key is a long-lived secret of its client).
  const keyLocations = auth.kind === 'authenticated' ? undefined : snap.authenticator.apiKeyLocations;
  if (keyLocations)
    for (const loc of credentialLocations(input, keyLocations))
      stripCredential(input, loc, upstreamHeaders, removeHeaders, removeQueryParams);
  const v = would.verdict;
  // A forwarded credential stays even in the internal-token header, when no token replaces it.
  const kept = forwarded && auth.location.type === 'header' ? [...removeHeaders, auth.location.name] : removeHeaders;
  return {
    verdict: { allow: true, reason: 'observed', status: 200, detail: `observe mode: would deny (${v.reason})` },
    response: {
      upstreamHeaders,
      removeHeaders: removeHeaders.concat(identityHeadersToRemove(snap, upstreamHeaders, kept)),
      removeQueryParams,
    },
    evidence: {
      ...would.evidence,
      ...(internalToken ? { internalToken } : {}),
      wouldDecide: { allow: false, reason: v.reason, status: v.status, ...(v.policy ? { policy: v.policy, rule: v.rule } : {}) },
    },
  };
}
