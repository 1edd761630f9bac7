import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizePath, normalizeRequest } from '../../../src/decision/normalize.js';
import type { PathRules } from '../../../src/config/types.js';

test('paths are normalized before matching (dot segments, merged slashes, unreserved escapes)', () => {
  const cases: Array<[string, string | undefined]> = [
    ['/orders/1', '/orders/1'],
    ['/public/../admin/x', '/admin/x'],
    ['/a/./b/', '/a/b/'],
    ['/a/b/..', '/a/'],
    ['/../../etc', '/etc'],
    ['//admin///x', '/admin/x'],
    ['/%61dmin/%7Euser', '/admin/~user'],
    ['/%2e%2e/admin', '/admin'],
    ['/a%20b', '/a%20b'],
    ['/admin%2fx', undefined],
    ['/admin%5Cx', undefined],
    ['/admin\\x', undefined],
    ['/a%00', undefined],
    ['/a\u0007', undefined],
    ['/', '/'],
  ];
  for (const [raw, want] of cases) assert.equal(normalizePath(raw), want, raw);
});

test('normalizeRequest: limits, method, path/query split, rejection of encoded slashes', () => {
  const base = {
    requestId: 'r',
    method: 'GET',
    host: 'Orders.Shop',
    headers: {},
    headerCount: 1,
    source: { labels: {} },
    destination: { labels: {} },
    contextExtensions: {},
  };
  const limits = { maxHeaders: 10, maxPathBytes: 100, paths: { nonCanonical: 'normalize', parameters: 'reject' } as const };
  const ok = normalizeRequest({ ...base, rawPath: '/x/../y?q=1' }, limits);
  assert.ok(ok.ok);
  if (ok.ok) {
    assert.equal(ok.input.path, '/y');
    assert.equal(ok.input.query, 'q=1');
    assert.equal(ok.input.host, 'orders.shop');
  }
  const bad = normalizeRequest({ ...base, rawPath: '/a%2Fb' }, limits);
  assert.deepEqual(bad.ok ? bad : { ok: bad.ok, detail: bad.detail }, {
    ok: false,
    detail: 'path contains an encoded slash, backslash or control character',
  });
  assert.equal(normalizeRequest({ ...base, rawPath: 'no-slash' }, limits).ok, false);
  assert.equal(normalizeRequest({ ...base, rawPath: '/' + 'a'.repeat(200) }, limits).ok, false);
  assert.equal(normalizeRequest({ ...base, headerCount: 11, rawPath: '/' }, limits).ok, false);
  assert.equal(normalizeRequest({ ...base, method: 'GE T', rawPath: '/' }, limits).ok, false);
  assert.equal(normalizeRequest({ ...base, method: 'OPTIONS', rawPath: '*' }, limits).ok, true);
});

const BASE = {
  requestId: 'r',
  method: 'GET',
  host: 'h',
  headers: {},
  headerCount: 1,
  source: { labels: {} },
  destination: { labels: {} },
  contextExtensions: {},
};
const path = (rawPath: string, paths?: PathRules) => {
  const n = normalizeRequest({ ...BASE, rawPath }, { maxHeaders: 10, maxPathBytes: 1000, ...(paths ? { paths } : {}) });
  return n.ok ? n.input.path : `malformed: ${n.detail}`;
};

// The proxy forwards the raw path (Envoy without normalize_path, nginx $request_uri): a verdict
// on a normalised copy would be a verdict on another request. Default: refuse non-canonical paths.
const NON_CANONICAL = [
  '/api/internal/../public',
  '/api/internal/x/%2e%2e/%2e%2e/public',
  '/api/internal//..//public',
  '//admin',
  '/a/./b',
  '/a/.',
  '/a/..',
  '/%61dmin',
  '/%7Euser',
  '/a/%2E/b',
  '/a/b//',
];

test('default: a path the normaliser would change is malformed, with a hint for the operator', () => {
  for (const p of NON_CANONICAL) {
    for (const rules of [undefined, { nonCanonical: 'reject', parameters: 'allow' } as const]) {
      const got = path(p, rules);
      assert.match(got, /^malformed: path is not canonical/, p);
      assert.match(got, /normalize_path/, 'names the Envoy option');
      assert.match(got, /paths\.nonCanonical: normalize/, 'names the switch');
    }
  }
  // The query is not part of the path: `..` or `//` there is fine, and so is a canonical path.
  for (const p of ['/a/b', '/', '/.well-known/openid-configuration', '/a..b/c.', '/a%20b', '/caf%C3%A9', '/a?x=../..//y', '/a/b/']) {
    assert.doesNotMatch(path(p), /^malformed/, p);
  }
  // A '#' is never in a request target; through nginx's raw X-Original-URI the upstream could read
  // what follows it as path, so it is refused in every mode rather than cut off.
  for (const rules of [undefined, { nonCanonical: 'normalize', parameters: 'allow' } as const]) {
    for (const p of ['/public#/../admin', '/a#f', '/a?x=1#f']) assert.match(path(p, rules), /^malformed: request target contains "#"/, p);
  }
  assert.equal(path('/a?x=../..//y'), '/a');
  // Existing rejections keep their own detail in every mode.
  for (const rules of [undefined, { nonCanonical: 'normalize', parameters: 'allow' } as const]) {
    for (const p of ['/a%2Fb', '/a/%2e%2e%2fb', '/a%5cb', '/a\\b', '/a%00', '/a\u0001'])
      assert.equal(path(p, rules), 'malformed: path contains an encoded slash, backslash or control character', p);
  }
});

test('paths.nonCanonical: normalize matches the normalised form (a proxy that normalises the same way)', () => {
  const normalize = { nonCanonical: 'normalize', parameters: 'reject' } as const;
  assert.equal(path('/api/internal/../public', normalize), '/api/public');
  assert.equal(path('/api/internal/x/%2e%2e/%2e%2e/public', normalize), '/api/public');
  assert.equal(path('/api/internal//..//public', normalize), '/api/public');
  assert.equal(path('//admin///x', normalize), '/admin/x');
  assert.equal(path('/%61dmin', normalize), '/admin');
  assert.equal(path('/a/b', normalize), '/a/b');
});

// Tomcat, Jetty and Spring drop `;params` from each segment before routing, so `/admin;x/y`
// is /admin/y to them while a policy on `/admin/*` sees a different path.
test('default: a path parameter (; or %3B) is malformed; paths.parameters: allow matches it literally', () => {
  for (const p of ['/admin;jsessionid=1/x', '/public/..;/admin/x', '/admin;/x', '/admin/x;', '/a%3bb', '/a%3Bb']) {
    for (const nonCanonical of ['reject', 'normalize'] as const) {
      const got = path(p, { nonCanonical, parameters: 'reject' });
      assert.match(got, /^malformed: path contains ';' or %3B/, p);
      assert.match(got, /paths\.parameters: allow/, 'names the switch');
    }
    assert.match(path(p), /^malformed: path contains ';'/, `${p}: reject is the default`);
  }
  const allow = { nonCanonical: 'reject', parameters: 'allow' } as const;
  assert.equal(path('/admin;jsessionid=1/x', allow), '/admin;jsessionid=1/x');
  assert.equal(path('/a%3Bb', allow), '/a%3Bb');
  // `..;` is no dot segment to the normaliser (nor to Envoy): literal, so canonical.
  assert.equal(path('/public/..;/admin/x', allow), '/public/..;/admin/x');
  // A `;` in the query is not a path parameter.
  assert.equal(path('/a?x=1;y=2'), '/a');
});

test('config: paths.* default to reject, reach the normalize stage through limits, and are validated', async () => {
  const { resolveConfig } = await import('../../../src/config/resolve.js');
  assert.deepEqual(resolveConfig({}).limits.paths, { nonCanonical: 'reject', parameters: 'reject' });
  const c = resolveConfig({ paths: { nonCanonical: 'normalize', parameters: 'allow' } });
  assert.deepEqual(c.paths, { nonCanonical: 'normalize', parameters: 'allow' });
  const n = normalizeRequest({ ...BASE, rawPath: '/a;v=1/../b' }, c.limits);
  assert.ok(n.ok && n.input.path === '/b', JSON.stringify(n));
  assert.throws(() => resolveConfig({ paths: { nonCanonical: 'resolve' } }), /paths\.nonCanonical: must be one of reject, normalize/);
  assert.throws(() => resolveConfig({ paths: { parameters: 'strip' } }), /paths\.parameters: must be one of reject, allow/);
});
