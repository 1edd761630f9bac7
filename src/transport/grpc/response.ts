// Decision → Envoy CheckResponse. Headers always carry an explicit `append: false` AND
// `appendAction: OVERWRITE_IF_EXISTS_OR_ADD` so every Envoy version overwrites: Envoy v1.37
// briefly honoured append_action alone, and older versions read only `append`.
import type { Decision } from '../../decision/decision.js';
import { denyBody } from '../../decision/deny.js';
import type { BoolValue, CheckResponse, HeaderValueOption, RpcStatus, Struct, Value } from './messages.js';

// google.rpc.Code values
const GRPC_CODE_FOR_STATUS: Record<number, number> = { 400: 3, 401: 16, 403: 7, 500: 13, 503: 14 };

// Read-only parts shared by every response (the codec only rewrites enum names in per-request
// objects: appendAction, HttpStatus.code).
const APPEND_FALSE: BoolValue = Object.freeze({ value: false });
const STATUS_OK: RpcStatus = Object.freeze({ code: 0, message: '' });

function overwrite(key: string, value: string): HeaderValueOption {
  return { header: { key, value }, append: APPEND_FALSE, appendAction: 'OVERWRITE_IF_EXISTS_OR_ADD' };
}

/**
 * `v2RequestHeaders`: the response is for envoy.service.auth.v2, whose OkHttpResponse has no
 * headers_to_remove (nor query_parameters_to_remove). Every header we would remove that the
 * request carries (a client-sent x-auth-subject, a claim header, the credential) is overwritten
 * with an empty value instead, so a client copy never reaches the upstream. Blank rather than
 * deny: the request is allowed, and an empty value asserts no identity; headers the client did
 * not send are not added.
 */
export function toCheckResponse(
  d: Decision,
  requestId: string | undefined,
  v2RequestHeaders?: Readonly<Record<string, string>>,
): CheckResponse {
  if (!d.verdict.allow || v2RequestHeaders) return buildResponse(d, requestId, v2RequestHeaders);
  // A v3 allow reads nothing of the request but the Decision's own fields (no request id): the
  // same fields are the same response, so a repeated identity reuses the response object and
  // its encoded bytes (codec.ts). Keyed by every field the response is built from.
  const key = allowKey(d);
  let res = allowCache.get(key);
  if (res) {
    allowCache.delete(key); // most recently used last
  } else {
    res = buildResponse(d, undefined);
    const pre: PreEncoded = { fresh: () => buildResponse(d, undefined) };
    Object.defineProperty(res, PRE_ENCODED, { value: pre, enumerable: false });
    Object.freeze(res);
    if (allowCache.size >= ALLOW_CACHE_ENTRIES) allowCache.delete(allowCache.keys().next().value!);
  }
  allowCache.set(key, res);
  return res;
}

/**
 * Set on a cached allow response: `fresh` builds a copy the codec may encode (its enum rewrite
 * changes the object it encodes, and the cached one is shared), `v3` holds the encoded bytes.
 */
export interface PreEncoded {
  readonly fresh: () => CheckResponse;
  v3?: Buffer;
}
export const PRE_ENCODED = Symbol('zt-authz pre-encoded CheckResponse');

/**
 * Recently sent allow responses. Small on purpose: a cached token's repeated allows hit it, and
 * with unique tokens every entry is dropped young (before it could be promoted to old space).
 */
const ALLOW_CACHE_ENTRIES = 256;
const allowCache = new Map<string, CheckResponse>();

/** Every Decision field a v3 allow response is built from, each length-prefixed (unambiguous). */
function allowKey(d: Decision): string {
  const { verdict: v, response: r } = d;
  const part = (s: string | undefined): string => (s === undefined ? '-' : `${s.length}:${s}`);
  let key = part(v.reason) + part(v.policy) + part(d.evidence.tokenHash) + `${r.upstreamHeaders.length}h`;
  for (const [k, value] of r.upstreamHeaders) key += part(k) + part(value);
  key += `${r.removeHeaders.length}r`;
  for (const h of r.removeHeaders) key += part(h);
  key += `${r.removeQueryParams.length}q`;
  for (const q of r.removeQueryParams) key += part(q);
  return key;
}

function buildResponse(d: Decision, requestId: string | undefined, v2RequestHeaders?: Readonly<Record<string, string>>): CheckResponse {
  const { verdict: v, response: r } = d;
  const fields: Record<string, Value> = { reason: { stringValue: v.reason } };
  if (v.policy) fields.policy = { stringValue: v.policy };
  if (d.evidence.tokenHash) fields.token_hash = { stringValue: d.evidence.tokenHash };
  const metadata: Struct = { fields };
  if (v.allow) {
    const headers = new Array<HeaderValueOption>(r.upstreamHeaders.length);
    for (let i = 0; i < headers.length; i++) {
      const [k, value] = r.upstreamHeaders[i]!;
      headers[i] = overwrite(k, value);
    }
    if (v2RequestHeaders) {
      for (const name of r.removeHeaders) if (v2RequestHeaders[name] !== undefined) headers.push(overwrite(name, ''));
    }
    return {
      status: STATUS_OK,
      okResponse: {
        headers,
        headersToRemove: v2RequestHeaders ? [] : (r.removeHeaders as string[]),
        queryParametersToRemove: v2RequestHeaders ? [] : (r.removeQueryParams as string[]),
      },
      dynamicMetadata: metadata,
    };
  }
  const headers = [overwrite('content-type', 'application/json')];
  if (r.wwwAuthenticate) headers.push(overwrite('www-authenticate', r.wwwAuthenticate));
  return {
    status: { code: GRPC_CODE_FOR_STATUS[v.status] ?? 7, message: v.reason },
    deniedResponse: {
      status: { code: v.status as never },
      headers,
      body: denyBody(d, requestId),
    },
    dynamicMetadata: metadata,
  };
}
