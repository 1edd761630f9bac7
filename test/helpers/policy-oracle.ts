// A deliberately naive reference evaluator for a subset of the policy vocabulary, used by the
// fuzz tests as an oracle for the real pipeline (normalize → authenticate → index → match).
// It shares no code with src/: it re-reads the documented semantics (docs/policies.md and
// "Security behaviour": Istio string forms, path templates, canonical hosts, canonical
// paths, default deny) and evaluates every policy by brute force, with no index and no
// precompilation. Where it is simpler than the engine it is simpler on purpose: a disagreement
// is a finding, in one or the other.
//
// Subset: ALLOW/DENY; from.source: principals, notPrincipals, namespaces, notNamespaces,
// requestPrincipals, remoteIpBlocks, notRemoteIpBlocks (numTrustedProxies 0: the peer address),
// trustDomains, notTrustDomains (the default trust domain, no aliases);
// to.operation: methods, notMethods, paths, notPaths, hosts, ports; policy namespace and
// selector scope. No `when`, no AUDIT/dryRun (never decisive, covered by the deny-all property).

export interface OracleSource {
  principals?: string[];
  notPrincipals?: string[];
  namespaces?: string[];
  notNamespaces?: string[];
  requestPrincipals?: string[];
  remoteIpBlocks?: string[];
  notRemoteIpBlocks?: string[];
  trustDomains?: string[];
  notTrustDomains?: string[];
}

export interface OracleOperation {
  methods?: string[];
  notMethods?: string[];
  paths?: string[];
  notPaths?: string[];
  hosts?: string[];
  ports?: string[];
}

export interface OracleRule {
  from?: Array<{ source: OracleSource }>;
  to?: Array<{ operation: OracleOperation }>;
}

export interface OraclePolicy {
  name: string;
  namespace?: string;
  selector?: { matchLabels: Record<string, string> };
  action: 'ALLOW' | 'DENY';
  rules?: OracleRule[];
}

/** The request as the client (and Envoy) would describe it, before any normalization. */
export interface OracleRequest {
  method: string;
  /** As sent: may hold a query, a fragment, dot segments, percent-escapes. */
  path: string;
  host: string;
  /** Destination port. */
  port?: number;
  /** Caller's mTLS principal as Envoy reports it (with or without spiffe://). */
  principal?: string;
  /** Peer address (attributes.source.address); with numTrustedProxies 0 also the remote IP. */
  sourceAddress?: string;
  /** Verified "<iss>/<sub>", or 'invalid' for a credential that must fail, or undefined. */
  requestPrincipal?: string;
  destinationNamespace?: string;
  destinationLabels: Record<string, string>;
}

export type OracleVerdict =
  { kind: 'malformed' } | { kind: 'bad_credential' } | { kind: 'decided'; allow: boolean; allowMatches: string[]; denyMatches: string[] };

// ---- request normalization, re-derived from docs/security.md ("Path normalisation") and RFC 3986 ----

const TCHAR = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~";

function validMethod(m: string): boolean {
  if (m.length < 1 || m.length > 32) return false;
  for (const ch of m) if (!TCHAR.includes(ch)) return false;
  return true;
}

const UNRESERVED = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~';

/** RFC 3986 §6.2.2.2: decode %XX only when it encodes an unreserved character. */
function decodeUnreserved(p: string): string {
  let out = '';
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '%' && /^[0-9A-Fa-f]{2}$/.test(p.slice(i + 1, i + 3))) {
      const ch = String.fromCharCode(parseInt(p.slice(i + 1, i + 3), 16));
      if (UNRESERVED.includes(ch)) {
        out += ch;
        i += 2;
        continue;
      }
    }
    out += p[i];
  }
  return out;
}

/** RFC 3986 §5.2.4 remove_dot_segments, the textbook buffer algorithm. */
function removeDotSegments(input: string): string {
  let inp = input;
  let out = '';
  while (inp.length > 0) {
    if (inp.startsWith('../')) inp = inp.slice(3);
    else if (inp.startsWith('./')) inp = inp.slice(2);
    else if (inp.startsWith('/./')) inp = inp.slice(2);
    else if (inp === '/.') inp = '/';
    else if (inp.startsWith('/../')) {
      inp = inp.slice(3);
      out = out.slice(0, Math.max(0, out.lastIndexOf('/')));
    } else if (inp === '/..') {
      inp = '/';
      out = out.slice(0, Math.max(0, out.lastIndexOf('/')));
    } else if (inp === '.' || inp === '..') inp = '';
    else {
      const next = inp.indexOf('/', inp.startsWith('/') ? 1 : 0);
      const seg = next < 0 ? inp : inp.slice(0, next);
      out += seg;
      inp = next < 0 ? '' : inp.slice(next);
    }
  }
  return out;
}

/** The `paths` config block (docs/security.md "Path normalisation"); both default to reject. */
export interface OraclePathRules {
  nonCanonical: 'reject' | 'normalize';
  parameters: 'reject' | 'allow';
}
const REJECT_BOTH: OraclePathRules = { nonCanonical: 'reject', parameters: 'reject' };

/**
 * Path for matching, or undefined when the request must be rejected as malformed: encoded
 * slashes and the like always; a `;`/%3B unless parameters: allow; a path that normalization
 * would change unless nonCanonical: normalize.
 */
export function oraclePath(method: string, raw: string, rules: OraclePathRules = REJECT_BOTH): string | undefined {
  let p = raw;
  if (p.includes('#')) return undefined; // never in a request target (RFC 9112 §3.2)
  if (p.includes('?')) {
    // A raw control character anywhere in the target is malformed; encoded ones in the query are data.
    if (/[\u0000-\u001f\u007f]/.test(p.slice(p.indexOf('?') + 1))) return undefined;
    p = p.slice(0, p.indexOf('?'));
  }
  if (raw === '*' && method === 'OPTIONS') return '*'; // asterisk-form (RFC 9112 §3.2.4)
  if (!p.startsWith('/')) return undefined;
  const lower = p.toLowerCase();
  if (lower.includes('%2f') || lower.includes('%5c') || /%[01][0-9a-f]|%7f/.test(lower) || p.includes('\\')) return undefined;
  for (const ch of p) if (ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f) return undefined;
  if (rules.parameters === 'reject' && (p.includes(';') || lower.includes('%3b'))) return undefined;
  let decoded = decodeUnreserved(p);
  while (decoded.includes('//')) decoded = decoded.replace('//', '/'); // merge slashes
  let out = removeDotSegments(decoded);
  if (out === '') out = '/';
  if (rules.nonCanonical === 'reject' && out !== p) return undefined; // the proxy forwards p as sent
  return out;
}

// ---- value matching (docs/policies.md "Policy shape and semantics") ----

/** Istio string forms: exact, "prefix*", "*suffix", "*" = any non-empty value; "*x*" = suffix "x*". */
export function istioMatch(pattern: string, value: string): boolean {
  if (pattern === '*') return value.length > 0;
  if (pattern.startsWith('*')) return value.endsWith(pattern.slice(1));
  if (pattern.endsWith('*')) return value.startsWith(pattern.slice(0, -1));
  return value === pattern;
}

/**
 * docs/policies.md "Request principals": the pattern splits at its last "/" into issuer and subject parts,
 * matched apart (a leading "*" read first). The value is "<iss>/<sub>"; the fuzz subjects hold no
 * "/", so it splits back at its last "/" exactly.
 */
function requestPrincipalMatch(pattern: string, value: string): boolean {
  const iss = value.slice(0, value.lastIndexOf('/'));
  const sub = value.slice(value.lastIndexOf('/') + 1);
  const at = pattern.lastIndexOf('/');
  const pIss = at < 0 ? pattern : pattern.slice(0, at);
  const pSub = at < 0 ? undefined : pattern.slice(at + 1);
  if (pattern === '*') return iss !== '' && sub !== '';
  if (pattern.startsWith('*')) {
    if (pSub === undefined) return iss !== '' && sub.endsWith(pattern.slice(1));
    return (pIss === '*' ? iss !== '' : iss.endsWith(pIss.slice(1))) && sub === pSub;
  }
  if (pattern.endsWith('*')) {
    if (pSub === undefined) return iss.startsWith(pattern.slice(0, -1)) && sub !== '';
    return iss === pIss && (pSub === '*' ? sub !== '' : sub.startsWith(pSub.slice(0, -1)));
  }
  return iss === pIss && sub === (pSub ?? '');
}

// Envoy uri_template globs: RFC 3986 pchar minus "/", plus "=" and (Envoy 1.35+) "*"; Istio hands
// "{*}" to Envoy as "*" = one or more of these, and "{**}" as "**" = zero or more of these or "/".
const SEGMENT_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~%!$&'()+,;:@=*";

/** Backtracking over template tokens: literal segments, "/", "{*}" and "{**}". */
function templateMatch(template: string, path: string): boolean {
  if (!path.startsWith('/')) return false;
  const tokens = template
    .slice(1)
    .split('/')
    .flatMap((seg, i) => (i === 0 ? [seg] : ['/', seg]));
  const at = (ti: number, si: number): boolean => {
    if (ti === tokens.length) return si === path.length;
    const tok = tokens[ti]!;
    if (tok === '{*}' || tok === '{**}') {
      const ok = (c: string) => SEGMENT_CHARS.includes(c) || (tok === '{**}' && c === '/');
      for (let k = si; ; k++) {
        if ((k > si || tok === '{**}') && at(ti + 1, k)) return true;
        if (k >= path.length || !ok(path[k]!)) return false;
      }
    }
    return path.startsWith(tok, si) && at(ti + 1, si + tok.length);
  };
  return at(0, 1);
}

function pathMatch(pattern: string, path: string): boolean {
  return pattern.includes('{') ? templateMatch(pattern, path) : istioMatch(pattern, path);
}

/**
 * docs/policies.md (hosts): lower case, one trailing dot and an empty or default (80, 443) port
 * dropped, leading zeros of a port dropped; undefined for a host that is malformed (bad port,
 * characters outside RFC 3986, empty name, unbracketed IPv6). `keepDefault`: the host as sent
 * (80 and 443 kept), which patterns naming a port are compared with.
 */
function oracleHost(raw: string, keepDefault = false): string | undefined {
  if (raw === '') return '';
  const m = /^(\[[0-9a-f:.]+\]|[a-z0-9\-._~%!$&'()*+,;=]+)(?::([0-9]*))?$/.exec(raw.toLowerCase());
  if (!m) return undefined;
  let name = m[1]!;
  if (!name.startsWith('[')) {
    if (name.endsWith('.')) name = name.slice(0, -1);
    if (name === '' || name.endsWith('.')) return undefined;
  }
  const port = m[2];
  if (port === undefined || port === '') return name;
  const n = Number(port);
  if (port.length > 5 || n < 1 || n > 65535) return undefined;
  return !keepDefault && (n === 80 || n === 443) ? name : `${name}:${n}`;
}

/** Patterns take the host form too; `name:*` is `name` (which already matches every port). */
function oraclePattern(pattern: string): string {
  const p = pattern.toLowerCase().replace(/(.):\*$/, '$1');
  return oracleHost(p) ?? p;
}

/**
 * docs/policies.md "Where a match admits": a pattern naming a port (`x:443`, `*:443`) in the as-sent form,
 * compared with the host as sent; undefined for other patterns.
 */
function oraclePortPattern(pattern: string): string | undefined {
  const m = /^(.+):([0-9]+)$/.exec(pattern.toLowerCase());
  if (!m) return undefined;
  const name = m[1]!.length > 1 && m[1]!.endsWith('.') && !m[1]!.startsWith('[') ? m[1]!.slice(0, -1) : m[1]!;
  if (!name.startsWith('[') && name.includes(':')) return undefined;
  const n = Number(m[2]);
  return m[2]!.length <= 5 && n >= 1 && n <= 65535 ? `${name}:${n}` : undefined;
}

/**
 * The loose reading (docs/policies.md "Where a match denies"): `host` (canonical) with and without its
 * port, or whatever the strict reading matches.
 */
function hostMatch(pattern: string, host: string, sent: string): boolean {
  const values = [host];
  const m = /^(.+):([0-9]+)$/.exec(host);
  if (m) values.push(m[1]!);
  return values.some((v) => v !== '' && istioMatch(oraclePattern(pattern), v)) || hostMatchStrict(pattern, host, sent);
}

/**
 * The strict host reading (docs/policies.md "Where a match admits"): a pattern naming a port against the
 * host as sent; any other the canonical host only, as Istio compares :authority; `name:*` is
 * the name with or without a port.
 */
function hostMatchStrict(pattern: string, host: string, sent: string): boolean {
  if (host === '') return false;
  const withPort = oraclePortPattern(pattern);
  if (withPort !== undefined) return istioMatch(withPort, sent);
  const p = oraclePattern(pattern);
  if (pattern.length > 2 && pattern.endsWith(':*')) {
    const m = /^(.+):([0-9]+)$/.exec(host);
    return istioMatch(p, host) || (m !== null && istioMatch(p, m[1]!));
  }
  return istioMatch(p, host);
}

const stripScheme = (s: string): string => (s.startsWith('spiffe://') ? s.slice(9) : s);

/**
 * Principals, docs/policies.md "Identity". Strict: Istio's "spiffe://" + pattern against the principal
 * as reported ("*": any principal). Loose: the pattern against the principal without a scheme of
 * any case, or as reported.
 */
function principalHit(patterns: string[], reported: string | undefined, loose: boolean): boolean {
  if (!reported) return false;
  const bare = patterns.map(stripScheme);
  if (loose) {
    const values = [reported.replace(/^spiffe:\/\//i, ''), reported];
    return bare.some((p) => values.some((v) => istioMatch(p, v)));
  }
  return bare.some((p) => (p === '*' ? true : reported.startsWith('spiffe://') && istioMatch(p, reported.slice(9))));
}

/** Namespaces: every "*" is any run of characters (Istio's srcNamespaceGenerator). */
function globMatch(pattern: string, value: string): boolean {
  const re = pattern
    .split('*')
    .map((x) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('[\\s\\S]*');
  return value !== '' && new RegExp(`^${re}$`).test(value);
}

/**
 * docs/policies.md "Identity": only the exact SPIFFE ID spiffe://<td>/ns/<N>/sa/<S> (lower-case scheme,
 * SPIFFE ID characters, no empty, "." or ".." segment) has a namespace.
 */
function peerNamespace(reported: string | undefined): string | undefined {
  if (!reported || !reported.startsWith('spiffe://')) return undefined;
  const parts = reported.slice('spiffe://'.length).split('/');
  if (parts.length !== 5 || parts[1] !== 'ns' || parts[3] !== 'sa') return undefined;
  if (!/^[a-z0-9._-]+$/.test(parts[0]!)) return undefined;
  if ([parts[2]!, parts[4]!].some((x) => !/^[A-Za-z0-9._-]+$/.test(x) || x === '.' || x === '..')) return undefined;
  return parts[2];
}

/** Istio's namespaces regex over the whole reported principal: ".*" + "/ns/" + N ("*" = ".*") + "/" + ".*". */
function istioNamespaceRegex(pattern: string, reported: string): boolean {
  const n = pattern
    .split('*')
    .map((x) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('[\\s\\S]*');
  return new RegExp(`^[\\s\\S]*/ns/${n}/[\\s\\S]*$`).test(reported);
}

/**
 * docs/policies.md "Remote IP", numTrustedProxies 0 (the fuzzed configuration): the peer address when it is
 * a plain IP, else none. IPv4-mapped IPv6 is compared as IPv4.
 */
function oracleRemoteIp(address: string | undefined): number[] | undefined {
  if (!address) return undefined;
  const v4 = /^(?:::ffff:)?(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/i.exec(address);
  if (!v4) return undefined;
  const parts = v4.slice(1).map(Number);
  if (parts.some((x, i) => x > 255 || (v4[i + 1]!.length > 1 && v4[i + 1]!.startsWith('0')))) return undefined;
  return parts;
}

/** IPv4 CIDRs only (the fuzzed patterns are IPv4). */
function inBlock(block: string, ip: number[]): boolean {
  const [net, bits] = block.includes('/') ? [block.split('/')[0]!, Number(block.split('/')[1])] : [block, 32];
  const n = net.split('.').map(Number);
  const toInt = (a: number[]) => ((a[0]! << 24) | (a[1]! << 16) | (a[2]! << 8) | a[3]!) >>> 0;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return (toInt(n) & mask) === (toInt(ip) & mask);
}

/**
 * docs/policies.md "Trust domains" with the default bundle (cluster.local): Istio's prefix spiffe://td/
 * on the principal as reported; "*" any spiffe:// principal; "p*" / "*s" on the segment.
 */
function trustDomainHit(patterns: string[], reported: string | undefined): boolean {
  if (!reported || !reported.startsWith('spiffe://')) return false;
  const rest = reported.slice('spiffe://'.length);
  const seg = rest.includes('/') ? rest.slice(0, rest.indexOf('/')) : undefined;
  return patterns.some((p) =>
    p === '*'
      ? true
      : seg === undefined
        ? false
        : p.startsWith('*')
          ? seg.endsWith(p.slice(1))
          : p.endsWith('*')
            ? seg.startsWith(p.slice(0, -1))
            : seg === p,
  );
}

/** Remote-IP fields: an undeterminable remote IP fails an ALLOW's and matches a DENY's, negated or not. */
function remoteHit(patterns: string[] | undefined, ip: number[] | undefined, negated: boolean, action: 'ALLOW' | 'DENY'): boolean {
  if (patterns === undefined) return true;
  if (ip === undefined) return action === 'DENY';
  const hit = patterns.some((b) => inBlock(b, ip));
  return negated ? !hit : hit;
}

// ---- evaluation ----

interface Facts {
  /** Upper-cased. */
  method: string;
  methodAsSent: string;
  path: string;
  host: string;
  /** The host as sent (a default port kept). */
  hostAsSent: string;
  port: string | undefined;
  principal: string | undefined;
  /** The principal as Envoy reported it (Istio's regexes read this). */
  reported: string | undefined;
  namespace: string | undefined;
  requestPrincipal: string | undefined;
  remoteIp: number[] | undefined;
}

/** A field with values ORed; with no value present, a positive field fails and a negated one passes. */
function field(
  patterns: string[] | undefined,
  value: string | undefined,
  match: (p: string, v: string) => boolean,
  negated = false,
): boolean {
  if (patterns === undefined) return true;
  const hit = value !== undefined && value !== '' && patterns.some((p) => match(p, value));
  return negated ? !hit : hit;
}

/**
 * Namespace match, docs/policies.md "Identity": the strict reading (exact SPIFFE ID) where a match
 * lets a request through, the strict reading OR Istio's regex where a match denies.
 */
function namespaceHit(patterns: string[], f: Facts, loose: boolean): boolean {
  const strict = f.namespace !== undefined && patterns.some((p) => globMatch(p, f.namespace!));
  return strict || (loose && f.reported !== undefined && patterns.some((p) => istioNamespaceRegex(p, f.reported!)));
}

function sourceMatches(s: OracleSource, f: Facts, action: 'ALLOW' | 'DENY'): boolean {
  return (
    (s.principals === undefined || principalHit(s.principals, f.reported, action === 'DENY')) &&
    (s.notPrincipals === undefined || !principalHit(s.notPrincipals, f.reported, action === 'ALLOW')) &&
    (s.namespaces === undefined || namespaceHit(s.namespaces, f, action === 'DENY')) &&
    (s.notNamespaces === undefined || !namespaceHit(s.notNamespaces, f, action === 'ALLOW')) &&
    field(s.requestPrincipals, f.requestPrincipal, requestPrincipalMatch) &&
    remoteHit(s.remoteIpBlocks, f.remoteIp, false, action) &&
    remoteHit(s.notRemoteIpBlocks, f.remoteIp, true, action) &&
    (s.trustDomains === undefined || trustDomainHit(s.trustDomains, f.reported)) &&
    (s.notTrustDomains === undefined || !trustDomainHit(s.notTrustDomains, f.reported))
  );
}

/** Methods: strict = as sent, case-sensitive (Envoy); loose = case-insensitive. */
function methodHit(patterns: string[], f: Facts, loose: boolean): boolean {
  return loose ? patterns.some((p) => istioMatch(p.toUpperCase(), f.method)) : patterns.some((p) => istioMatch(p, f.methodAsSent));
}

function operationMatches(o: OracleOperation, f: Facts, action: 'ALLOW' | 'DENY'): boolean {
  return (
    (o.methods === undefined || methodHit(o.methods, f, action === 'DENY')) &&
    (o.notMethods === undefined || !methodHit(o.notMethods, f, action === 'ALLOW')) &&
    field(o.paths, f.path, pathMatch) &&
    field(o.notPaths, f.path, pathMatch, true) &&
    (o.hosts === undefined ||
      o.hosts.some((h) => (action === 'DENY' ? hostMatch(h, f.host, f.hostAsSent) : hostMatchStrict(h, f.host, f.hostAsSent)))) &&
    field(o.ports, f.port, (p, v) => p === v)
  );
}

function ruleMatches(r: OracleRule, f: Facts, action: 'ALLOW' | 'DENY'): boolean {
  const fromOk = !r.from || r.from.length === 0 || r.from.some((x) => sourceMatches(x.source, f, action));
  const toOk = !r.to || r.to.length === 0 || r.to.some((x) => operationMatches(x.operation, f, action));
  return fromOk && toOk;
}

function applies(p: OraclePolicy, req: OracleRequest): boolean {
  if (p.namespace !== undefined && p.namespace !== req.destinationNamespace) return false;
  for (const [k, v] of Object.entries(p.selector?.matchLabels ?? {})) if (req.destinationLabels[k] !== v) return false;
  return true;
}

export function oracleDecide(policies: readonly OraclePolicy[], req: OracleRequest, rules: OraclePathRules = REJECT_BOTH): OracleVerdict {
  if (!validMethod(req.method)) return { kind: 'malformed' };
  const path = oraclePath(req.method, req.path, rules);
  if (path === undefined) return { kind: 'malformed' };
  const host = oracleHost(req.host);
  if (host === undefined) return { kind: 'malformed' };
  if (req.requestPrincipal === 'invalid') return { kind: 'bad_credential' };
  const principal = req.principal ? stripScheme(req.principal) : undefined;
  const facts: Facts = {
    method: req.method.toUpperCase(),
    methodAsSent: req.method,
    path,
    host,
    hostAsSent: oracleHost(req.host, true)!,
    port: req.port === undefined ? undefined : String(req.port),
    principal,
    reported: req.principal || undefined,
    namespace: peerNamespace(req.principal),
    requestPrincipal: req.requestPrincipal,
    remoteIp: oracleRemoteIp(req.sourceAddress),
  };
  const allowMatches: string[] = [];
  const denyMatches: string[] = [];
  for (const p of policies) {
    if (!applies(p, req)) continue;
    if (!(p.rules ?? []).some((r) => ruleMatches(r, facts, p.action))) continue;
    (p.action === 'DENY' ? denyMatches : allowMatches).push(p.name);
  }
  return { kind: 'decided', allow: denyMatches.length === 0 && allowMatches.length > 0, allowMatches, denyMatches };
}
