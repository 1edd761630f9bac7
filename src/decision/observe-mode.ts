// Observe mode (migration to zero trust): a request to a destination in observe mode goes through,
// and its decision records what enforce mode would have done.
import type { AuthResult, CheckInput } from './types.js';
import type { Decision } from './decision.js';
import type { Snapshot } from './snapshot.js';
import { addIdentityHeaders, type HeaderList } from './upstream-headers.js';
import { letThrough } from './internal-token.js';

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
  snap: Pick<Snapshot, 'config' | 'authenticator' | 'identityHeaderNames' | 'minter' | 'workloadSource'>,
): Decision {
  const identity = would.evidence.identity;
  const peers = would.evidence.peers;
  const headers: HeaderList = [];
  if (identity) addIdentityHeaders(headers, snap, identity);
  // A verified identity gets the internal token as an allow would (response.internalToken.enabled:
  // no policy allowed it), so upstreams that read it keep working before enforcing. Unlike an
  // enforce-mode allow, a failure to mint does not deny: observe mode never blocks, and the
  // request then goes on without a token, as a request with an unverified credential does.
  const mint =
    identity && peers && snap.config.response.internalToken.enabled ? ({ identity, peers, mint: 'best-effort' } as const) : undefined;
  // 'best-effort' never fails; were it to, the would-be deny is answered (fail closed).
  const out = letThrough(input, auth, mint, headers, snap);
  if (!out.ok) return would;
  const v = would.verdict;
  return {
    verdict: { allow: true, reason: 'observed', status: 200, detail: `observe mode: would deny (${v.reason})` },
    response: out.response,
    evidence: {
      ...would.evidence,
      ...(out.internalToken ? { internalToken: out.internalToken } : {}),
      wouldDecide: { allow: false, reason: v.reason, status: v.status, ...(v.policy ? { policy: v.policy, rule: v.rule } : {}) },
    },
  };
}
