// Decision → Envoy CheckResponse. Headers always carry an explicit `append: false` AND
// `appendAction: OVERWRITE_IF_EXISTS_OR_ADD` so every Envoy version overwrites (see
// reference/envoy-ext-authz-protocol.md: v1.37 briefly honoured append_action alone).
import type { Decision } from '../../decision/types.js';
import { denyBody } from '../../decision/decide.js';
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
export function toCheckResponse(d: Decision, requestId: string | undefined, v2RequestHeaders?: Readonly<Record<string, string>>): CheckResponse {
  const fields: Record<string, Value> = { reason: { stringValue: d.reason } };
  if (d.policy) fields.policy = { stringValue: d.policy };
  if (d.tokenHash) fields.token_hash = { stringValue: d.tokenHash };
  const metadata: Struct = { fields };
  if (d.allow) {
    const headers: HeaderValueOption[] = new Array(d.upstreamHeaders.length);
    for (let i = 0; i < headers.length; i++) {
      const [k, v] = d.upstreamHeaders[i]!;
      headers[i] = overwrite(k, v);
    }
    if (v2RequestHeaders) {
      for (const name of d.removeHeaders) if (v2RequestHeaders[name] !== undefined) headers.push(overwrite(name, ''));
    }
    return {
      status: STATUS_OK,
      okResponse: {
        headers,
        headersToRemove: v2RequestHeaders ? [] : d.removeHeaders,
        queryParametersToRemove: v2RequestHeaders ? [] : d.removeQueryParams,
      },
      dynamicMetadata: metadata,
    };
  }
  const headers = [overwrite('content-type', 'application/json')];
  if (d.wwwAuthenticate) headers.push(overwrite('www-authenticate', d.wwwAuthenticate));
  return {
    status: { code: GRPC_CODE_FOR_STATUS[d.status] ?? 7, message: d.reason },
    deniedResponse: {
      status: { code: d.status as never },
      headers,
      body: denyBody(d, requestId),
    },
    dynamicMetadata: metadata,
  };
}
