// HTTP authorization request → RawRequest → normalizeRequest(), the same stage-1 rules the gRPC
// adapter uses. One listener serves three proxy conventions, chosen by the request path:
//
//  - `http.nginxPath` (nginx `auth_request`): method from X-Original-Method, path and query from
//    X-Original-URI, host from Host: the three headers the nginx snippet in docs/http-mode.md sets.
//  - `http.ingressNginxPath` (ingress-nginx `auth-url`): method from X-Original-Method, host,
//    path and query from X-Original-URL (ingress-nginx sets both on every auth request; its Host
//    is the auth service's own). X-Original-URL's host is `$http_host`, the client's Host header,
//    while nginx routes on `$host` (the request line's host for an absolute-form request, lower
//    case, without port or trailing dot): `GET http://admin.example.com/x` with
//    `Host: public.example.com` is served by the admin server. So the proxy must also send
//    `$host` in `http.routedHostHeader` (auth-proxy-set-headers), and the two must name the
//    same host.
//  - anything else, Envoy `http_service`: the request's own method and path (with
//    `http.pathPrefix`, Envoy's `path_prefix`, stripped); Host is the original :authority.
//
// Each mode reads only headers its proxy always overwrites: a proxy passes every other client
// header through, so e.g. an X-Original-URL sent to plain nginx must never be believed. A
// repeated Host/X-Original-* header or a missing original method is a malformed_request deny.
// An Envoy-mode request carrying any of the nginx modes' headers is denied too: it is an nginx
// auth location that lost the mode path (`proxy_pass http://zt-authz;` would be judged as a
// request for the auth location's own path, so path DENY rules would never apply), or a client
// spoofing through an Envoy that forwards every header. Neither can be decided correctly.
import { isIP } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { Config } from '../../config/types.js';
import { addHeaderLine, normalizeRequest, type NormalizeLimits, type Normalized } from '../../decision/normalize.js';
import { hostName } from '../../decision/host.js';

export type HttpMode = 'envoy' | 'nginx' | 'ingress-nginx';
export type HttpOptions = Config['http'];

/** What the listener saw: method, request target and Node's rawHeaders ([name, value, …]). */
export interface HttpRequestView {
  method: string;
  url: string;
  rawHeaders: readonly string[];
  /** "1.1", "1.0" (node's req.httpVersion); absent for callers that did not parse a request line. */
  httpVersion?: string;
}

export function requestMode(url: string, opts: HttpOptions): HttpMode {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  return path === opts.nginxPath ? 'nginx' : path === opts.ingressNginxPath ? 'ingress-nginx' : 'envoy';
}

/** scheme://authority rest — split by hand so the path stays exactly as the client sent it. */
const ABSOLUTE_URL = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)(.*)$/;

/**
 * Told about a deny that means the proxy is set up wrong (constant message text per setting, so
 * the ops logger's per-message rate limit keeps a misconfigured proxy from flooding the log).
 */
export type MisconfigWarn = (facts: Record<string, string>, message: string) => void;

export function normalizeHttpRequest(
  view: HttpRequestView,
  opts: HttpOptions,
  limits: NormalizeLimits,
  mode = requestMode(view.url, opts),
  warn?: MisconfigWarn,
): Normalized {
  const headers = Object.create(null) as Record<string, string>;
  const counts = new Map<string, number>();
  const raw = view.rawHeaders;
  let headerBytes = 0;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const key = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    headerBytes += key.length + value.length;
    addHeaderLine(headers, key, value);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const headerCount = Math.floor(raw.length / 2);
  const single = (name: string): string | undefined | null => {
    const n = counts.get(name) ?? 0;
    if (n > 1) return null;
    return n === 1 ? headers[name] : undefined;
  };

  const host0 = single('host');
  if (host0 === null) return { ok: false, detail: 'repeated Host header' };
  // RFC 9112 §3.2: an HTTP/1.1 request without Host is a bad request.
  if (host0 === undefined && view.httpVersion === '1.1') return { ok: false, detail: 'HTTP/1.1 request without Host header' };
  let host = host0 ?? '';
  let method: string;
  let rawPath: string;

  if (mode !== 'envoy') {
    const m = single(opts.originalMethodHeader);
    if (m === null) return { ok: false, detail: `repeated ${opts.originalMethodHeader} header` };
    if (!m) return { ok: false, detail: `${mode} auth request without ${opts.originalMethodHeader}` };
    method = m;
    const name = mode === 'nginx' ? opts.originalUriHeader : opts.originalUrlHeader;
    const value = single(name);
    if (value === null) return { ok: false, detail: `repeated ${name} header` };
    if (!value) return { ok: false, detail: `${mode} auth request without ${name}` };
    if (mode === 'nginx') {
      rawPath = value;
    } else {
      const parsed = ABSOLUTE_URL.exec(value);
      if (!parsed || !parsed[1] || parsed[1].includes('@')) return { ok: false, detail: `${name} is not an absolute URL` };
      host = parsed[1];
      rawPath = parsed[2] || '/';
      const routed = single(opts.routedHostHeader);
      if (routed === null) return { ok: false, detail: `repeated ${opts.routedHostHeader} header` };
      if (!routed) {
        warn?.(
          {
            header: opts.routedHostHeader,
            fix: `ingress-nginx annotation nginx.ingress.kubernetes.io/auth-proxy-set-headers naming a ConfigMap with ${opts.routedHostHeader}: $host`,
          },
          `ingress-nginx auth request without ${opts.routedHostHeader}: set auth-proxy-set-headers (ConfigMap entry "${opts.routedHostHeader}: $host") on the Ingress; denied as malformed_request until then`,
        );
        return {
          ok: false,
          detail: `${mode} auth request without ${opts.routedHostHeader} (the host nginx routed on, $host); see the auth-proxy-set-headers annotation`,
        };
      }
      // Compared by name: $host never has a port, and X-Original-URL's port is the client's
      // Host port, which nginx does not route on. The port, if any, stays part of the host.
      const routedName = hostName(routed);
      const urlName = hostName(host);
      if (!routedName || !urlName || routedName !== urlName) {
        return {
          ok: false,
          detail: `${name} host differs from ${opts.routedHostHeader} (an absolute-form request line or a Host header nginx did not route on)`,
        };
      }
    }
  } else {
    for (const h of [opts.originalMethodHeader, opts.originalUriHeader, opts.originalUrlHeader, opts.routedHostHeader]) {
      if (!counts.has(h)) continue;
      warn?.(
        { header: h, nginxPath: opts.nginxPath, ingressNginxPath: opts.ingressNginxPath },
        `an Envoy-mode HTTP authorization request carries ${h}: point the nginx auth location's proxy_pass at ${opts.nginxPath} (ingress-nginx auth-url at ${opts.ingressNginxPath}); if Envoy forwards client headers, stop forwarding ${h}. Denied as malformed_request`,
      );
      return {
        ok: false,
        detail: `${h} in an Envoy-mode request (path is not http.nginxPath or http.ingressNginxPath): a misconfigured nginx auth location or a spoofed header`,
      };
    }
    method = view.method;
    rawPath = view.url;
    if (opts.pathPrefix) {
      if (!rawPath.startsWith(`${opts.pathPrefix}/`)) return { ok: false, detail: 'request path lacks the configured http.pathPrefix' };
      rawPath = rawPath.slice(opts.pathPrefix.length);
    }
  }

  let address: string | undefined;
  if (opts.sourceAddressHeader) {
    // The operator asserts the proxy overwrites this header; absent or odd means misconfigured.
    const a = single(opts.sourceAddressHeader);
    if (!a || isIP(a.trim()) === 0) return { ok: false, detail: `${opts.sourceAddressHeader} is missing, repeated or not an IP address` };
    address = a.trim();
  }

  return normalizeRequest(
    {
      requestId: headers['x-request-id'] || randomUUID(),
      method,
      host,
      rawPath,
      headers,
      headerCount,
      headerBytes,
      // The TCP peer is the proxy, never the client: it is not used as the source address.
      source: { ...(address ? { address } : {}), labels: {} },
      destination: { labels: {} },
      contextExtensions: {},
    },
    limits,
  );
}
