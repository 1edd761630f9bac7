// The lean Check codec (src/transport/grpc/codec.ts) must be invisible: the same bytes on the
// wire as the stock proto-loader codec for every response the service builds, and the same
// normalized request from the same CheckRequest bytes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { checkCodec } from '../../../src/transport/grpc/codec.js';
import { authV2Service, authV3Service, protoRoot } from '../../../src/transport/grpc/protos.js';
import { toCheckResponse } from '../../../src/transport/grpc/response.js';
import { normalizeCheckRequest } from '../../../src/transport/grpc/normalize.js';
import type { CheckRequest, CheckResponse } from '../../../src/transport/grpc/messages.js';
import type { Decision, DecisionResponse, Evidence, Verdict } from '../../../src/decision/decision.js';

type Flat = Verdict & DecisionResponse & Evidence;

/** The Decision for its fields written flat (verdict, response and evidence fields). */
function nest(f: Flat): Decision {
  const { allow, reason, status, detail, policy, rule, upstreamHeaders, removeHeaders, removeQueryParams, wwwAuthenticate, ...evidence } =
    f;
  return {
    verdict: { allow, reason, status, detail, policy, rule },
    response: { upstreamHeaders, removeHeaders, removeQueryParams, wwwAuthenticate },
    evidence,
  };
}

const LIMITS = { maxHeaders: 256, maxPathBytes: 16384 };

function allow(over: Partial<Flat> = {}): Decision {
  return nest({
    allow: true,
    reason: 'allowed',
    status: 200,
    policy: 'orders-read',
    rule: 0,
    tokenHash: '0123456789ab',
    upstreamHeaders: [
      ['x-auth-subject', 'alice'],
      ['x-auth-issuer', 'https://idp.example.com/realms/shop'],
      ['x-auth-scopes', 'orders:read orders:write'],
      ['x-auth-tenant', 'äcme ✓'],
    ],
    removeHeaders: ['authorization', 'x-auth-roles'],
    removeQueryParams: [],
    ...over,
  });
}

function deny(over: Partial<Flat> = {}): Decision {
  return nest({
    allow: false,
    reason: 'token_expired',
    status: 401,
    detail: 'exp is in the past',
    upstreamHeaders: [],
    removeHeaders: [],
    removeQueryParams: [],
    wwwAuthenticate: 'Bearer realm="shop", error="invalid_token", error_description="The access token expired"',
    ...over,
  });
}

const DECISIONS: Array<[string, Decision]> = [
  ['allow with identity headers', allow()],
  ['allow without policy or token hash', allow({ policy: undefined, tokenHash: undefined })],
  ['allow with a query parameter to strip', allow({ removeQueryParams: ['access_token'], removeHeaders: [] })],
  ['anonymous allow, nothing to set', allow({ upstreamHeaders: [], removeHeaders: ['x-auth-subject'] })],
  ['401 deny with challenge', deny()],
  ['403 deny', deny({ reason: 'no_policy_matched', status: 403, wwwAuthenticate: undefined, policy: undefined })],
  ['503 deny', deny({ reason: 'jwks_unavailable', status: 503, wwwAuthenticate: undefined })],
];

describe('lean Check codec: responses', () => {
  for (const [version, service] of [
    ['v3', authV3Service()],
    ['v2', authV2Service()],
  ] as const) {
    const stock = service['Check']!;
    const lean = checkCodec(version);
    for (const [name, d] of DECISIONS) {
      it(`${version}: ${name}: same bytes as proto-loader`, () => {
        const expected = stock.responseSerialize(toCheckResponse(d, 'req-1'));
        const got = lean.serialize(toCheckResponse(d, 'req-1'));
        assert.ok(Buffer.isBuffer(got));
        assert.deepEqual(got, expected);
        // and it decodes to the same response
        assert.deepEqual(stock.responseDeserialize(got), stock.responseDeserialize(expected));
      });
    }
  }

  it('enum names and numbers encode alike, and serializing twice gives the same bytes', () => {
    const lean = checkCodec('v3');
    const stock = authV3Service()['Check']!;
    const byName: CheckResponse = {
      status: { code: 14, message: 'unavailable' },
      errorResponse: {
        status: { code: 'ServiceUnavailable' },
        headers: [{ header: { key: 'retry-after', value: '1' }, appendAction: 'OVERWRITE_IF_EXISTS' }],
      },
    };
    const byNumber: CheckResponse = {
      status: { code: 14, message: 'unavailable' },
      errorResponse: { status: { code: 503 }, headers: [{ header: { key: 'retry-after', value: '1' }, appendAction: 3 as never }] },
    };
    const expected = stock.responseSerialize(structuredClone(byName));
    assert.deepEqual(lean.serialize(byName), expected);
    assert.deepEqual(lean.serialize(byName), expected, 'the enum rewrite is idempotent');
    assert.deepEqual(lean.serialize(byNumber), expected);
  });

  it('rejects an unknown enum name instead of encoding a default', () => {
    const lean = checkCodec('v3');
    assert.throws(
      () =>
        lean.serialize({
          status: { code: 0 },
          okResponse: { headers: [{ header: { key: 'a', value: 'b' }, appendAction: 'SOMETIMES' as never }] },
        }),
      /append_action/,
    );
  });
});

function wire(req: Record<string, unknown>): Buffer {
  const T = protoRoot({ keepCase: true }).lookupType('envoy.service.auth.v3.CheckRequest');
  return Buffer.from(T.encode(T.fromObject(req)).finish());
}

const REQUESTS: Array<[string, Record<string, unknown>]> = [
  [
    'headers map, peers, labels, context extensions, SNI',
    {
      attributes: {
        source: {
          address: { socket_address: { address: '10.0.0.1', port_value: 51234 } },
          principal: 'spiffe://cluster.local/ns/shop/sa/frontend',
        },
        destination: {
          address: { socket_address: { address: '10.0.0.2', port_value: 8080 } },
          principal: 'spiffe://cluster.local/ns/shop/sa/orders',
          labels: { app: 'orders', version: 'v1' },
        },
        request: {
          time: { seconds: 1700000000 },
          http: {
            id: '42',
            method: 'GET',
            path: '/api/orders/1?view=full',
            host: 'orders.shop.svc',
            protocol: 'HTTP/2',
            size: -1,
            headers: {
              ':authority': 'orders.shop.svc',
              ':path': '/api/orders/1?view=full',
              authorization: 'Bearer a.b.c',
              'X-Request-Id': 'r-1',
            },
          },
        },
        context_extensions: { namespace: 'shop', tier: 'gold' },
        tls_session: { sni: 'orders.shop.svc' },
      },
    },
  ],
  [
    'raw header map with a repeated header and a raw value',
    {
      attributes: {
        request: {
          http: {
            method: 'POST',
            path: '/x',
            header_map: {
              headers: [
                { key: 'cookie', value: 'a=1' },
                { key: 'Cookie', raw_value: Buffer.from('b=2') },
                { key: ':method', value: 'POST' },
              ],
            },
          },
        },
      },
    },
  ],
  [
    'no peers, pseudo-headers only',
    { attributes: { request: { http: { headers: { ':method': 'DELETE', ':path': '/y', ':authority': 'h' } } } } },
  ],
  ['no http attributes', { attributes: { source: { principal: 'spiffe://td/ns/a/sa/b' } } }],
  ['empty request', {}],
];

describe('lean Check codec: requests', () => {
  const stock = authV3Service()['Check']!;
  const lean = checkCodec('v3');
  for (const [name, req] of REQUESTS) {
    it(`${name}: normalizes exactly like the proto-loader object`, () => {
      const bytes = wire(req);
      const expected = normalizeCheckRequest(stock.requestDeserialize(bytes) as CheckRequest, LIMITS);
      const got = normalizeCheckRequest(lean.deserialize(bytes) as CheckRequest, LIMITS);
      // Compare as plain data (the lean path may pass read-only maps through uncopied).
      assert.deepEqual(JSON.parse(JSON.stringify(got)), JSON.parse(JSON.stringify(expected)));
    });
  }

  it('a malformed message is rejected, as with proto-loader', () => {
    const bad = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert.throws(() => stock.requestDeserialize(bad));
    assert.throws(() => lean.deserialize(bad));
  });
});
