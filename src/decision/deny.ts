// Deny decisions: the status and RFC 6750 challenge a reason calls for, the deny that replaces a
// decision a transport cannot carry out, and the JSON body every transport sends with a deny.
import { REASONS, type Reason } from './reasons.js';
import type { Decision, DecisionResponse, Evidence } from './decision.js';
import type { Snapshot } from './snapshot.js';

const NOTHING: Evidence = Object.freeze({});
const NO_RESPONSE: DecisionResponse = Object.freeze({
  upstreamHeaders: Object.freeze([]),
  removeHeaders: Object.freeze([]),
  removeQueryParams: Object.freeze([]),
});

export interface DenyOptions {
  /** RFC 6750 scope="…" / RFC 9470 acr_values="…" for the challenge. */
  challengeParams?: Record<string, string>;
  /** The DENY policy (or rule) that decided, if any. */
  policy?: string;
  rule?: number;
}

/** A deny decision with the status and RFC 6750 challenge its reason calls for. */
export function deny(
  reason: Reason,
  detail: string,
  snap: Pick<Snapshot, 'realm'> | undefined,
  evidence: Evidence = NOTHING,
  opts: DenyOptions = {},
): Decision {
  const info = REASONS[reason];
  const challenge =
    info.status === 401 || info.challenge === 'insufficient_scope' ? bearerChallenge(reason, snap?.realm, opts.challengeParams) : undefined;
  return {
    verdict: { allow: false, reason, status: info.status, detail, ...(opts.policy ? { policy: opts.policy, rule: opts.rule } : {}) },
    response: challenge ? { ...NO_RESPONSE, wwwAuthenticate: challenge } : NO_RESPONSE,
    evidence,
  };
}

/**
 * The internal_error deny that replaces a decision whose response could not be built or written.
 * It keeps the verified identity and token hash for the audit record, but no policy: no policy
 * decided it.
 */
export function failClosedDecision(d: Decision, detail: string): Decision {
  return denyReplacing(d, 'internal_error', detail, undefined);
}

/**
 * A deny that replaces decision `d` after the fact (the transport cannot carry it out): it keeps
 * what `d` knew of the caller for the audit record and replay (verified identity, token hash,
 * the peers the policy stage saw) and no policy, since no policy decided it.
 */
export function denyReplacing(d: Decision, reason: Reason, detail: string, snap: Pick<Snapshot, 'realm'> | undefined): Decision {
  const { identity, tokenHash, peers, policyEvaluated } = d.evidence;
  const kept: Evidence = {
    ...(tokenHash ? { tokenHash } : {}),
    ...(identity ? { identity } : {}),
    ...(peers ? { peers } : {}),
    ...(policyEvaluated ? { policyEvaluated } : {}),
  };
  return deny(reason, detail, snap, kept);
}

/** RFC 6750 §3: no error attribute when the request carried no credential at all. */
export function bearerChallenge(reason: Reason, realm: string | undefined, extra: Record<string, string> = {}): string {
  const info = REASONS[reason];
  const params: string[] = [];
  if (realm) params.push(`realm="${quoted(realm)}"`);
  if (info.challenge) params.push(`error="${info.challenge}"`, `error_description="${quoted(info.description)}"`);
  // RFC 6750 scope="…" / RFC 9470 acr_values="…" (policy-configured values, quoted safely).
  for (const [k, v] of Object.entries(extra)) params.push(`${k}="${quoted(v)}"`);
  return params.length ? `Bearer ${params.join(', ')}` : 'Bearer';
}

// RFC 6750 error_description: %x20-21 / %x23-5B / %x5D-7E (no quote, no backslash).
function quoted(s: string): string {
  return s.replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, '');
}

/** JSON body for deny responses (same shape on every transport). */
export function denyBody(d: Decision, requestId: string | undefined): string {
  return JSON.stringify({
    error: d.verdict.reason,
    message: REASONS[d.verdict.reason].description,
    ...(requestId ? { request_id: requestId } : {}),
  });
}
