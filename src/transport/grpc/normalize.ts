// Envoy CheckRequest (v3 or v2: same field names for what we read) → RawRequest.
import type { CheckRequest, Peer } from './messages.js';
import type { PeerInput } from '../../decision/types.js';
import { normalizeRequest, type NormalizeLimits, type Normalized } from '../../decision/normalize.js';

export function normalizeCheckRequest(req: CheckRequest | undefined, limits: NormalizeLimits): Normalized {
  const attrs = req?.attributes;
  const http = attrs?.request?.http;
  if (!attrs || !http) return { ok: false, detail: 'CheckRequest has no attributes.request.http' };

  const headers: Record<string, string> = Object.create(null);
  let headerCount = 0;
  const rawHeaders = http.headerMap?.headers;
  if (rawHeaders && rawHeaders.length > 0) {
    // encode_raw_headers: repeated headers arrive as separate entries; join them like Envoy's
    // `headers` map does so strict credential parsing sees every copy.
    for (const h of rawHeaders) {
      const key = (h.key ?? '').toLowerCase();
      if (!key) continue;
      const value = h.rawValue && h.rawValue.length ? Buffer.from(h.rawValue).toString('utf8') : (h.value ?? '');
      headers[key] = key in headers ? `${headers[key]},${value}` : value;
      headerCount++;
    }
  } else if (http.headers) {
    for (const [k, v] of Object.entries(http.headers)) {
      headers[k.toLowerCase()] = v;
      headerCount++;
    }
  }
  return normalizeRequest(
    {
      requestId: headers['x-request-id'] || http.id || '',
      method: http.method || headers[':method'] || '',
      host: http.host || headers[':authority'] || headers.host || '',
      rawPath: http.path || headers[':path'] || '',
      headers,
      headerCount,
      source: peer(attrs.source),
      destination: peer(attrs.destination),
      contextExtensions: { ...(attrs.contextExtensions ?? {}) },
      ...(attrs.tlsSession?.sni ? { sni: attrs.tlsSession.sni } : {}),
      ...(http.protocol ? { protocol: http.protocol } : {}),
    },
    limits,
  );
}

function peer(p: Peer | null | undefined): PeerInput {
  const sock = p?.address?.socketAddress;
  return {
    ...(sock?.address ? { address: sock.address } : {}),
    ...(sock?.portValue ? { port: sock.portValue } : {}),
    ...(p?.principal ? { principal: p.principal } : {}),
    labels: { ...(p?.labels ?? {}) },
  };
}
