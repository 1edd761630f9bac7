// Decision → Envoy CheckResponse. Headers always carry an explicit `append: false` AND
// `appendAction: OVERWRITE_IF_EXISTS_OR_ADD` so every Envoy version overwrites (see
// reference/envoy-ext-authz-protocol.md: v1.37 briefly honoured append_action alone).
import type { Decision } from '../../decision/types.js';
import { denyBody } from '../../decision/decide.js';
import type { CheckResponse, HeaderValueOption } from './messages.js';

// google.rpc.Code values
const GRPC_CODE_FOR_STATUS: Record<number, number> = { 400: 3, 401: 16, 403: 7, 500: 13, 503: 14 };

function overwrite(key: string, value: string): HeaderValueOption {
  return { header: { key, value }, append: { value: false }, appendAction: 'OVERWRITE_IF_EXISTS_OR_ADD' };
}

export function toCheckResponse(d: Decision, requestId: string | undefined): CheckResponse {
  const metadata = {
    fields: {
      reason: { stringValue: d.reason },
      ...(d.policy ? { policy: { stringValue: d.policy } } : {}),
      ...(d.tokenHash ? { token_hash: { stringValue: d.tokenHash } } : {}),
    },
  };
  if (d.allow) {
    return {
      status: { code: 0, message: '' },
      okResponse: {
        headers: d.upstreamHeaders.map(([k, v]) => overwrite(k, v)),
        headersToRemove: d.removeHeaders,
        queryParametersToRemove: d.removeQueryParams,
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
