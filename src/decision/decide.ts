// The decision pipeline: normalized input → authenticate → peer identity → authorize → shape.
// Transport adapters call only this. Any exception becomes an internal_error deny (fail closed).
import type { CheckInput, Decision, Identity } from './types.js';
import type { Snapshot } from './snapshot.js';
import { REASONS, type Reason } from './reasons.js';
import { parsePrincipal } from '../identity/spiffe.js';
import { isSafeHeaderValue } from '../authn/claims.js';

export async function decide(input: CheckInput, snap: Snapshot): Promise<Decision> {
  try {
    const pending = snap.authenticator.authenticate(input);
    const auth = pending instanceof Promise ? await pending : pending; // cache hits stay synchronous
    if (auth.kind === 'failed') return deny(auth.reason, auth.detail, snap, auth.tokenHash);

    const identity = auth.kind === 'authenticated' ? auth.identity : undefined;
    const verdict = snap.policies.evaluate({ input, identity, source: parsePrincipal(input.source.principal) });
    if (!verdict.allow) {
      // Default deny of a request that carried no credential: the client should authenticate (401),
      // not be told it is forbidden. An explicit DENY stays 403.
      const reason: Reason = verdict.reason === 'no_policy_matched' && !identity ? 'token_missing' : verdict.reason;
      const d = deny(reason, verdict.reason === 'policy_denied' ? `denied by policy ${verdict.policy}` : 'no ALLOW rule matched', snap, identity?.tokenHash);
      return { ...d, ...(verdict.policy ? { policy: verdict.policy, rule: verdict.rule } : {}), audits: verdict.audits, ...(identity ? { identity } : {}) };
    }

    const upstreamHeaders: Array<[string, string]> = [];
    const removeHeaders: string[] = [];
    const removeQueryParams: string[] = [];
    if (auth.kind === 'authenticated') {
      addIdentityHeaders(upstreamHeaders, snap, identity!);
      for (const [name, value] of auth.claimHeaders) upstreamHeaders.push([name, value]);
      if (!auth.forwardToken) {
        if (auth.location.type === 'header') removeHeaders.push(auth.location.name);
        else if (auth.location.type === 'param') removeQueryParams.push(auth.location.name);
        else stripCookie(input, auth.location.name, upstreamHeaders, removeHeaders);
      }
    }
    const set = new Set(upstreamHeaders.map(([n]) => n));
    for (const name of snap.identityHeaderNames) if (!set.has(name)) removeHeaders.push(name);
    return {
      allow: true,
      reason: 'allowed',
      status: 200,
      ...(verdict.policy ? { policy: verdict.policy, rule: verdict.rule } : {}),
      audits: verdict.audits,
      ...(identity ? { identity, tokenHash: identity.tokenHash } : {}),
      upstreamHeaders,
      removeHeaders,
      removeQueryParams,
    };
  } catch {
    return deny('internal_error', 'unexpected error while deciding', snap);
  }
}

/** ext_authz can only replace whole headers: rewrite `cookie` without the credential cookie. */
function stripCookie(input: CheckInput, name: string, set: Array<[string, string]>, remove: string[]): void {
  const rest = (input.headers.cookie ?? '')
    .split(';')
    .map((c) => c.trim())
    .filter((c) => c && c.slice(0, c.indexOf('=')).trim() !== name);
  if (rest.length) set.push(['cookie', rest.join('; ')]);
  else remove.push('cookie');
}

function addIdentityHeaders(out: Array<[string, string]>, snap: Snapshot, id: Identity): void {
  const r = snap.config.response;
  if (isSafeHeaderValue(id.subject)) out.push([r.subjectHeader, id.subject]);
  if (isSafeHeaderValue(id.issuer)) out.push([r.issuerHeader, id.issuer]);
  const scopes = id.scopes.join(' ');
  if (isSafeHeaderValue(scopes)) out.push([r.scopesHeader, scopes]);
}

/** A deny decision with the status and RFC 6750 challenge its reason calls for. */
export function deny(reason: Reason, detail: string, snap: Pick<Snapshot, 'realm'> | undefined, tokenHash?: string): Decision {
  const info = REASONS[reason];
  const challenge = info.status === 401 ? bearerChallenge(reason, snap?.realm) : undefined;
  return {
    allow: false,
    reason,
    status: info.status,
    detail,
    ...(tokenHash ? { tokenHash } : {}),
    upstreamHeaders: [],
    removeHeaders: [],
    removeQueryParams: [],
    ...(challenge ? { wwwAuthenticate: challenge } : {}),
  };
}

/** RFC 6750 §3: no error attribute when the request carried no credential at all. */
export function bearerChallenge(reason: Reason, realm: string | undefined): string {
  const info = REASONS[reason];
  const params: string[] = [];
  if (realm) params.push(`realm="${quoted(realm)}"`);
  if (info.challenge) params.push(`error="${info.challenge}"`, `error_description="${quoted(info.description)}"`);
  return params.length ? `Bearer ${params.join(', ')}` : 'Bearer';
}

// RFC 6750 error_description: %x20-21 / %x23-5B / %x5D-7E (no quote, no backslash).
function quoted(s: string): string {
  return s.replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, '');
}

/** JSON body for deny responses (same shape on every transport). */
export function denyBody(d: Decision, requestId: string | undefined): string {
  return JSON.stringify({ error: d.reason, message: REASONS[d.reason].description, ...(requestId ? { request_id: requestId } : {}) });
}
