import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizePath, normalizeRequest } from '../src/decision/normalize.js';

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
  const base = { requestId: 'r', method: 'GET', host: 'Orders.Shop', headers: {}, headerCount: 1, source: { labels: {} }, destination: { labels: {} }, contextExtensions: {} };
  const limits = { maxHeaders: 10, maxPathBytes: 100 };
  const ok = normalizeRequest({ ...base, rawPath: '/x/../y?q=1#f' }, limits);
  assert.ok(ok.ok);
  if (ok.ok) {
    assert.equal(ok.input.path, '/y');
    assert.equal(ok.input.query, 'q=1');
    assert.equal(ok.input.host, 'orders.shop');
  }
  assert.deepEqual(normalizeRequest({ ...base, rawPath: '/a%2Fb' }, limits), { ok: false, detail: 'path contains an encoded slash, backslash or control character' });
  assert.equal(normalizeRequest({ ...base, rawPath: 'no-slash' }, limits).ok, false);
  assert.equal(normalizeRequest({ ...base, rawPath: '/' + 'a'.repeat(200) }, limits).ok, false);
  assert.equal(normalizeRequest({ ...base, headerCount: 11, rawPath: '/' }, limits).ok, false);
  assert.equal(normalizeRequest({ ...base, method: 'GE T', rawPath: '/' }, limits).ok, false);
  assert.equal(normalizeRequest({ ...base, method: 'OPTIONS', rawPath: '*' }, limits).ok, true);
});
