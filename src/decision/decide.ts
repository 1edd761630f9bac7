// The decision pipeline: normalized input → authenticate → peer identity → authorize → shape.
// Transport adapters call only this. Any exception becomes an internal_error deny (fail closed).
import type { AuthResult, CheckInput, CredentialLocation, Decision, Identity } from './types.js';
import type { Snapshot } from './snapshot.js';
import { REASONS, type Reason } from './reasons.js';
import { parsePrincipal } from '../identity/spiffe.js';
import { trustedXfccPrincipal } from '../identity/xfcc.js';
import { remoteIp } from '../identity/remote-ip.js';
import type { PolicyContext } from '../policy/attributes.js';
import type { PolicyVerdict } from '../policy/index.js';
import { isSafeFieldValue, isSafeHeaderValue } from '../authn/claims.js';
import { credentialLocations } from '../authn/credentials.js';
import { destinationOf, modeFor } from './mode.js';

export async function decide(input: CheckInput, snap: Snapshot): Promise<Decision> {
  try {
    const pending = snap.authenticator.authenticate(input);
    const auth = pending instanceof Promise ? await pending : pending; // cache hits stay synchronous
    const d = enforce(input, auth, snap);
    if (d.allow || modeFor(destinationOf(input, snap), snap) !== 'observe') return d;
    return observed(d, input, auth, snap);
  } catch {
    return deny('internal_error', 'unexpected error while deciding', snap);
  }
}

/**
 * Observe mode (migration to zero trust): the request goes through, and the decision records
 * what enforce mode would have done. A verified identity is still passed upstream; client-sent
 * identity headers are still stripped, so observe mode never lets a client impersonate anyone.
 * The credential is stripped as an enforce-mode allow would strip it (forwardOriginalToken
 * false), verified or not: a forged or expired token must not reach the upstream either.
 */
function observed(would: Decision, input: CheckInput, auth: AuthResult, snap: Snapshot): Decision {
  const upstreamHeaders: Array<[string, string]> = [];
  if (would.identity) addIdentityHeaders(upstreamHeaders, snap, would.identity);
  const removeHeaders: string[] = [];
  const removeQueryParams: string[] = [];
  if (auth.kind === 'authenticated') {
    if (!auth.forwardToken) stripCredential(input, auth.location, upstreamHeaders, removeHeaders, removeQueryParams);
  } else if (auth.kind === 'failed' && !snap.config.issuers.every((i) => i.forwardOriginalToken)) {
    // Not verified: which issuer it claims is unknown, so keep it only if every issuer forwards.
    for (const loc of credentialLocations(input, snap.authenticator.locations)) stripCredential(input, loc, upstreamHeaders, removeHeaders, removeQueryParams);
  }
  const set = new Set(upstreamHeaders.map(([n]) => n));
  return {
    allow: true,
    reason: 'observed',
    status: 200,
    detail: `observe mode: would deny (${would.reason})`,
    ...(would.identity ? { identity: would.identity } : {}),
    ...(would.tokenHash ? { tokenHash: would.tokenHash } : {}),
    ...(would.audits ? { audits: would.audits } : {}),
    ...(would.dryRun ? { dryRun: would.dryRun } : {}),
    ...(would.context ? { context: would.context } : {}),
    wouldDecide: { allow: false, reason: would.reason, status: would.status, ...(would.policy ? { policy: would.policy, rule: would.rule } : {}) },
    upstreamHeaders,
    removeHeaders: removeHeaders.concat(snap.identityHeaderNames.filter((n) => !set.has(n) && !removeHeaders.includes(n))),
    removeQueryParams,
  };
}

/**
 * A request refused only for its path's shape (Normalized.asSent), to a destination in observe
 * mode: let through as a would-be malformed_request deny, like any other would-be deny, since
 * observe mode must not break live traffic before enforcing. The credential is still verified
 * (identity headers upstream) and stripped, and client identity headers removed, exactly as
 * for other observed requests; no policy is evaluated on a path the upstream may read
 * differently. Undefined when the destination enforces: the malformed_request deny stands.
 */
export async function observeAsSent(input: CheckInput, detail: string, snap: Snapshot): Promise<Decision | undefined> {
  if (modeFor(destinationOf(input, snap), snap) !== 'observe') return undefined;
  const pending = snap.authenticator.authenticate(input);
  const auth = pending instanceof Promise ? await pending : pending;
  const would = deny('malformed_request', detail, snap, auth.kind === 'failed' ? auth.tokenHash : undefined);
  if (auth.kind === 'authenticated') Object.assign(would, { identity: auth.identity, tokenHash: auth.identity.tokenHash });
  return observed(would, input, auth, snap);
}

/** The enforce-mode decision for an authentication result. */
function enforce(input: CheckInput, auth: AuthResult, snap: Snapshot): Decision {
  if (auth.kind === 'failed') return deny(auth.reason, auth.detail, snap, auth.tokenHash);
  if (auth.kind === 'anonymous') return authorize(input, undefined, snap);
  const audience = snap.audienceCheck?.(input, auth.identity); // zt-authz.io/audience, service-account tokens
  if (audience) return deny('audience_mismatch', audience, snap, auth.identity.tokenHash);
  const d = authorize(input, auth.identity, snap);
  if (d.allow) {
    for (const [name, value] of auth.claimHeaders) d.upstreamHeaders.push([name, value]);
    if (!auth.forwardToken) stripCredential(input, auth.location, d.upstreamHeaders, d.removeHeaders, d.removeQueryParams);
    const set = new Set(d.upstreamHeaders.map(([n]) => n));
    d.removeHeaders = d.removeHeaders.concat(snap.identityHeaderNames.filter((n) => !set.has(n)));
  }
  return d;
}

/**
 * Stages 4–6 for an already-authenticated (or anonymous) request: peer identity, policy, and
 * the response. Also used to re-evaluate recorded traffic (`zt-authz policy replay`), whose
 * audit records carry the verified identity instead of a token. Removal of client-sent identity
 * headers not set here is left to the caller (enforce), which knows the credential's location.
 */
export function authorize(input: CheckInput, identity: Identity | undefined, snap: Snapshot): Decision {
  const ctx = policyContext(input, identity, snap);
  const verdict = snap.policies.evaluate(ctx);
  const common = {
    ...(verdict.policy ? { policy: verdict.policy, rule: verdict.rule } : {}),
    audits: verdict.audits,
    ...(verdict.dryRun ? { dryRun: verdict.dryRun } : {}),
    ...(identity ? { identity, tokenHash: identity.tokenHash } : {}),
    context: { ...(ctx.source ? { source: ctx.source } : {}), destination: ctx.destination, ...(ctx.remoteIp !== undefined ? { remoteIp: ctx.remoteIp } : {}) }, // for the audit record (replay)
  };
  if (!verdict.allow) return { ...denyFor(verdict, identity, ctx, snap), ...common };
  const upstreamHeaders: Array<[string, string]> = [];
  if (identity) addIdentityHeaders(upstreamHeaders, snap, identity);
  const removeHeaders = identity ? [] : [...snap.identityHeaderNames];
  return { allow: true, reason: 'allowed', status: 200, ...common, upstreamHeaders, removeHeaders, removeQueryParams: [] };
}

/** Stage 4 (peer identity) + destination scope for the policy stage. */
export function policyContext(input: CheckInput, identity: Identity | undefined, snap: Snapshot): PolicyContext {
  // XFCC only from a trusted immediate peer (identity.xfccTrustedPeers); it then names the
  // proxy's client, which replaces the proxy's own mTLS principal.
  const principal = trustedXfccPrincipal(input, snap.config.identity.xfccTrustedPeers) ?? input.source.principal;
  // mTLS first; else a Kubernetes service-account token or (opt-in, weaker) the caller's pod IP.
  const source = parsePrincipal(principal) ?? snap.workloadSource?.(input, identity);
  // The original client IP, once per request; X-Forwarded-For only past identity.numTrustedProxies.
  const remote = remoteIp(input, snap.config.identity.numTrustedProxies);
  return { input, identity, source, destination: destinationOf(input, snap), ...(remote !== undefined ? { remoteIp: remote } : {}) };
}

function denyFor(verdict: PolicyVerdict, identity: Identity | undefined, ctx: PolicyContext, snap: Snapshot): Decision {
  if (verdict.reason === 'policy_denied') return deny('policy_denied', `denied by policy ${verdict.policy}`, snap);
  const miss = snap.policies.nearMiss(ctx);
  // No credential, and a rule would admit the request once authenticated: ask for one (401).
  if (miss?.kind === 'authn') return deny('token_missing', `policy ${miss.policy} requires an authenticated request`, snap);
  if (miss?.kind === 'step_up') {
    const params: Record<string, string> = miss.acr.length ? { acr_values: miss.acr.join(' ') } : {};
    const what = [miss.acr.length ? `acr ${miss.acr.join('|')}` : '', miss.amr.length ? `amr ${miss.amr.join('|')}` : ''].filter(Boolean).join(' and ');
    return deny('insufficient_user_authentication', `policy ${miss.policy} requires ${what}`, snap, undefined, params);
  }
  if (miss?.kind === 'scope') {
    return deny('insufficient_scope', `policy ${miss.policy} requires scope ${miss.scopes.join('|')}`, snap, undefined, { scope: miss.scopes.join(' ') });
  }
  return deny('no_policy_matched', 'no ALLOW rule matched', snap);
}

function stripCredential(input: CheckInput, loc: CredentialLocation, set: Array<[string, string]>, remove: string[], removeParams: string[]): void {
  if (loc.type === 'header') {
    if (!remove.includes(loc.name)) remove.push(loc.name);
  } else if (loc.type === 'param') {
    if (!removeParams.includes(loc.name)) removeParams.push(loc.name);
  } else {
    stripCookie(input, loc.name, set, remove);
  }
}

/** ext_authz can only replace whole headers: rewrite `cookie` without the credential cookie. */
function stripCookie(input: CheckInput, name: string, set: Array<[string, string]>, remove: string[]): void {
  if (remove.includes('cookie')) return; // already dropped whole
  // A second credential cookie (observe mode, token_multiple): strip it from the rewrite.
  const i = set.findIndex(([n]) => n === 'cookie');
  const current = i < 0 ? (input.headers.cookie ?? '') : set.splice(i, 1)[0]![1];
  // Found the way extractCredential finds it (split on ";" and ","), so every copy goes; other
  // cookies keep their exact text (a non-conforming comma inside their value stays).
  const rest: string[] = [];
  for (const part of current.split(';')) {
    const kept = part
      .split(',')
      .filter((c) => c.indexOf('=') < 0 || c.slice(0, c.indexOf('=')).trim() !== name)
      .join(',')
      .trim();
    if (kept) rest.push(kept);
  }
  const value = rest.join('; ');
  // The rewritten header carries the client's other cookies back to Envoy: a control character
  // or lone surrogate in them must not be re-emitted (header injection, invalid UTF-8 on the
  // wire). Drop the whole header then; the credential cookie must go either way.
  if (rest.length && isSafeFieldValue(value)) set.push(['cookie', value]);
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
export function deny(reason: Reason, detail: string, snap: Pick<Snapshot, 'realm'> | undefined, tokenHash?: string, challengeParams?: Record<string, string>): Decision {
  const info = REASONS[reason];
  const challenge = info.status === 401 || info.challenge === 'insufficient_scope' ? bearerChallenge(reason, snap?.realm, challengeParams) : undefined;
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
 * the policy stage's source and destination) and no policy, since no policy decided it.
 */
export function denyReplacing(d: Decision, reason: Reason, detail: string, snap: Pick<Snapshot, 'realm'> | undefined): Decision {
  return {
    ...deny(reason, detail, snap, d.tokenHash),
    ...(d.identity ? { identity: d.identity } : {}),
    ...(d.context ? { context: d.context } : {}),
  };
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
  return JSON.stringify({ error: d.reason, message: REASONS[d.reason].description, ...(requestId ? { request_id: requestId } : {}) });
}
