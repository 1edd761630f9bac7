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
