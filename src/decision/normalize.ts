// Stage 1: validate and normalize a transport's view of the request into a CheckInput.
// Transports gather fields; this module owns the rules (limits, path/query split, method).
import type { CheckInput, PeerInput } from './types.js';
import type { PathRules } from '../config/types.js';
import { canonicalHost, hostAsSent } from './host.js';

export interface NormalizeLimits {
  maxHeaders: number;
  maxPathBytes: number;
  /** limits.maxHeaderBytes: bound on RawRequest.headerBytes (unchecked when either is absent). */
  maxHeaderBytes?: number;
  /** The `paths` config block (a copy kept in limits so every transport passes it); absent: both reject. */
  paths?: PathRules;
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

/**
 * Adds one header line to a header map, joining a repeated header the way Envoy's `headers` map
 * does (",") so strict credential parsing sees every copy; `cookie` joins with "; " (RFC 9113
 * §8.2.3, RFC 6265 §5.4), since a ","-joined `session=…` would read as part of the previous
 * cookie's value, and the cookie rewrite sent upstream must stay a valid Cookie header.
 */
export function addHeaderLine(headers: Record<string, string>, key: string, value: string): void {
  headers[key] = key in headers ? `${headers[key]}${key === 'cookie' ? '; ' : ','}${value}` : value;
}

export type Normalized =
  | { ok: true; input: CheckInput }
  | {
      ok: false;
      detail: string;
      /**
       * Set when only the path's shape is refused (non-canonical, path parameters, encoded slash
       * or control character, '#'): the request as sent (raw path, not matched by any policy).
       * Observe mode lets it through as a would-be malformed_request deny; enforce denies it.
       */
      asSent?: CheckInput;
    };

const METHOD = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,32}$/;

export function normalizeRequest(raw: RawRequest, limits: NormalizeLimits): Normalized {
  if (raw.headerCount > limits.maxHeaders)
    return { ok: false, detail: `${raw.headerCount} headers exceed the limit of ${limits.maxHeaders}` };
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
  // A request target never carries a fragment (RFC 9112 §3.2): a '#' here came from a client
  // through a proxy that forwards it raw (nginx X-Original-URI), and the upstream may read what
  // follows it as path. Matching only the part before it would be a bypass.
  if (path.includes('#')) {
    const end = path.search(/[?#]/); // the query (never logged) stays out of the path
    return {
      ok: false,
      detail: 'request target contains "#" (a fragment is never part of a request)',
      ...sent(raw, path.slice(0, end), path[end] === '?' ? path.slice(end + 1) : ''),
    };
  }
  const q = path.indexOf('?');
  if (q >= 0) {
    query = path.slice(q + 1);
    path = path.slice(0, q);
    // Raw control characters are never valid in a request target (RFC 3986 §2), so only a proxy
    // forwarding bytes as received (nginx X-Original-URI) can bring one. Encoded ones (`%0A` in a
    // form field) are data: policies never match the query, only credentials are read from it.
    if (RAW_CONTROL.test(query)) return { ok: false, detail: 'query string contains a raw control character', ...sent(raw, path, query) };
  }
  const normalized = normalizePath(path);
  if (normalized === undefined)
    return { ok: false, detail: 'path contains an encoded slash, backslash or control character', ...sent(raw, path, query) };
  if (limits.paths?.parameters !== 'allow' && PARAMETER.test(path))
    return { ok: false, detail: PARAMETER_DETAIL, ...sent(raw, path, query) };
  if (normalized !== path && limits.paths?.nonCanonical !== 'normalize')
    return { ok: false, detail: NON_CANONICAL_DETAIL, ...sent(raw, path, query) };
  path = normalized;
  // One spelling per host (host.ts): `admin.example.com.` or `admin.example.com:` must meet a DENY
  // on `admin.example.com`. A host no proxy would route is refused rather than guessed at.
  const host = canonicalHost(raw.host);
  if (host === undefined)
    return { ok: false, detail: 'invalid host (Host / :authority): not a host name or IP literal with an optional port 1-65535' };
  return { ok: true, input: checkInput(raw, host, path, query) };
}

/**
 * The CheckInput for `raw` with the host and path as matched. The method is upper-cased, the
 * method as sent kept beside it when it differs (CheckInput.methodAsSent); the host as sent
 * likewise (CheckInput.hostAsSent: a policy host naming a port compares the port as sent).
 */
function checkInput(raw: RawRequest, host: string, path: string, query: string): CheckInput {
  const method = raw.method.toUpperCase();
  const sentHost = hostAsSent(raw.host);
  return {
    requestId: raw.requestId,
    method,
    ...(raw.method !== method ? { methodAsSent: raw.method } : {}),
    host,
    ...(sentHost !== undefined && sentHost !== host ? { hostAsSent: sentHost } : {}),
    path,
    query,
    headers: raw.headers,
    source: raw.source,
    destination: raw.destination,
    contextExtensions: raw.contextExtensions,
    ...(raw.sni ? { sni: raw.sni } : {}),
    ...(raw.protocol ? { protocol: raw.protocol } : {}),
  };
}

/**
 * `asSent` for a path-shape failure; none when the host is invalid too (that stays malformed).
 * The path is what the audit record keeps of a request observe mode lets through, so its
 * `;`-parameters are cut from every segment (`/a;jsessionid=…/b` → `/a/b`), as the query and a
 * fragment are: a session id in a path parameter is a credential.
 */
function sent(raw: RawRequest, path: string, query: string): { asSent?: CheckInput } {
  const host = canonicalHost(raw.host);
  if (host === undefined) return {};
  return { asSent: checkInput(raw, host, withoutParameters(path), query) };
}

/** `path` with each segment's `;`-parameters (raw or as %3B) removed. */
function withoutParameters(path: string): string {
  return PARAMETER.test(path) ? path.replace(/(?:;|%3b)[^/]*/gi, '') : path;
}

// Paths are matched in canonical form only. By default a path the normaliser would change is
// refused: the proxy forwards what it received, so a verdict on `/public` for
// `/admin/../public` would be a verdict on a different request from the one the upstream
// serves. With paths.nonCanonical: normalize (only behind a proxy that normalises the same way:
// Envoy normalize_path + merge_slashes) the normalised form is matched, so `/public/../admin`,
// `//admin` or `/%61dmin` still meet a DENY on `/admin/*`. Encoded slashes/backslashes change
// meaning between proxies and applications: refuse them always (fail closed). Control
// characters too, raw or percent-encoded (%00-%1F, %7F): some upstreams trim or split on a
// decoded `\n` or `\t`, so `/admin%09` could reach /admin while a DENY on `/admin` never sees it.
const FORBIDDEN = /%2f|%5c|%[01][0-9a-f]|%7f|\\|[\u0000-\u001f\u007f]/i;
const RAW_CONTROL = /[\u0000-\u001f\u007f]/;
// Java servlet containers (Tomcat, Jetty, Spring) drop `;params` from each segment before
// routing, so `/admin;x=1/y` and `/public/..;/admin` reach /admin/y. Envoy and Istio match them
// literally. `%3B` is refused too: some stacks decode it before they split parameters.
const PARAMETER = /;|%3b/i;
const PARAMETER_DETAIL =
  "path contains ';' or %3B (a path parameter such as ;jsessionid=): Java servers route /admin;x/y as /admin/y; set paths.parameters: allow only if no upstream treats ';' specially";
const NON_CANONICAL_DETAIL =
  'path is not canonical (dot segments, repeated slashes or %-encoded unreserved characters) and the upstream would receive it as sent; enable path normalisation in the proxy (Envoy: normalize_path, merge_slashes) or, if it already normalises, set paths.nonCanonical: normalize';
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
