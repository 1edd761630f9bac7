// Peer identity over the real gRPC server: the principal Envoy reports in
// attributes.source.principal yields a namespace / service account for ALLOW rules only when it
// is the exact SPIFFE ID spiffe://td/ns/N/sa/S, while a namespaces / serviceAccounts DENY fires
// for every shape Istio's RBAC regexes would match (docs/policies.md "Identity").
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import type { CheckResponse } from '../../../src/transport/grpc/messages.js';
import { authV2Client, authV3Client, check, checkRequest, closeAll, type AuthClient } from '../../helpers/grpc-client.js';
import { startTestApp, type TestApp } from '../../helpers/app.js';
import { describeGrpc, withGrpc } from '../../helpers/grpc-impls.js';

const POLICIES = [
  {
    name: 'prod-admin-only',
    rules: [{ from: [{ source: { serviceAccounts: ['prod/admin'] } }], to: [{ operation: { paths: ['/admin'] } }] }],
  },
  { name: 'prod-only', rules: [{ from: [{ source: { namespaces: ['prod'] } }], to: [{ operation: { paths: ['/prod'] } }] }] },
  { name: 'any-peer', rules: [{ from: [{ source: { principals: ['*'] } }], to: [{ operation: { paths: ['/open'] } }] }] },
  { name: 'deny-untrusted', action: 'DENY', rules: [{ from: [{ source: { namespaces: ['untrusted'] } }] }] },
];

function outcome(res: CheckResponse): string {
  return res.status?.code === 0 ? 'allow' : `deny ${res.status?.message}`;
}

describeGrpc('SPIFFE ID shapes through the gRPC Check API', (impl) => {
  let t: TestApp;
  let v3: AuthClient;
  let v2: AuthClient;
  before(async () => {
    t = await startTestApp(withGrpc(impl, { policies: POLICIES }));
    v3 = authV3Client(t.grpcPort);
    v2 = authV2Client(t.grpcPort);
  });
  after(async () => {
    closeAll(v3, v2);
    await t.stop();
  });

  const cases: Array<[path: string, principal: string, expected: string]> = [
    ['/admin', 'spiffe://cluster.local/ns/prod/sa/admin', 'allow'],
    ['/prod', 'spiffe://cluster.local/ns/prod/sa/web', 'allow'],
    // A certificate without a URI SAN: Envoy reports its Subject, which is no SPIFFE ID.
    ['/admin', 'CN=mallory/ns/prod/sa/admin', 'deny no_policy_matched'],
    ['/prod', 'CN=mallory/ns/prod/sa/admin', 'deny no_policy_matched'],
    ['/admin', 'cluster.local/ns/prod/sa/admin', 'deny no_policy_matched'],
    ['/admin', 'SPIFFE://cluster.local/ns/prod/sa/admin', 'deny no_policy_matched'],
    ['/admin', 'spiffe://cluster.local/ns/prod/sa/admin/extra', 'deny no_policy_matched'],
    ['/admin', 'spiffe://cluster.local/ns/prod/x/sa/admin', 'deny no_policy_matched'],
    ['/prod', 'spiffe://cluster.local//ns/prod/sa/web', 'deny no_policy_matched'],
    // DENY namespaces: [untrusted] reads the principal as Istio's `.*/ns/untrusted/.*` does.
    ['/open', 'spiffe://cluster.local/ns/dev/sa/x', 'allow'],
    ['/open', 'spiffe://cluster.local/ns/untrusted/sa/x', 'deny policy_denied'],
    ['/open', 'spiffe://cluster.local/ns/untrusted/sa/x/extra', 'deny policy_denied'],
    ['/open', 'spiffe://cluster.local/ns/untrusted/sa/', 'deny policy_denied'],
    ['/open', 'spiffe://cluster.local//ns/untrusted/sa/x', 'deny policy_denied'],
    ['/open', 'SPIFFE://cluster.local/ns/untrusted/sa/x', 'deny policy_denied'],
    ['/open', 'CN=mallory/ns/untrusted/sa/x', 'deny policy_denied'],
  ];

  it('ALLOW admits only the exact SPIFFE ID; the namespaces DENY fires for every Istio shape (v3 and v2)', async () => {
    for (const client of [v3, v2]) {
      for (const [path, sourcePrincipal, expected] of cases) {
        const res = await check(client, checkRequest({ path, sourcePrincipal }));
        assert.equal(outcome(res), expected, `${client === v3 ? 'v3' : 'v2'} ${path} from ${sourcePrincipal}`);
      }
    }
  });
});
