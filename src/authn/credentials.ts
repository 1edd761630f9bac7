// Stage 2: find the credential. Strict on purpose: exactly one credential across every
// configured location, exactly `<prefix><compact JWS>` in a header, no comma-joined values
// (Envoy joins repeated headers with ","), no repeated query parameter or cookie.
import type { CheckInput, CredentialLocation } from '../decision/types.js';
import type { Reason } from '../decision/reasons.js';

export interface LocationSpec {
  headers: ReadonlyMap<string, readonly string[]>; // header name → accepted prefixes
  params: ReadonlySet<string>;
  cookies: ReadonlySet<string>;
  /**
   * Locations an introspection issuer reads: there a credential that is not a compact JWS is
   * accepted as an opaque token (RFC 6750 b64token characters) instead of being malformed.
   * `prefix`: the accepted prefix a header value started with. Another issuer may read the same
   * header with another prefix; a credential in that form is not the introspection issuer's and
   * must not reach its endpoint.
   */
  opaque?: (location: CredentialLocation, prefix: string | undefined) => boolean;
}

export type Extracted =
  | { kind: 'none' }
  /** `opaque`: not a compact JWS, accepted because an introspection issuer reads this location (and `prefix`, for a header). */
  | { kind: 'one'; token: string; location: CredentialLocation; opaque?: true; prefix?: string }
  | { kind: 'error'; reason: Reason; detail: string };

/** RFC 6750 §2.1 b64token: the characters an opaque Bearer token may hold. */
const OPAQUE_TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** base64url header . base64url payload . base64url signature (may be empty: alg none, rejected later). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

interface Found {
  raw: string;
  location: CredentialLocation;
  prefixes?: readonly string[];
  /**
   * A parameter or cookie whose name is not a configured one as sent, but reads as one once
   * percent-decoded or case-folded (`access%5Ftoken`, `Access_Token`). The proxy removes
   * parameters by their exact name as sent (Envoy `query_parameters_to_remove`) and the cookie
   * rewrite drops exact names, while an upstream that decodes names, or reads them ignoring case
   * (ASP.NET), takes it as the credential. It is never accepted, and never forwarded as an
   * anonymous request either: extractCredential denies it. `location.name` is the name as sent,
   * so observe mode strips exactly that parameter or cookie.
   */
  lookalike?: string;
}

/** Every value in a configured credential location (before any prefix or shape check). */
function collect(input: CheckInput, spec: LocationSpec): Found[] {
  const found: Found[] = [];

  for (const [name, prefixes] of spec.headers) {
    const value = input.headers[name];
    if (value === undefined) continue;
    found.push({ raw: value, location: { type: 'header', name }, prefixes });
  }
  if (spec.params.size > 0 && input.query) {
    for (const [name, value] of queryPairs(input.query)) {
      // Raw names only: a name is matched as the proxy will see it when asked to remove it.
      if (spec.params.has(name)) found.push({ raw: value, location: { type: 'param', name } });
      else {
        const like = lookalike(safeDecode(name), spec.params);
        if (like !== undefined) found.push({ raw: value, location: { type: 'param', name }, lookalike: like });
      }
    }
  }
  if (spec.cookies.size > 0 && input.headers.cookie) {
    for (const [name, value] of cookiePairs(input.headers.cookie)) {
      if (spec.cookies.has(name)) found.push({ raw: value, location: { type: 'cookie', name } });
      else {
        const like = lookalike(safeDecode(name, false), spec.cookies);
        if (like !== undefined) found.push({ raw: value, location: { type: 'cookie', name }, lookalike: like });
      }
    }
  }
  return found;
}

/** The configured name that a name not itself configured reads as once decoded or case-folded. */
function lookalike(decoded: string, names: ReadonlySet<string>): string | undefined {
  if (names.has(decoded)) return decoded;
  const folded = decoded.toLowerCase();
  for (const n of names) if (n.toLowerCase() === folded) return n;
  return undefined;
}

/**
 * Where the request carries something presented as a credential: a configured parameter or
 * cookie, or a configured header that starts with an accepted prefix (a `Basic …` in the same
 * header is not ours). Used to strip credentials that were not verified (observe mode). An
 * encoded or case variant of a parameter or cookie name is listed by its name as sent, the
 * name the proxy (Envoy) and the cookie rewrite compare.
 */
export function credentialLocations(input: CheckInput, spec: LocationSpec): CredentialLocation[] {
  return collect(input, spec)
    .filter((f) => !f.prefixes || presentsPrefix(f.raw, f.prefixes))
    .map((f) => f.location);
}

/**
 * Whether any element of a (possibly merged, comma-joined) header value starts with an accepted
 * prefix, ignoring case: upstreams read the auth scheme case-insensitively (RFC 9110 §11.1), so
 * `bearer <forged>` or `Basic x, Bearer <forged>` must count as presented credentials too.
 */
function presentsPrefix(raw: string, prefixes: readonly string[]): boolean {
  const lowered = prefixes.map((p) => p.toLowerCase());
  return raw.split(',').some((el) => {
    const e = el.trimStart().toLowerCase();
    return lowered.some((p) => e.startsWith(p));
  });
}

export function extractCredential(input: CheckInput, spec: LocationSpec, maxTokenBytes: number): Extracted {
  const found = collect(input, spec);
  if (found.length === 0) return { kind: 'none' };
  const like = found.find((f) => f.lookalike !== undefined);
  if (like) {
    // Only the configured name is reported: the name as sent is client text.
    return {
      kind: 'error',
      reason: 'token_malformed',
      detail: `a ${like.location.type} name is an encoded or case variant of ${like.location.type} ${like.lookalike}; only the exact name is accepted (the proxy removes credentials by exact name)`,
    };
  }
  if (found.length > 1) {
    return {
      kind: 'error',
      reason: 'token_multiple',
      detail: `credentials found in ${found.map((f) => `${f.location.type} ${f.location.name}`).join(', ')}`,
    };
  }
  const only = found[0]!;
  let token = only.raw;
  const where = `${only.location.type} ${only.location.name}`;
  let prefix: string | undefined;
  if (only.prefixes) {
    // A comma can never be part of a JWT: it means Envoy merged repeated headers.
    if (token.includes(',')) return { kind: 'error', reason: 'token_multiple', detail: `${where} holds more than one value` };
    prefix = only.prefixes.find((p) => token.startsWith(p));
    if (prefix === undefined) {
      return { kind: 'error', reason: 'token_malformed', detail: `${where} does not start with an accepted prefix` };
    }
    token = token.slice(prefix.length);
  }
  if (token.length > maxTokenBytes) {
    return { kind: 'error', reason: 'token_too_large', detail: `token is ${token.length} bytes, limit ${maxTokenBytes}` };
  }
  // A JWT is exactly three base64url segments; anything else is opaque, introspected where an
  // introspection issuer reads this location. A three-segment token is never opaque: it is
  // verified as a JWT (or malformed), so a forged JWT cannot be routed around local verification.
  if (!COMPACT_JWS.test(token) && spec.opaque?.(only.location, prefix) && OPAQUE_TOKEN.test(token)) {
    return { kind: 'one', token, location: only.location, opaque: true, ...(prefix !== undefined ? { prefix } : {}) };
  }
  if (!COMPACT_JWS.test(token) || !canonicalSegments(token)) {
    return { kind: 'error', reason: 'token_malformed', detail: `${where} is not a compact JWS (three base64url segments)` };
  }
  return { kind: 'one', token, location: only.location };
}

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * Canonical base64url only (RFC 4648 §3.5: unused trailing bits are zero). Decoders ignore those
 * bits, so without this check one signed token has several spellings that all verify, each with
 * its own SHA-256: the token hash (cache key, audit `token_hash`) would not identify the token,
 * and a denylist by hash could be sidestepped. Only the signature segment matters for tokens that
 * verify (header and payload are signed as text), but every segment is held to it. Found by
 * test/unit/transport/fuzz-grpc.test.ts: a flipped low bit in the signature's last character still verified.
 * O(1) per segment: only the last character carries unused bits.
 */
function canonicalSegments(token: string): boolean {
  let start = 0;
  for (;;) {
    const dot = token.indexOf('.', start);
    const end = dot < 0 ? token.length : dot;
    const rem = (end - start) % 4;
    // rem 1 encodes no byte string; the signature check rejects it (the signing input is the text).
    if (rem > 1) {
      const v = B64URL.indexOf(token[end - 1]!);
      if ((v & (rem === 2 ? 0x0f : 0x03)) !== 0) return false;
    }
    if (dot < 0) return true;
    start = dot + 1;
  }
}

function* queryPairs(query: string): Generator<[string, string]> {
  for (const part of query.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const rawName = eq < 0 ? part : part.slice(0, eq);
    const rawValue = eq < 0 ? '' : part.slice(eq + 1);
    yield [rawName, safeDecode(rawValue)];
  }
}

/**
 * Cookie pairs split on ";" and also ",": a cookie value never holds a comma (RFC 6265 §4.1.1
 * cookie-octet), and Envoy's CheckRequest `headers` map joins repeated `cookie` headers with ",",
 * so `cookie: a=1` + `cookie: session=<forged>` arrives as "a=1,session=<forged>".
 */
function* cookiePairs(header: string): Generator<[string, string]> {
  for (const part of header.split(/[;,]/)) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    yield [part.slice(0, eq).trim(), part.slice(eq + 1).trim()];
  }
}

function safeDecode(s: string, plusIsSpace = true): string {
  try {
    return decodeURIComponent(plusIsSpace ? s.replace(/\+/g, ' ') : s);
  } catch {
    return s; // undecodable: keep raw, later checks reject it
  }
}
