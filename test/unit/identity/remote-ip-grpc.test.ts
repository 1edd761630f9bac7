// remote.ip over the real gRPC server: with identity.numTrustedProxies the original client IP is
// read from the x-forwarded-for header of the CheckRequest (the entry numTrustedProxies hops left
// of attributes.source.address), never from a hop a client wrote, and a request whose client IP
// cannot be determined fails every remote-IP condition closed (docs/policies.md "Remote IP").
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import type { CheckResponse } from '../../../src/transport/grpc/messages.js';
import { authV3Client, check, checkRequest, closeAll, type AuthClient } from '../../helpers/grpc-client.js';
import { startTestApp, type TestApp } from '../../helpers/app.js';
import { describeGrpc, withGrpc } from '../../helpers/grpc-impls.js';

const POLICIES = [
  {
    name: 'office-only',
    rules: [{ from: [{ source: { remoteIpBlocks: ['198.51.100.0/24'] } }], to: [{ operation: { paths: ['/office'] } }] }],
  },
  { name: 'open', rules: [{ to: [{ operation: { paths: ['/public'] } }] }] },
  {
    name: 'deny-blocked',
    action: 'DENY',
    rules: [{ to: [{ operation: { paths: ['/public'] } }], when: [{ key: 'remote.ip', values: ['203.0.113.66'] }] }],
  },
];

function outcome(res: CheckResponse): string {
  return res.status?.code === 0 ? 'allow' : `deny ${res.status?.message}`;
}

describeGrpc('remote.ip through X-Forwarded-For over gRPC (numTrustedProxies: 1)', (impl) => {
  let t: TestApp;
  let v3: AuthClient;
  before(async () => {
    t = await startTestApp(withGrpc(impl, { policies: POLICIES, identity: { numTrustedProxies: 1 } }));
    v3 = authV3Client(t.grpcPort);
  });
  after(async () => {
    closeAll(v3);
    await t.stop();
  });

  // The peer (attributes.source.address) is the trusted proxy, 10.0.0.5.
  const cases: Array<[path: string, xff: string | undefined, expected: string]> = [
    ['/office', '198.51.100.7', 'allow'],
    ['/office', '203.0.113.9', 'deny no_policy_matched'],
    // A client-written entry left of the proxy's one is never the remote IP.
    ['/office', '198.51.100.7, 203.0.113.9', 'deny no_policy_matched'],
    // The peer appended by an Envoy with use_remote_address is not counted as a hop.
    ['/office', '198.51.100.7, 10.0.0.5', 'allow'],
    // No client IP: the ALLOW fails and the DENY matches (fail closed both ways).
    ['/office', undefined, 'deny no_policy_matched'],
    ['/office', 'not-an-ip', 'deny no_policy_matched'],
    ['/public', '198.51.100.7', 'allow'],
    ['/public', '203.0.113.66', 'deny policy_denied'],
    ['/public', undefined, 'deny policy_denied'],
    ['/public', '203.0.113.66:1234', 'deny policy_denied'],
  ];

  it('matches remoteIpBlocks / remote.ip on the hop next to the trusted proxy', async () => {
    for (const [path, xff, expected] of cases) {
      const res = await check(
        v3,
        checkRequest({ path, sourceAddress: '10.0.0.5', ...(xff !== undefined ? { headers: { 'x-forwarded-for': xff } } : {}) }),
      );
      assert.equal(outcome(res), expected, `${path} x-forwarded-for: ${xff}`);
    }
    // The audit record keeps the client IP the policy stage used (the peer stays `address`).
    const rec = t.audit().find((r) => (r.source as Record<string, unknown> | undefined)?.remote_address === '198.51.100.7');
    assert.ok(rec, 'an audit record with source.remote_address');
    assert.equal((rec.source as Record<string, unknown>).address, '10.0.0.5');
  });

  it('ipBlocks-style peer addresses are not remote IPs: the proxy address never passes remoteIpBlocks', async () => {
    const res = await check(
      v3,
      checkRequest({ path: '/office', sourceAddress: '198.51.100.7', headers: { 'x-forwarded-for': '203.0.113.9' } }),
    );
    assert.equal(outcome(res), 'deny no_policy_matched');
  });
});
