// Stage 1: validate and normalize a transport's view of the request into a CheckInput.
// Transports gather fields; this module owns the rules (limits, path/query split, method).
import type { CheckInput, PeerInput } from './types.js';

export interface NormalizeLimits {
  maxHeaders: number;
  maxPathBytes: number;
  /** limits.maxHeaderBytes: bound on RawRequest.headerBytes (unchecked when either is absent). */
  maxHeaderBytes?: number;
}

export interface RawRequest {
  requestId: string;
  method: string;
  host: string;
  /** Path as sent, including any query string (Envoy puts the query in `path`). */
  rawPath: string;
  headers: Record<string, string>;
  headerCount: number;
  /** Sum of header name + value lengths as received (repeats included), for limits.maxHeaderBytes. */
  headerBytes?: number;
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
  if (raw.headerBytes !== undefined && limits.maxHeaderBytes !== undefined && raw.headerBytes > limits.maxHeaderBytes) {
    return { ok: false, detail: `${raw.headerBytes} header bytes exceed the limit of ${limits.maxHeaderBytes}` };
  }
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
  const normalized = normalizePath(path);
  if (normalized === undefined) return { ok: false, detail: 'path contains an encoded slash, backslash or control character' };
  path = normalized;
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

// Paths are matched in normalized form so that `/public/../admin`, `//admin` or `/%61dmin` cannot
// slip past a DENY on `/admin/*` (what Envoy's normalize_path + merge_slashes do). Encoded
// slashes/backslashes change meaning between proxies and applications: refuse them (fail closed).
const FORBIDDEN = /%2f|%5c|%00|\\|[\u0000-\u001f\u007f]/i;
const UNRESERVED = /%(4[1-9a-f]|5[0-9a]|6[1-9a-f]|7[0-9a]|3[0-9]|2d|2e|5f|7e)/gi;

/** RFC 3986 §6.2.2 normalization of an origin-form path; undefined when it must be rejected. */
export function normalizePath(path: string): string | undefined {
  if (path === '*') return path;
  if (FORBIDDEN.test(path)) return undefined;
  const decoded = path.includes('%') ? path.replace(UNRESERVED, (m) => String.fromCharCode(parseInt(m.slice(1), 16))) : path;
  if (!decoded.includes('/.') && !decoded.includes('//')) return decoded;
  const out: string[] = [];
  const segments = decoded.split('/');
  for (let i = 1; i < segments.length; i++) {
    const seg = segments[i]!;
    const last = i === segments.length - 1;
    if (seg === '.' || seg === '..') {
      if (seg === '..') out.pop();
      if (last) out.push('');
      continue;
    }
    if (seg === '' && !last) continue; // merge slashes
    out.push(seg);
  }
  return `/${out.join('/')}`;
}
