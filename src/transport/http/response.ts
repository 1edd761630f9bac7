// Decision → HTTP authorization response. Reason codes, the JSON body and the RFC 6750
// challenge come from src/decision; only the status mapping is transport-specific:
//
//  - allow: exactly 200, empty body, identity headers as response headers (Envoy copies those
//    matched by `allowed_upstream_headers`; nginx copies them with auth_request_set), plus
//    `x-envoy-auth-headers-to-remove` listing the request headers to strip.
//  - deny, Envoy http_service: 400/401/403 as decided. A 5xx is never sent for a deny: Envoy
//    treats 5xx as an authorization *error*, which `failure_mode_allow: true` turns into an
//    allow. jwks_unavailable (503) and internal_error (500) therefore answer 403; the body
//    still names the real reason.
//  - deny, nginx auth_request: nginx understands only 2xx, 401 and 403 (anything else becomes a
//    500 for the client), so every deny that is not 401 answers 403.
//
// Header values are sent as UTF-8 bytes, as over gRPC (protobuf strings are UTF-8, and Envoy
// forwards them as bytes): node:http writes a string header value as latin1, one byte per
// character, so a value from a token (`sub: "юрий"`, `café`) is written as the latin1 string of
// its UTF-8 bytes, and an upstream sees the same bytes whichever transport asked. The rewritten
// `cookie` is the exception: it is the client's own header as node read it (latin1, one
// character per byte received), so it goes back byte for byte.
import type { Decision } from '../../decision/decision.js';
import { denyBody, failClosedDecision } from '../../decision/deny.js';
import type { HttpMode } from './normalize.js';

export interface HttpAuthzResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /**
   * The decision this response carries: the input decision, or the internal_error deny that
   * replaced an allow that could not be encoded. Metrics and audit record this one.
   */
  decision: Decision;
}

export const HEADERS_TO_REMOVE = 'x-envoy-auth-headers-to-remove';

/** Header values Node can send (no CR/LF/NUL, nothing above U+00FF). */
const SAFE_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** Any character that is not ASCII: only such values need re-encoding. */
const NON_ASCII = /[^\x00-\x7f]/;

export function httpStatusFor(d: Decision, mode: HttpMode): number {
  const { allow, status } = d.verdict;
  if (allow) return 200;
  if (mode !== 'envoy') return status === 401 || status === 403 ? status : 403;
  return status >= 400 && status < 500 ? status : 403;
}

/** `value`'s UTF-8 bytes as a latin1 string: node:http writes exactly those bytes. */
export function utf8HeaderValue(value: string): string {
  return NON_ASCII.test(value) ? Buffer.from(value, 'utf8').toString('latin1') : value;
}

/**
 * `requestCookie`: the request's `cookie` header as received. nginx cannot remove request headers
 * on an auth_request's say (there is no x-envoy-auth-headers-to-remove), so the nginx snippet
 * in docs/http-mode.md always sets the upstream `Cookie` from this response's `cookie` header:
 * every nginx-mode allow carries the cookie header the upstream may get. That is the rewrite
 * without a credential cookie, the client's own header when there was nothing to strip, or
 * nothing when it was removed whole (nginx then sends no Cookie).
 */
export function toHttpResponse(d: Decision, mode: HttpMode, requestId: string | undefined, requestCookie?: string): HttpAuthzResponse {
  const headers: Record<string, string> = { 'cache-control': 'no-store' };
  if (requestId && SAFE_VALUE.test(requestId)) headers['x-request-id'] = requestId;
  const r = d.response;
  if (d.verdict.allow) {
    for (const [name, raw] of r.upstreamHeaders) {
      const value = name === 'cookie' ? raw : utf8HeaderValue(raw);
      // decide() only emits safe values; a value Node would refuse must not become an error path.
      if (!SAFE_VALUE.test(value)) return failClosed(d, mode, requestId, `the value of response header ${name} cannot be sent over HTTP`);
      headers[name] = value;
    }
    if (r.removeHeaders.length) headers[HEADERS_TO_REMOVE] = r.removeHeaders.join(', ');
    if (
      mode !== 'envoy' &&
      requestCookie !== undefined &&
      !('cookie' in headers) &&
      !r.removeHeaders.includes('cookie') &&
      SAFE_VALUE.test(requestCookie)
    ) {
      headers.cookie = requestCookie;
    }
    return { status: 200, headers, body: '', decision: d };
  }
  headers['content-type'] = 'application/json';
  if (r.wwwAuthenticate) headers['www-authenticate'] = r.wwwAuthenticate;
  return { status: httpStatusFor(d, mode), headers, body: denyBody(d, requestId), decision: d };
}

export function failClosed(d: Decision, mode: HttpMode, requestId: string | undefined, detail: string): HttpAuthzResponse {
  const denied = failClosedDecision(d, detail);
  return {
    status: httpStatusFor(denied, mode),
    headers: { 'cache-control': 'no-store', 'content-type': 'application/json' },
    body: denyBody(denied, requestId),
    decision: denied,
  };
}
