import { test } from 'node:test';
import assert from 'node:assert/strict';
import { credentialLocations, extractCredential, type LocationSpec } from '../../../src/authn/credentials.js';
import { normalizeHttpRequest } from '../../../src/transport/http/normalize.js';
import { normalizeCheckRequest } from '../../../src/transport/grpc/normalize.js';
import { resolveConfig } from '../../../src/config/resolve.js';
import type { CheckInput } from '../../../src/decision/types.js';

const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln';
const spec: LocationSpec = {
  headers: new Map([
    ['authorization', ['Bearer ']],
    ['x-token', ['']],
  ]),
  params: new Set(['access_token']),
  cookies: new Set(['session']),
};
function input(headers: Record<string, string>, query = ''): CheckInput {
  return {
    requestId: '1',
    method: 'GET',
    host: 'h',
    path: '/',
    query,
    headers,
    source: { labels: {} },
    destination: { labels: {} },
    contextExtensions: {},
  };
}
const extract = (h: Record<string, string>, q = '') => extractCredential(input(h, q), spec, 8192);

test('exactly one Bearer token is extracted with its location', () => {
  assert.deepEqual(extract({ authorization: `Bearer ${JWT}` }), {
    kind: 'one',
    token: JWT,
    location: { type: 'header', name: 'authorization' },
  });
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

test('a credential cookie in a repeated cookie header is found, whichever way the copies were joined', () => {
  // "; " (our normalisers, RFC 6265 §5.4) and "," (Envoy's CheckRequest `headers` map).
  for (const cookie of [`a=1; session=${JWT}`, `a=1,session=${JWT}`, `a=1, session=${JWT}`]) {
    assert.deepEqual(extract({ cookie }), { kind: 'one', token: JWT, location: { type: 'cookie', name: 'session' } }, cookie);
  }
  const r = extract({ cookie: `session=${JWT},session=${JWT}` });
  assert.equal(r.kind === 'error' && r.reason, 'token_multiple');

  // Both normalisers join repeated cookie headers with "; ", so the second copy is its own pair.
  const cfg = resolveConfig({});
  const http = normalizeHttpRequest(
    {
      method: 'GET',
      url: '/x',
      httpVersion: '1.1',
      rawHeaders: ['Host', 'h', 'Cookie', 'a=1', 'Cookie', `session=${JWT}`, 'X-A', '1', 'X-A', '2'],
    },
    cfg.http,
    cfg.limits,
  );
  assert.ok(http.ok);
  assert.equal(http.input.headers.cookie, `a=1; session=${JWT}`);
  assert.equal(http.input.headers['x-a'], '1,2', 'other headers still comma-joined');
  const grpc = normalizeCheckRequest(
    {
      attributes: {
        request: {
          http: {
            method: 'GET',
            path: '/x',
            host: 'h',
            headerMap: {
              headers: [
                { key: 'cookie', value: 'a=1' },
                { key: 'Cookie', rawValue: Buffer.from(`session=${JWT}`) },
              ],
            },
          },
        },
      },
    },
    cfg.limits,
  );
  assert.ok(grpc.ok);
  assert.equal(grpc.input.headers.cookie, `a=1; session=${JWT}`);
});

test('credentialLocations: what is presented as a credential (observe mode strips it)', () => {
  assert.deepEqual(
    credentialLocations(input({ authorization: 'Bearer not-a-jwt', cookie: `a=1; session=x` }, 'access_token=y&b=2'), spec),
    [
      { type: 'header', name: 'authorization' },
      { type: 'param', name: 'access_token' },
      { type: 'cookie', name: 'session' },
    ],
  );
  assert.deepEqual(credentialLocations(input({ authorization: 'Basic dXNlcjpwYXNz', cookie: 'a=1' }), spec), [], 'Basic is not ours');
});
