// One spelling per host. Proxies route `Admin.Example.COM.`, `admin.example.com:` and
// `admin.example.com:443` to the same virtual host as `admin.example.com` (DNS names are
// case-insensitive, a trailing dot is the fully-qualified form, an empty port means the default
// port), so a policy compared with the raw spelling could be sidestepped: a DENY on
// `admin.example.com` would miss `admin.example.com.`. Request hosts are canonicalised once, in
// normalizeRequest; policy host patterns go through the same rules when compiled and indexed.
// One exception where a match admits: a pattern that names a port (`orders:443`, `*:443`) is
// compared with the host as sent, port kept (hostAsSent, portHostPattern), since `:80` and `:443`
// both canonicalise to the bare name and `*:443` would become `*` (policy/readings.ts).

/** reg-name characters (RFC 3986 §3.2.2: unreserved, pct-encoded, sub-delims), lower case. */
const REG_NAME = /^[a-z0-9\-._~%!$&'()*+,;=]+$/;
/** IP-literal: IPv6 (with an optional IPv4 tail), or IPvFuture. */
const IP_LITERAL = /^\[(?:[0-9a-f:.]+|v[0-9a-f]+\.[a-z0-9\-._~!$&'()*+,;=:]+)\]$/;

/**
 * Splits "name[:port]" (name may be "[v6]"); undefined when there is no way to read a port
 * (an unbracketed IPv6 address, text after "]"). The one place a host is split: the HTTP
 * transport reads nginx's `$host` with it too (hostName).
 */
export function splitHostPort(host: string): { name: string; port: string | undefined } | undefined {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    if (end < 0) return undefined;
    const rest = host.slice(end + 1);
    if (rest !== '' && !rest.startsWith(':')) return undefined;
    return { name: host.slice(0, end + 1), port: rest === '' ? undefined : rest.slice(1) };
  }
  const colon = host.indexOf(':');
  if (colon < 0) return { name: host, port: undefined };
  if (host.indexOf(':', colon + 1) >= 0) return undefined;
  return { name: host.slice(0, colon), port: host.slice(colon + 1) };
}

/**
 * The port part as matched: absent for none, an empty one (`host:`) or a default one (80, 443:
 * which of the two is default depends on a scheme zt-authz is not always told, and a proxy
 * routes both spellings to the same virtual host as no port); leading zeros dropped.
 * `keepDefault` keeps 80 and 443 (the host as sent, hostAsSent). undefined: not a port.
 */
function canonicalPort(port: string | undefined, keepDefault = false): string | undefined | null {
  if (port === undefined || port === '') return null;
  if (!/^[0-9]{1,5}$/.test(port)) return undefined;
  const n = Number(port);
  if (n < 1 || n > 65535) return undefined;
  return !keepDefault && (n === 80 || n === 443) ? null : String(n);
}

/**
 * The canonical request host: lower case, one trailing dot removed, an empty or default (80/443)
 * port removed, e.g. `Admin.Example.com.:443` → `admin.example.com`, `[::1]:8080` stays.
 * '' stays '' (no host). undefined for a host no proxy would route: a bad port, characters
 * outside RFC 3986, an empty name (`:8080`, `.`), an unbracketed IPv6 address. Idempotent.
 */
export function canonicalHost(raw: string): string | undefined {
  return spelled(raw, false);
}

/**
 * The host as sent, for patterns that name a port (`orders:443`, `*:443`): canonicalHost's rules
 * except that a default port is kept (`Orders.:0443` → `orders:443`, `orders:` → `orders`). An
 * ALLOW on `orders:443` must not admit `orders:80` or `orders:8080` just because both default
 * ports canonicalise to `orders`. undefined exactly when canonicalHost is.
 */
export function hostAsSent(raw: string): string | undefined {
  return spelled(raw, true);
}

function spelled(raw: string, keepDefaultPort: boolean): string | undefined {
  if (raw === '') return '';
  const parts = splitHostPort(raw.toLowerCase());
  if (!parts) return undefined;
  let { name } = parts;
  const port = canonicalPort(parts.port, keepDefaultPort);
  if (port === undefined) return undefined;
  if (name.startsWith('[')) {
    if (!IP_LITERAL.test(name)) return undefined;
  } else {
    if (name.endsWith('.')) name = name.slice(0, -1);
    if (name === '' || name.endsWith('.') || !REG_NAME.test(name)) return undefined;
  }
  return port === null ? name : `${name}:${port}`;
}

/** The canonical host without its port (what nginx's `$host` holds); undefined when malformed or empty. */
export function hostName(raw: string): string | undefined {
  const c = canonicalHost(raw);
  return c ? splitHostPort(c)?.name : undefined;
}

/**
 * hostAsSent's value in canonicalHost's form (its default port dropped), without parsing it
 * again: matchers that compare canonical hosts read the as-sent value with it. Anything else
 * (a host that did not parse) is returned as is.
 */
export function withoutDefaultPort(asSent: string): string {
  const colon = asSent.lastIndexOf(':');
  if (colon < 0) return asSent;
  const port = asSent.slice(colon + 1);
  if (port !== '80' && port !== '443') return asSent;
  const name = asSent.slice(0, colon);
  return name !== '' && (name.endsWith(']') || !name.includes(':')) ? name : asSent;
}

/**
 * A policy `hosts` pattern in the form canonical request hosts are compared with: the same
 * lower case, trailing dot and default-port rules, and `name:*` read as `name` (a bare name
 * already matches every port, and `:*` would otherwise miss the default port, which requests
 * no longer carry). Patterns that are not host[:port] (wildcards, odd text) keep their text,
 * lower-cased, so they match exactly what they matched before.
 */
export function canonicalHostPattern(pattern: string): string {
  let p = pattern.toLowerCase();
  if (p.length > 2 && p.endsWith(':*')) p = p.slice(0, -2);
  const parts = splitHostPort(p);
  if (!parts) return p;
  let { name } = parts;
  const port = canonicalPort(parts.port);
  if (port === undefined) return p;
  if (!name.startsWith('[') && name.length > 1 && name.endsWith('.')) name = name.slice(0, -1);
  return port === null ? name : `${name}:${port}`;
}

/**
 * A `hosts` pattern that names a port (`orders:443`, `*.example.com:8080`, `*:443`) in
 * hostAsSent's form: lower case, trailing dot and leading zeros of the port dropped, the port
 * kept, 80 and 443 included. undefined for every other pattern (a bare name, `name:*`, a prefix
 * form, odd text), which is compared with the canonical host instead (canonicalHostPattern).
 */
export function portHostPattern(pattern: string): string | undefined {
  const parts = splitHostPort(pattern.toLowerCase());
  if (!parts || parts.port === undefined || parts.port === '' || parts.name === '') return undefined;
  const port = canonicalPort(parts.port, true);
  if (typeof port !== 'string') return undefined;
  let { name } = parts;
  if (!name.startsWith('[') && name.length > 1 && name.endsWith('.')) name = name.slice(0, -1);
  return `${name}:${port}`;
}

/**
 * The values a canonical host is matched as: `orders:8080` matches host patterns with and
 * without the port, as Istio does; `orders` only as itself. Shared by the `hosts` attribute and
 * the policy index so that both see the same host. Hosts that did not come through
 * normalizeRequest (replay, tests) are canonicalised here too (a no-op for canonical ones).
 */
export function hostMatchValues(host: string): readonly string[] {
  if (!host) return [];
  const h = canonicalHost(host) ?? host.toLowerCase();
  if (!h) return [];
  const parts = h.startsWith('[') || h.includes(':') ? splitHostPort(h) : undefined;
  return parts?.port !== undefined ? [h, parts.name] : [h];
}
