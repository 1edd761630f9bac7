// fast-check generators shared by the fuzz tests (test/unit/*/fuzz-*.test.ts), and their run settings.
//
// Two kinds of generators:
//  - small alphabets (policies, paths, hosts, principals) so that random policies and random
//    requests actually match each other: a property that only ever sees denies proves nothing;
//  - adversarial values: control characters, lone surrogates, invalid UTF-8, huge and deeply
//    nested JSON, giant paths, odd methods.
//
// Runs: FUZZ_RUNS (set by `npm run fuzz`) scales every property; without it each property runs
// its bounded CI default. FUZZ_SEED (and FUZZ_PATH) replay a failure fast-check reported.
import fc from 'fast-check';
import type { OraclePolicy, OracleRule, OracleSource, OracleOperation } from './policy-oracle.js';

// ---------------------------------------------------------------------------------------------
// Run settings

/** Runs for one property: `ciRuns` in the bounded CI run, FUZZ_RUNS × weight under `npm run fuzz`. */
export function fuzzRuns(ciRuns: number, weight = 1): number {
  const env = process.env.FUZZ_RUNS;
  if (!env) return ciRuns;
  const n = Number(env);
  if (!Number.isFinite(n) || n < 1) throw new Error(`FUZZ_RUNS=${env} is not a positive number`);
  return Math.max(1, Math.round(n * weight));
}

/** fc.assert parameters: runs, plus FUZZ_SEED / FUZZ_PATH to replay a reported failure. */
export function fuzzParams<T>(ciRuns: number, weight = 1): fc.Parameters<T> {
  const params: fc.Parameters<T> = { numRuns: fuzzRuns(ciRuns, weight), includeErrorInReport: true };
  if (process.env.FUZZ_SEED) params.seed = Number(process.env.FUZZ_SEED);
  if (process.env.FUZZ_PATH) params.path = process.env.FUZZ_PATH;
  return params;
}

// ---------------------------------------------------------------------------------------------
// Characters and strings

const codeUnit = (min: number, max: number): fc.Arbitrary<string> => fc.integer({ min, max }).map((c) => String.fromCharCode(c));

/** One "character" from every class that tends to break things. */
export const nastyChar: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: codeUnit(0x20, 0x7e) },
  { weight: 2, arbitrary: fc.constantFrom('\r', '\n', '\0', '\t', '\x7f', '\x1b', '\r\n', '\v') },
  { weight: 1, arbitrary: codeUnit(0x80, 0xff) }, // Latin-1 (obs-text when sent as bytes)
  { weight: 1, arbitrary: codeUnit(0x100, 0xd7ff) }, // BMP above Latin-1
  { weight: 1, arbitrary: codeUnit(0xd800, 0xdfff) }, // lone surrogate: not well-formed UTF-16
  { weight: 1, arbitrary: fc.constantFrom('😀', '\u{10ffff}', '\ufeff', '\u2028', '\u0130', 'ſ', 'K') }, // astral, BOM, separators, case-folding traps
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '%',
      '%2f',
      '%2F',
      '%00',
      '%5c',
      '%2e',
      '%2e%2e',
      '%61',
      '%zz',
      '..',
      '/',
      '\\',
      '?',
      '#',
      ',',
      ';',
      '=',
      '"',
      ':',
      '@',
      '*',
    ),
  },
);

/** Strings of nasty characters, up to maxLength units (a few huge ones via hugeString). */
export function nastyString(maxLength = 64): fc.Arbitrary<string> {
  return fc.string({ unit: nastyChar, maxLength });
}

/** One character repeated: up to `max` long (giant headers, paths, tokens). */
export function hugeString(
  min: number,
  max: number,
  chars: fc.Arbitrary<string> = fc.constantFrom('a', '/', '%41', 'é', '\u4e00'),
): fc.Arbitrary<string> {
  return fc.tuple(chars, fc.integer({ min, max })).map(([c, n]) => c.repeat(Math.ceil(n / c.length)).slice(0, Math.max(n, 1)));
}

/** Byte sequences that are not valid UTF-8. */
export const invalidUtf8: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.constantFrom(
    Uint8Array.of(0xff),
    Uint8Array.of(0xfe, 0xff),
    Uint8Array.of(0xc0, 0x80), // overlong NUL
    Uint8Array.of(0xc0, 0xaf), // overlong '/'
    Uint8Array.of(0xe0, 0x80, 0xaf), // overlong '/'
    Uint8Array.of(0xed, 0xa0, 0x80), // UTF-8-encoded surrogate
    Uint8Array.of(0xe2, 0x82), // truncated sequence
    Uint8Array.of(0xf4, 0x90, 0x80, 0x80), // above U+10FFFF
    Uint8Array.of(0x80), // lone continuation byte
    Uint8Array.of(0xf8, 0x88, 0x80, 0x80, 0x80), // 5-byte form
  ),
  fc.uint8Array({ minLength: 1, maxLength: 8 }).map((b) => Uint8Array.from(b, (x) => x | 0x80)),
);

/** `text` as UTF-8 with invalid sequences spliced in at random places. */
export function withInvalidUtf8(text: fc.Arbitrary<string>): fc.Arbitrary<Buffer> {
  return fc.tuple(text, fc.array(fc.tuple(fc.nat(), invalidUtf8), { minLength: 1, maxLength: 3 })).map(([s, cuts]) => {
    let buf = Buffer.from(s, 'utf8');
    for (const [at, bad] of cuts) {
      const i = buf.length ? at % (buf.length + 1) : 0;
      buf = Buffer.concat([buf.subarray(0, i), bad, buf.subarray(i)]);
    }
    return buf;
  });
}

// ---------------------------------------------------------------------------------------------
// JSON and tokens

/** JSON text nested `depth` levels deep (arrays, objects or a mix). */
export const deepJsonText: fc.Arbitrary<string> = fc
  .tuple(fc.integer({ min: 10, max: 5000 }), fc.constantFrom('array', 'object', 'mixed'))
  .map(([depth, kind]) => {
    const open = kind === 'array' ? '[' : kind === 'object' ? '{"a":' : '[{"a":';
    const close = kind === 'array' ? ']' : kind === 'object' ? '}' : '}]';
    const n = kind === 'mixed' ? Math.ceil(depth / 2) : depth;
    return `${open.repeat(n)}1${close.repeat(n)}`;
  });

/** A JSON value nested `depth` levels (for claims that must still fit in a signed token). */
export const deepJsonValue: fc.Arbitrary<unknown> = fc.tuple(fc.integer({ min: 1, max: 1200 }), fc.boolean()).map(([depth, arrays]) => {
  let v: unknown = 'x';
  for (let i = 0; i < depth; i++) v = arrays ? [v] : { a: v };
  return v;
});

const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64url');

/** Texts that are not what a JWT segment should hold. */
export const junkJsonText: fc.Arbitrary<string> = fc.oneof(
  deepJsonText,
  hugeString(1000, 6000).map((s) => JSON.stringify({ iss: s, sub: s })),
  fc.constantFrom(
    '',
    'not json',
    '{',
    '[]',
    '1',
    'null',
    'true',
    '"str"',
    '{"alg":1}',
    '{"alg":null}',
    '{"alg":"none"}',
    '{"alg":"HS256"}',
    '{"alg":"ES256","kid":{}}',
    '{"iss":1}',
    '{"iss":null}',
    '{"iss":[]}',
    '{"__proto__":{"alg":"none"}}',
    '\ufeff{}',
    '{"a":1}garbage',
  ),
  fc.json({ depthSize: 'small' }),
  nastyString(40),
);

/** base64url segments, junk included (but never a valid signature for our keys). */
export function junkToken(iss: string): fc.Arbitrary<string> {
  const header = fc.oneof(
    fc
      .constantFrom(
        { alg: 'ES256', kid: 'fz' },
        { alg: 'none' },
        { alg: 'HS256', kid: 'fz' },
        { alg: 'RS256' },
        { alg: 'ES256', kid: 'fz', crit: ['x'] },
      )
      .map((h) => JSON.stringify(h)),
    junkJsonText,
  );
  const payload = fc.oneof(
    fc.constantFrom(JSON.stringify({ iss, sub: 'alice', exp: 4102444800 }), JSON.stringify({ iss, sub: 'bob', exp: 1 })),
    junkJsonText,
  );
  const sig = fc.oneof(
    fc.constant(''),
    fc.uint8Array({ minLength: 1, maxLength: 96 }).map((b) => b64(Buffer.from(b))),
  );
  return fc.oneof(
    fc.tuple(header, payload, sig).map(([h, p, s]) => `${b64(h)}.${b64(p)}.${s}`),
    // shapes the compact-JWS check must refuse
    fc.constantFrom('a.b', 'a..c', '.b.c', 'a.b.c.d', 'a.b.c d', 'a.b.c,d.e.f', 'Bearer a.b.c', '=.=.=', 'a+b.c/d.e'),
    nastyString(80),
  );
}

/** Claims for a token signed with a trusted key: valid issuer, adversarial everything else. */
export function adversarialClaims(iss: string): fc.Arbitrary<Record<string, unknown>> {
  const now = Math.floor(Date.now() / 1000);
  const weird: fc.Arbitrary<unknown> = fc.oneof(
    nastyString(40),
    fc.constantFrom('', ' ', 'a b', 'a,b', 'x\r\ny: z', '\ud800', 'é', '山田', null, 0, -1, 1e308, true, [], {}, ['a', 1, null, {}], {
      a: 'b',
    }),
    deepJsonValue,
    hugeString(100, 3000),
    fc.array(nastyString(10), { maxLength: 20 }),
  );
  return fc
    .record(
      {
        sub: fc.oneof({ weight: 3, arbitrary: fc.constantFrom('alice', 'bob') }, { weight: 2, arbitrary: weird }),
        aud: weird,
        scope: fc.oneof(fc.constantFrom('read', 'read write', ' read  write '), weird),
        scp: weird,
        azp: weird,
        acr: weird,
        amr: weird,
        roles: weird,
        nested: weird,
        exp: fc.oneof(
          { weight: 4, arbitrary: fc.constant(now + 600) },
          { weight: 1, arbitrary: fc.constantFrom(now - 600, 0, -1, 1e308, '9999999999', null, now + 0.5) },
        ),
        nbf: fc.oneof({ weight: 4, arbitrary: fc.constant(now - 10) }, { weight: 1, arbitrary: fc.constantFrom(now + 600, 'x', -1e308) }),
        iat: fc.oneof({ weight: 4, arbitrary: fc.constant(now - 10) }, { weight: 1, arbitrary: fc.constantFrom(now + 600, 'x') }),
      },
      { requiredKeys: ['sub', 'exp'] },
    )
    .map((c) => ({ iss, ...c }));
}

// ---------------------------------------------------------------------------------------------
// Request pieces

export const oddMethod: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    'GET',
    'POST',
    'get',
    'Get',
    'OPTIONS',
    'BREW',
    'M-SEARCH',
    'PROPFIND',
    'CONNECT',
    'TRACE',
    'G E T',
    'GET\r\nX: y',
    '',
    ' ',
    'GЕT',
    'A'.repeat(33),
    'A'.repeat(32),
    '*',
    'GET/1.1',
    '\0',
  ),
  fc.string({ unit: codeUnit(0x21, 0x7e), minLength: 1, maxLength: 40 }),
  nastyString(12),
);

export const oddHost: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    'orders',
    'ORDERS',
    'orders:8080',
    'orders:',
    ':8080',
    'orders.',
    '[::1]',
    '[::1]:443',
    '127.0.0.1',
    'a@b',
    'a b',
    'évil.example',
    'xn--e1afmkfd',
    '',
    'orders:99999999999999999999',
  ),
  nastyString(40),
  hugeString(100, 20000),
);

/** Paths of every kind: plausible, dot-segmented, encoded, forbidden, giant, random. */
export const oddPath: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '/',
    '*',
    '',
    'relative',
    '//x',
    '/a/../../../etc/passwd',
    '/%2e%2e/a',
    '/a%2fb',
    '/a%5cb',
    '/a\\b',
    '/a%00',
    '/a\0b',
    '/a\r\nb',
    '/%zz',
    '/%',
    '/a?b#c',
    '/a#b?c',
    'http://h/x',
    '/%C0%AF',
    '/\u4e00',
    '/\ud800',
  ),
  fc
    .array(fc.constantFrom('a', 'b', '.', '..', '', '%61', '%2e', '%2E%2E', 'x?y', 'é', '%ff'), { maxLength: 8 })
    .map((segs) => `/${segs.join('/')}`),
  fc.tuple(fc.constant('/'), nastyString(60)).map(([a, b]) => a + b),
  hugeString(16000, 70000).map((s) => `/${s}`),
);

/** Header names: tokens, upper case, pseudo-headers, and names no HTTP parser would accept. */
export const oddHeaderName: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-_'), minLength: 1, maxLength: 20 })
      .map((s) => `x-fz-${s}`),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      'X-FZ-Upper',
      ':path',
      ':authority',
      ':method',
      'host',
      'content-length',
      'transfer-encoding',
      'cookie',
      'x-request-id',
      'x-forwarded-client-cert',
      'x-auth-subject',
      '__proto__',
      'constructor',
      'toString',
      'hasOwnProperty',
    ),
  },
  { weight: 1, arbitrary: nastyString(20).filter((s) => s.length > 0) },
);

export const oddHeaderValue: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: nastyString(60) },
  { weight: 1, arbitrary: hugeString(1000, 70000) },
);

// ---------------------------------------------------------------------------------------------
// Small-alphabet policies and requests for the oracle property (fuzz-decide)

export const PRINCIPALS = [
  'cluster.local/ns/shop/sa/frontend',
  'cluster.local/ns/shop/sa/admin',
  'cluster.local/ns/pay/sa/frontend',
  'other.td/ns/shop/sa/frontend',
];
const principalPattern = fc.constantFrom(
  ...PRINCIPALS,
  'spiffe://cluster.local/ns/shop/sa/admin',
  'cluster.local/ns/shop/*',
  '*/sa/frontend',
  '*',
  'cluster.local/ns/pay/sa/frontend',
);
const namespacePattern = fc.constantFrom('shop', 'pay', 'sh*', '*p', '*', 's*op');
const requestPrincipalPattern = (issuers: readonly string[]) =>
  // The last four tell Istio's split at the last "/" from a prefix match of "<iss>/<sub>": issuer exactly + subject prefix,
  // issuer suffix + exact subject, issuer exactly "https:/" (matches no token), any issuer + subject suffix.
  fc.constantFrom(
    ...issuers.flatMap((i) => [`${i}/alice`, `${i}/*`]),
    '*/bob',
    '*',
    `${issuers[0]}/bob`,
    `${issuers[0]}/al*`,
    '*a.test/bob',
    'https://a*',
    '*ce',
  );
const methodPattern = fc.constantFrom('GET', 'POST', 'DELETE', 'G*', '*');
const pathPattern = fc.constantFrom(
  '/a',
  '/a/b',
  '/admin',
  '/a/*',
  '/admin*',
  '*/b',
  '*',
  '/a/{*}',
  '/{*}/b',
  '/a/{**}',
  '/',
  '/A',
  '*.json',
);
// '*:443' and 'orders:80' name a default port: strict, they admit only a host sent with it.
const hostPattern = fc.constantFrom(
  'orders',
  'ORDERS',
  'pay.example',
  '*.example',
  'ord*',
  'orders:8080',
  '*',
  'Orders.:443',
  'pay.example:*',
  '*:443',
  'orders:80',
);
const portPattern = fc.constantFrom('80', '8080');
const ipBlockPattern = fc.constantFrom('10.1.2.3', '10.0.0.0/8', '192.0.2.0/24', '0.0.0.0/0');
const trustDomainPattern = fc.constantFrom('cluster.local', 'other.td', '*', 'cluster.*', '*.td', '*local');

const some = <T>(a: fc.Arbitrary<T>) => fc.uniqueArray(a, { minLength: 1, maxLength: 3 });

/** A record with one or two of the given fields (more would rarely match anything). */
function fewFields<T extends object>(fields: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  const keys = Object.keys(fields) as Array<keyof T>;
  return fc
    .uniqueArray(fc.constantFrom(...keys), { minLength: 1, maxLength: 2 })
    .chain((chosen) => fc.record(Object.fromEntries(chosen.map((k) => [k, fields[k]])) as { [K in keyof T]: fc.Arbitrary<T[K]> }))
    .map((r) => r as T);
}

const sourceArb = (issuers: readonly string[]): fc.Arbitrary<OracleSource> =>
  fewFields<Required<OracleSource>>({
    principals: some(principalPattern),
    notPrincipals: some(principalPattern),
    namespaces: some(namespacePattern),
    notNamespaces: some(namespacePattern),
    requestPrincipals: some(requestPrincipalPattern(issuers)),
    remoteIpBlocks: some(ipBlockPattern),
    notRemoteIpBlocks: some(ipBlockPattern),
    trustDomains: some(trustDomainPattern),
    notTrustDomains: some(trustDomainPattern),
  });

const operationArb: fc.Arbitrary<OracleOperation> = fewFields<Required<OracleOperation>>({
  methods: some(methodPattern),
  notMethods: some(methodPattern),
  paths: some(pathPattern),
  notPaths: some(pathPattern),
  hosts: some(hostPattern),
  ports: some(portPattern),
});

const ruleArb = (issuers: readonly string[]): fc.Arbitrary<OracleRule> =>
  fc.record(
    {
      from: fc.array(
        sourceArb(issuers).map((source) => ({ source })),
        { minLength: 1, maxLength: 2 },
      ),
      to: fc.array(
        operationArb.map((operation) => ({ operation })),
        { minLength: 1, maxLength: 2 },
      ),
    },
    { requiredKeys: [] },
  );

/** 0–6 ALLOW/DENY policies over the small alphabet (names p0, p1, … in order). */
export function policySetArb(issuers: readonly string[]): fc.Arbitrary<OraclePolicy[]> {
  const policy = fc.record(
    {
      action: fc.constantFrom<'ALLOW' | 'DENY'>('ALLOW', 'ALLOW', 'ALLOW', 'DENY'),
      namespace: fc.option(fc.constantFrom('shop', 'pay'), { nil: undefined, freq: 3 }),
      selector: fc.option(
        fc.constantFrom<{ matchLabels: Record<string, string> }>(
          { matchLabels: { app: 'orders' } },
          { matchLabels: { app: 'orders', tier: 'web' } },
        ),
        { nil: undefined, freq: 3 },
      ),
      // No `rules` (matches nothing), `rules: [{}]` (matches everything), or 1–2 rules.
      rules: fc.oneof(
        { weight: 1, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: fc.constant<OracleRule[]>([{}]) },
        { weight: 8, arbitrary: fc.array(ruleArb(issuers), { minLength: 1, maxLength: 2 }) },
      ),
    },
    { requiredKeys: ['action'] },
  );
  return fc.array(policy, { maxLength: 6 }).map((ps) =>
    ps.map((p, i) => {
      const out: OraclePolicy = { name: `p${i}`, action: p.action };
      if (p.namespace !== undefined) out.namespace = p.namespace;
      if (p.selector !== undefined) out.selector = p.selector;
      if (p.rules !== undefined) out.rules = p.rules;
      else if (p.action === 'DENY') out.rules = []; // Istio rejects a DENY without `rules`; [] also matches nothing
      return out;
    }),
  );
}

export const smallMethod = fc.constantFrom('GET', 'GET', 'POST', 'DELETE', 'get', 'GEX', 'OPTIONS');
export const smallPath: fc.Arbitrary<string> = fc.oneof(
  // '/a/x=1' and '/a/b*': "=" and "*" are Envoy template glob characters ({*}/{**} match them).
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      '/a',
      '/a/b',
      '/admin',
      '/a/x',
      '/x/b',
      '/',
      '/A',
      '/a/b/c',
      '/adminx',
      '/f.json',
      '/a/',
      '/admin/',
      '/a/x=1',
      '/a/b*',
    ),
  },
  // Canonical paths, which policies can match; and odd segments, which non-canonical and
  // path-parameter handling must deny (paths.nonCanonical / paths.parameters). Kept apart so the
  // odd ones do not crowd out the allows the oracle comparison needs.
  {
    weight: 3,
    arbitrary: fc
      .tuple(
        fc.array(fc.constantFrom('a', 'b', 'admin', 'x', 'A', 'f.json'), { minLength: 1, maxLength: 4 }),
        fc.constantFrom('', '', '?q=1', '?a/../admin', '#frag', '/'),
      )
      .map(([segs, tail]) => `/${segs.join('/')}${tail}`),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.array(fc.constantFrom('a', 'b', 'admin', 'x', '.', '..', '', '%61', '%2e', '%2E%2E', 'A', 'f.json', 'x;y'), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.constantFrom('', '', '?q=1', '?a/../admin', '#frag', '/'),
      )
      .map(([segs, tail]) => `/${segs.join('/')}${tail}`),
  },
  { weight: 1, arbitrary: fc.constantFrom('*', 'a', '', '/a\\b', '/a%00', '/a%2fb', '/a/%2F..') },
);
export const smallHost = fc.constantFrom(
  'orders',
  'Orders',
  'ORDERS:8080',
  'orders:8080',
  'pay.example',
  'PAY.example',
  'x.example:443',
  'other',
  'orders:abc',
  '[::1]:8080',
  'orders.',
  'orders:',
  'Orders.:08080',
  'pay.example.:80',
  'orders:443',
  'ORDERS.:0080',
);
export const smallPort = fc.constantFrom(80, 8080, 443, undefined);
// Besides exact SPIFFE IDs: shapes that have no namespace (bare, Subject, upper-case scheme, extra
// or empty segments) but that Istio's namespaces regex, and so a DENY, still reads as one.
export const smallPrincipal = fc.constantFrom(
  ...PRINCIPALS.map((p) => `spiffe://${p}`),
  PRINCIPALS[0],
  'spiffe://cluster.local/ns/shop/sa/frontend/extra',
  'spiffe://cluster.local//ns/pay/sa/frontend',
  'SPIFFE://cluster.local/ns/shop/sa/admin',
  'CN=mallory/ns/pay/sa/admin',
  'spiffe://cluster.local/ns/shop/sa/',
  undefined,
  undefined,
);
export const smallNamespace = fc.constantFrom('shop', 'pay', undefined);
export const smallLabels = fc.constantFrom<Record<string, string>>({}, { app: 'orders' }, { app: 'orders', tier: 'web' }, { app: 'pay' });
