// An allow must never forward a credential zt-authz was configured to strip. Only the v3 gRPC
// API can remove query parameters (query_parameters_to_remove); HTTP mode (Envoy http_service,
// nginx auth_request) and the v2 API cannot. There a token sent as a query parameter would reach
// the upstream although forwardOriginalToken is off, so the transport answers this deny instead.
import type { CheckInput, Decision } from './types.js';
import { denyReplacing } from './decide.js';
import { destinationOf, modeFor } from './mode.js';
import type { Snapshot } from './snapshot.js';

/**
 * `d` for a transport that cannot remove query parameters: an allow that asks for one to be
 * removed becomes a `token_not_removable` deny (identity kept for the audit record), unless the
 * destination is in observe mode, which never blocks traffic (the README says the parameter then
 * reaches the upstream).
 */
export function withoutQueryRemoval(d: Decision, input: CheckInput | undefined, snap: Snapshot): Decision {
  if (!d.allow || d.removeQueryParams.length === 0 || !input) return d;
  if (modeFor(destinationOf(input, snap), snap) === 'observe') return d;
  const names = d.removeQueryParams.join(', ');
  return denyReplacing(d, 'token_not_removable', `credential in query parameter ${names}, which this transport cannot remove upstream; send it in a header`, snap);
}
