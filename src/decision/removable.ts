// An allow must never forward a credential zt-authz was configured to strip. Only the v3 gRPC
// API can remove query parameters (query_parameters_to_remove); HTTP mode (Envoy http_service,
// nginx auth_request) and the v2 API cannot. There a token sent as a query parameter would reach
// the upstream although forwardOriginalToken is off, so the transport answers this deny instead.
import type { Decision } from './decision.js';
import { denyReplacing } from './deny.js';
import type { Snapshot } from './snapshot.js';

/**
 * `d` for a transport that cannot remove query parameters: an allow that asks for one to be
 * removed becomes a `token_not_removable` deny (identity kept for the audit record), unless the
 * destination is in observe mode, which never blocks traffic (the parameter then reaches the
 * upstream, as docs/responses.md and docs/http-mode.md tell users).
 */
export function withoutQueryRemoval(d: Decision, snap: Pick<Snapshot, 'realm'>): Decision {
  const peers = d.evidence.peers;
  if (!d.verdict.allow || d.response.removeQueryParams.length === 0 || !peers) return d;
  if (peers.mode === 'observe') return d;
  const names = d.response.removeQueryParams.join(', ');
  return denyReplacing(
    d,
    'token_not_removable',
    `credential in query parameter ${names}, which this transport cannot remove upstream; send it in a header`,
    snap,
  );
}
