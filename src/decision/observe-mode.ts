// Observe mode (migration to zero trust): a request to a destination in observe mode goes through,
// and its decision records what enforce mode would have done.
import type { AuthResult, CheckInput } from './types.js';
import type { Decision } from './decision.js';
import type { Snapshot } from './snapshot.js';
import { credentialLocations } from '../authn/credentials.js';
import { addIdentityHeaders, identityHeadersToRemove, stripCredential, type HeaderList } from './upstream-headers.js';

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
  snap: Pick<Snapshot, 'config' | 'authenticator' | 'identityHeaderNames'>,
): Decision {
  const upstreamHeaders: HeaderList = [];
  const identity = would.evidence.identity;
  if (identity) addIdentityHeaders(upstreamHeaders, snap, identity);
  const removeHeaders: string[] = [];
  const removeQueryParams: string[] = [];
  if (auth.kind === 'authenticated') {
    if (!auth.forwardToken) stripCredential(input, auth.location, upstreamHeaders, removeHeaders, removeQueryParams);
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
  return {
    verdict: { allow: true, reason: 'observed', status: 200, detail: `observe mode: would deny (${v.reason})` },
    response: {
      upstreamHeaders,
      removeHeaders: removeHeaders.concat(identityHeadersToRemove(snap, upstreamHeaders, removeHeaders)),
      removeQueryParams,
    },
    evidence: {
      ...would.evidence,
      wouldDecide: { allow: false, reason: v.reason, status: v.status, ...(v.policy ? { policy: v.policy, rule: v.rule } : {}) },
    },
  };
}
