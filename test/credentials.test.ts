import { test } from 'node:test';
import assert from 'node:assert/strict';
import { extractCredential, type LocationSpec } from '../src/authn/credentials.js';
import type { CheckInput } from '../src/decision/types.js';

const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln';
const spec: LocationSpec = {
  headers: new Map([['authorization', ['Bearer ']], ['x-token', ['']]]),
  params: new Set(['access_token']),
  cookies: new Set(['session']),
};
function input(headers: Record<string, string>, query = ''): CheckInput {
  return { requestId: '1', method: 'GET', host: 'h', path: '/', query, headers, source: { labels: {} }, destination: { labels: {} }, contextExtensions: {} };
}
const extract = (h: Record<string, string>, q = '') => extractCredential(input(h, q), spec, 8192);

test('exactly one Bearer token is extracted with its location', () => {
  assert.deepEqual(extract({ authorization: `Bearer ${JWT}` }), { kind: 'one', token: JWT, location: { type: 'header', name: 'authorization' } });
  assert.deepEqual(extract({ 'x-token': JWT }), { kind: 'one', token: JWT, location: { type: 'header', name: 'x-token' } });
  assert.deepEqual(extract({}, `a=1&access_token=${JWT}`), { kind: 'one', token: JWT, location: { type: 'param', name: 'access_token' } });
  assert.deepEqual(extract({ cookie: `a=b; session=${JWT}` }), { kind: 'one', token: JWT, location: { type: 'cookie', name: 'session' } });
  assert.deepEqual(extract({ other: 'x' }), { kind: 'none' });
});

test('strict parsing rejects what RFC 6750 does not allow', () => {
  const reason = (h: Record<string, string>, q = '') => {
    const r = extract(h, q);
    return r.kind === 'error' ? r.reason : r.kind;
  };
  assert.equal(reason({ authorization: `Bearer ${JWT}, Bearer ${JWT}` }), 'token_multiple');
  assert.equal(reason({ authorization: `Bearer ${JWT}`, 'x-token': JWT }), 'token_multiple');
  assert.equal(reason({ authorization: `Bearer ${JWT}` }, `access_token=${JWT}`), 'token_multiple');
  assert.equal(reason({}, `access_token=${JWT}&access_token=${JWT}`), 'token_multiple');
  assert.equal(reason({ cookie: `session=${JWT}; session=${JWT}` }), 'token_multiple');
  assert.equal(reason({ authorization: `bearer ${JWT}` }), 'token_malformed');
  assert.equal(reason({ authorization: `Bearer  ${JWT}` }), 'token_malformed');
  assert.equal(reason({ authorization: `Bearer ${JWT} ` }), 'token_malformed');
  assert.equal(reason({ authorization: 'Basic dXNlcjpwYXNz' }), 'token_malformed');
  assert.equal(reason({ authorization: 'Bearer ' }), 'token_malformed');
  assert.equal(reason({ authorization: 'Bearer abc.def' }), 'token_malformed');
  assert.equal(reason({ authorization: 'Bearer a.b.c.d.e' }), 'token_malformed');
  assert.equal(reason({ authorization: `Bearer ${JWT.replace('.', '.=')}` }), 'token_malformed');
  assert.equal(reason({ authorization: `Bearer ${'a'.repeat(8193)}` }), 'token_too_large');
  assert.equal(reason({ authorization: `Bearer ${'a'.repeat(4000)}.${'b'.repeat(4000)}.c` }), 'one');
});
