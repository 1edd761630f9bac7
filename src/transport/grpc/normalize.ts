// Envoy CheckRequest (v3 or v2: same field names for what we read) → RawRequest.
// Works on both shapes a request can arrive in: the protobufjs message the gRPC server decodes
// (codec.ts; unset fields come from prototype defaults) and the proto-loader/JSON object the CLI
// and tests build. Hot path: no object spreads and no copies of maps that are only read
// (labels, context extensions); the `peer` spreads were the top self-time function when
// profiling maximum throughput with a cached token (bench/run.ts --scenario 1 --profile).
import type { CheckRequest, Peer } from './messages.js';
import type { PeerInput } from '../../decision/types.js';
import { addHeaderLine, normalizeRequest, type NormalizeLimits, type Normalized, type RawRequest } from '../../decision/normalize.js';

const EMPTY: Readonly<Record<string, string>> = Object.freeze({});

export function normalizeCheckRequest(req: CheckRequest | undefined, limits: NormalizeLimits): Normalized {
  const attrs = req?.attributes;
  const http = attrs?.request?.http;
  if (!attrs || !http) return { ok: false, detail: 'CheckRequest has no attributes.request.http' };

  const headers = Object.create(null) as Record<string, string>;
  let headerCount = 0;
  let headerBytes = 0;
  const rawHeaders = http.headerMap?.headers;
  if (rawHeaders && rawHeaders.length > 0) {
    // encode_raw_headers: repeated headers arrive as separate entries (joined by addHeaderLine).
    for (const h of rawHeaders) {
      const key = (h.key ?? '').toLowerCase();
      if (!key) continue;
      const value = h.rawValue && h.rawValue.length ? Buffer.from(h.rawValue).toString('utf8') : (h.value ?? '');
      addHeaderLine(headers, key, value);
      headerCount++;
      headerBytes += key.length + value.length;
    }
  } else if (http.headers) {
    const map = http.headers;
    for (const k of Object.keys(map)) {
      const v = map[k]!;
      headers[k.toLowerCase()] = v;
      headerCount++;
      headerBytes += k.length + v.length;
    }
  }
  const raw: RawRequest = {
    requestId: headers['x-request-id'] || http.id || '',
    method: http.method || headers[':method'] || '',
    host: http.host || headers[':authority'] || headers.host || '',
    rawPath: http.path || headers[':path'] || '',
    headers,
    headerCount,
    headerBytes,
    source: peer(attrs.source),
    destination: peer(attrs.destination),
    contextExtensions: nonEmpty(attrs.contextExtensions),
  };
  const sni = attrs.tlsSession?.sni;
  if (sni) raw.sni = sni;
  if (http.protocol) raw.protocol = http.protocol;
  return normalizeRequest(raw, limits);
}

/** Maps are only read downstream: pass them through, or one shared empty object. */
function nonEmpty(m: Readonly<Record<string, string>> | null | undefined): Readonly<Record<string, string>> {
  if (!m) return EMPTY;
  for (const _ in m) return m;
  return EMPTY;
}

function peer(p: Peer | null | undefined): PeerInput {
  if (!p) return { labels: EMPTY };
  const out: PeerInput = { labels: nonEmpty(p.labels) };
  const sock = p.address?.socketAddress;
  if (sock?.address) out.address = sock.address;
  if (sock?.portValue) out.port = sock.portValue;
  if (p.principal) out.principal = p.principal;
  return out;
}
