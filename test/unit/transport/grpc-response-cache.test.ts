// v3 allow responses are reused for a repeated Decision (transport/grpc/response.ts), with their
// encoded bytes (codec.ts). Reuse must be invisible: only a Decision with the same fields gets
// the same response, the bytes are those of a fresh encoding, and nothing request-specific
// (denies, whose body names the request id; v2, which reads the request's headers) is reused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkCodec } from '../../../src/transport/grpc/codec.js';
import { protoRoot } from '../../../src/transport/grpc/protos.js';
import { toCheckResponse } from '../../../src/transport/grpc/response.js';
import type { Decision } from '../../../src/decision/decision.js';

function allow(tokenHash: string, headers: Array<[string, string]>, removeHeaders: string[] = ['authorization']): Decision {
  return {
    verdict: { allow: true, reason: 'allowed', status: 200, policy: 'orders-read', rule: 0 },
    response: { upstreamHeaders: headers, removeHeaders, removeQueryParams: [] },
    evidence: { tokenHash },
  };
}

const v3 = checkCodec('v3');
const Res = protoRoot().lookupType('envoy.service.auth.v3.CheckResponse');

/** The bytes of the same response built and encoded afresh (a plain copy, no cache). */
function freshBytes(d: Decision): Buffer {
  return v3.serialize(JSON.parse(JSON.stringify(toCheckResponse(d, 'r'))));
}

test('a repeated allow reuses its response and bytes; the bytes are a fresh encoding', () => {
  const d = allow('aaaa00001111', [['x-auth-subject', 'alice']]);
  const first = toCheckResponse(d, 'r1');
  const again = toCheckResponse(allow('aaaa00001111', [['x-auth-subject', 'alice']]), 'r2');
  assert.equal(again, first, 'the same fields: the same response object');
  const bytes = v3.serialize(first);
  assert.equal(v3.serialize(again), bytes, 'encoded once');
  assert.deepEqual(bytes, freshBytes(d));
  // Encoding did not touch the shared object (the codec encodes a copy).
  assert.equal(first.okResponse!.headers![0]!.appendAction, 'OVERWRITE_IF_EXISTS_OR_ADD');
  assert.ok(Object.isFrozen(first));
});

test('any field that differs gets its own response: token hash, header name or value, removals', () => {
  const base = allow('bbbb00001111', [['x-auth-subject', 'bob']]);
  const variants = [
    allow('bbbb00001112', [['x-auth-subject', 'bob']]),
    allow('bbbb00001111', [['x-auth-subject', 'bob2']]),
    allow('bbbb00001111', [['x-auth-subjec', 'tbob']]),
    allow('bbbb00001111', [['x-auth-subject', 'bob']], []),
    allow('bbbb00001111', [['x-auth-subject', 'bob']], ['authorization', 'x-auth-roles']),
    { ...base, verdict: { ...base.verdict, policy: 'other' } },
    { ...base, response: { ...base.response, removeQueryParams: ['access_token'] } },
  ];
  const b0 = v3.serialize(toCheckResponse(base, 'r'));
  for (const [i, d] of variants.entries()) {
    for (let round = 0; round < 2; round++) {
      const bytes = v3.serialize(toCheckResponse(d, 'r'));
      assert.notDeepEqual(bytes, b0, `variant ${i}`);
      assert.deepEqual(bytes, freshBytes(d), `variant ${i}`);
      assert.deepEqual(v3.serialize(toCheckResponse(base, 'r')), b0, 'the first decision still gets its own bytes');
    }
  }
  const decoded = Res.toObject(Res.decode(v3.serialize(toCheckResponse(variants[0]!, 'r')))) as {
    dynamicMetadata: { fields: Record<string, { stringValue: string }> };
  };
  assert.equal(decoded.dynamicMetadata.fields.token_hash!.stringValue, 'bbbb00001112');
});

test('denies and v2 responses are built per request', () => {
  const deny: Decision = {
    verdict: { allow: false, reason: 'policy_denied', status: 403 },
    response: { upstreamHeaders: [], removeHeaders: [], removeQueryParams: [] },
    evidence: {},
  };
  const a = toCheckResponse(deny, 'req-1');
  const b = toCheckResponse(deny, 'req-2');
  assert.notEqual(a, b);
  assert.match(b.deniedResponse!.body!, /req-2/);
  const d = allow('cccc00001111', [['x-auth-subject', 'carol']]);
  const v2a = toCheckResponse(d, 'r', { authorization: 'Bearer x' });
  const v2b = toCheckResponse(d, 'r', {});
  assert.notEqual(v2a, v2b);
  assert.equal(v2a.okResponse!.headers!.length, 2, 'the credential blanked for v2');
  assert.equal(v2b.okResponse!.headers!.length, 1);
});
