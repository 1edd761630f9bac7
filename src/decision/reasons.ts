// The one reason-code enum. Deny responses, metric labels and audit records all use these
// strings, so they are a contract: add codes, never rename them.

/** RFC 6750 §3.1 error code put in `WWW-Authenticate: Bearer error="…"`, if any. */
type Challenge = 'invalid_token' | 'invalid_request' | 'insufficient_scope' | 'insufficient_user_authentication' | null;

interface ReasonInfo {
  /** HTTP status sent to the client on deny (200 for allow). */
  readonly status: number;
  readonly challenge: Challenge;
  readonly description: string;
}

export const REASONS = {
  allowed: { status: 200, challenge: null, description: 'request allowed' },
  observed: { status: 200, challenge: null, description: 'observe mode: allowed; the would-be denial is recorded' },
  token_missing: { status: 401, challenge: null, description: 'no credential in the request' },
  token_malformed: { status: 401, challenge: 'invalid_token', description: 'credential is not a well-formed Bearer JWT' },
  token_multiple: { status: 401, challenge: 'invalid_request', description: 'more than one credential in the request' },
  token_not_removable: {
    status: 401,
    challenge: 'invalid_request',
    description: 'credential sent where this transport cannot remove it upstream (query parameter over HTTP mode or the v2 API)',
  },
  token_too_large: { status: 401, challenge: 'invalid_token', description: 'token exceeds the size limit' },
  token_expired: { status: 401, challenge: 'invalid_token', description: 'token has expired' },
  token_not_yet_valid: { status: 401, challenge: 'invalid_token', description: 'token is not valid yet (nbf/iat in the future)' },
  token_invalid_signature: { status: 401, challenge: 'invalid_token', description: 'token signature does not verify' },
  token_alg_not_allowed: { status: 401, challenge: 'invalid_token', description: 'token algorithm is not allowed for this issuer' },
  token_unknown_key: { status: 401, challenge: 'invalid_token', description: 'token key id is not in the issuer key set' },
  token_claims_invalid: { status: 401, challenge: 'invalid_token', description: 'token claims or type fail validation' },
  token_revoked: {
    status: 401,
    challenge: 'invalid_token',
    description: 'the credential is on the revocation list (file or TokenRevocation)',
  },
  issuer_unknown: { status: 401, challenge: 'invalid_token', description: 'token issuer is not configured for this credential location' },
  apikey_unknown: { status: 401, challenge: 'invalid_token', description: "no key of the API-key source has the presented key's hash" },
  apikey_expired: { status: 401, challenge: 'invalid_token', description: 'the API key has expired (expiresAt of its entry)' },
  apikey_malformed: {
    status: 401,
    challenge: 'invalid_request',
    description: 'the API key is empty, lacks its prefix, holds a space, comma or non-ASCII character, or is sent under a look-alike name',
  },
  audience_mismatch: { status: 401, challenge: 'invalid_token', description: 'token audience is not accepted' },
  jwks_unavailable: { status: 503, challenge: null, description: 'issuer keys cannot be obtained; cannot verify now' },
  token_inactive: {
    status: 401,
    challenge: 'invalid_token',
    description: 'the issuer reports the opaque token inactive (RFC 7662 active: false)',
  },
  introspection_unavailable: {
    status: 503,
    challenge: null,
    description: 'the token introspection endpoint is down, slow, overloaded or answered garbage; cannot verify now',
  },
  policy_denied: { status: 403, challenge: null, description: 'a DENY policy matched' },
  no_policy_matched: { status: 403, challenge: null, description: 'no ALLOW policy matched (default deny)' },
  insufficient_scope: { status: 403, challenge: 'insufficient_scope', description: 'the token lacks a scope this request requires' },
  insufficient_user_authentication: {
    status: 401,
    challenge: 'insufficient_user_authentication',
    description: 'stronger user authentication (acr/amr) is required',
  },
  malformed_request: { status: 400, challenge: null, description: 'request attributes are malformed or exceed limits' },
  internal_error: { status: 500, challenge: null, description: 'internal error; denied (fail closed)' },
  internal_token_unavailable: {
    status: 503,
    challenge: null,
    description:
      'the internal token this allow must carry upstream cannot be minted (no signing key, signing failed, or too large); denied',
  },
} as const satisfies Record<string, ReasonInfo>;

export type Reason = keyof typeof REASONS;
export const REASON_CODES = Object.keys(REASONS) as Reason[];

export function reasonInfo(reason: Reason): ReasonInfo {
  return REASONS[reason];
}
