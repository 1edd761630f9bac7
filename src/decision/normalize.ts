// Stage 1: validate and normalize a transport's view of the request into a CheckInput.
// Transports gather fields; this module owns the rules (limits, path/query split, method).
import type { CheckInput, PeerInput } from './types.js';

export interface NormalizeLimits {
  maxHeaders: number;
  maxPathBytes: number;
}

export interface RawRequest {
  requestId: string;
  method: string;
  host: string;
  /** Path as sent, including any query string (Envoy puts the query in `path`). */
  rawPath: string;
  headers: Record<string, string>;
  headerCount: number;
  source: PeerInput;
  destination: PeerInput;
  contextExtensions: Record<string, string>;
  sni?: string;
  protocol?: string;
}

export type Normalized = { ok: true; input: CheckInput } | { ok: false; detail: string };

const METHOD = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,32}$/;

export function normalizeRequest(raw: RawRequest, limits: NormalizeLimits): Normalized {
  if (raw.headerCount > limits.maxHeaders) return { ok: false, detail: `${raw.headerCount} headers exceed the limit of ${limits.maxHeaders}` };
  if (!METHOD.test(raw.method)) return { ok: false, detail: 'missing or invalid HTTP method' };
  if (raw.rawPath.length > limits.maxPathBytes) return { ok: false, detail: `path exceeds ${limits.maxPathBytes} bytes` };
  // Origin-form paths only; "*" is the OPTIONS asterisk-form.
  if (!(raw.rawPath.startsWith('/') || (raw.rawPath === '*' && raw.method === 'OPTIONS'))) {
    return { ok: false, detail: 'missing or invalid request path' };
  }
  let path = raw.rawPath;
  let query = '';
  const hash = path.indexOf('#');
  if (hash >= 0) path = path.slice(0, hash);
  const q = path.indexOf('?');
  if (q >= 0) {
    query = path.slice(q + 1);
    path = path.slice(0, q);
  }
  return {
    ok: true,
    input: {
      requestId: raw.requestId,
      method: raw.method.toUpperCase(),
      host: raw.host.toLowerCase(),
      path,
      query,
      headers: raw.headers,
      source: raw.source,
      destination: raw.destination,
      contextExtensions: raw.contextExtensions,
      ...(raw.sni ? { sni: raw.sni } : {}),
      ...(raw.protocol ? { protocol: raw.protocol } : {}),
    },
  };
}
