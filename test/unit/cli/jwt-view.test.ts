// `zt-authz send` shows an upstream "Bearer <JWT>" (the internal token zt-authz minted) decoded,
// with a short hash in place of the token; any other header value is shown as it is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { bearerJwtView } from '../../../src/cli/jwt-view.js';

const seg = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');

test('a Bearer JWT is shown as its decoded header and payload, never the token', () => {
  const jwt = `${seg({ alg: 'ES256', kid: 'k1', typ: 'at+jwt' })}.${seg({ sub: 'acme', aud: 'orders' })}.c2lnbmF0dXJl`;
  const view = bearerJwtView(`Bearer ${jwt}`);
  assert.ok(view);
  const hash = createHash('sha256').update(jwt).digest('hex').slice(0, 12);
  assert.equal(view.value, `Bearer <JWT, ${jwt.length} bytes, sha256 ${hash}…>`);
  assert.deepEqual(view.decoded, ['header:  {"alg":"ES256","kid":"k1","typ":"at+jwt"}', 'payload: {"sub":"acme","aud":"orders"}']);
  assert.ok(!JSON.stringify(view).includes(jwt) && !JSON.stringify(view).includes('c2lnbmF0dXJl'), 'neither the token nor its signature');
});

test('anything else is left to be printed as it is', () => {
  for (const value of [
    'acme',
    'Bearer opaque-token',
    'Basic dXNlcjpwYXNz',
    `Bearer ${seg([1])}.${seg({ a: 1 })}.x`, // header not an object
    `Bearer ${seg({ alg: 'none' })}.bm90IGpzb24.x`, // payload not JSON
    `Bearer ${seg({ alg: 'ES256' })}.${seg({ a: 1 })}`, // two segments
    `Token ${seg({ alg: 'ES256' })}.${seg({ a: 1 })}.x`,
  ])
    assert.equal(bearerJwtView(value), undefined, value);
});
