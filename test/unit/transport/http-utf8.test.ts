// Identity values outside Latin-1 (`sub: "юрий"`, a Cyrillic outputClaimToHeaders claim) are
// sent as their UTF-8 bytes on every transport: gRPC header values are protobuf strings (UTF-8,
// forwarded by Envoy as bytes), and the HTTP listener writes the same bytes (they used to make
// node:http refuse the header, and the request got 403 internal_error while the audit record said
// allow). Metrics and audit now record the answer actually sent: when the HTTP response cannot be
// written, what is counted and audited is the fail-closed deny that went out.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestIdp } from '../../helpers/idp.js';
import { fetchMetrics, metricValue, startTestApp, type TestApp } from '../../helpers/app.js';
import { authV3Client, check, checkRequest, closeAll, headerValue, type AuthClient } from '../../helpers/grpc-client.js';
import { send } from '../../e2e/helpers/http-client.js';
import { startHttpAuthzServer, type HttpAuthzListener } from '../../../src/transport/http/server.js';
import { resolveConfig } from '../../../src/config/resolve.js';
import type { Decision } from '../../../src/decision/decision.js';

const SUBJECT = 'юрий';
const NAME = 'Дмитрий Café';
const bytes = (latin1: string | undefined): Buffer => Buffer.from(latin1 ?? '', 'latin1');

describe('non-Latin-1 identity values', () => {
  let idp: TestIdp;
  let t: TestApp;
  let grpc: AuthClient;
  let token: string;

  before(async () => {
    idp = await TestIdp.start({ audience: 'orders', subject: SUBJECT });
    t = await startTestApp({
      issuers: [
        {
          issuer: idp.issuer,
          jwksUri: idp.jwksUri,
          audiences: ['orders'],
          outputClaimToHeaders: [{ header: 'x-user-name', claim: 'name' }],
        },
      ],
      policies: [{ name: 'users', rules: [{ from: [{ source: { requestPrincipals: ['*'] } }], to: [{ operation: { paths: ['/x'] } }] }] }],
    });
    grpc = authV3Client(t.grpcPort);
    token = await idp.sign({ name: NAME });
  });
  after(async () => {
    closeAll(grpc);
    await t?.stop();
    await idp?.close();
  });

  it('gRPC, Envoy http_service and nginx modes all allow and send the same UTF-8 bytes', async () => {
    const r = await check(grpc, checkRequest({ path: '/x', token }));
    assert.equal(r.status?.code, 0);
    const grpcSub = Buffer.from(headerValue(r.okResponse?.headers, 'x-auth-subject') ?? '', 'utf8');
    const grpcName = Buffer.from(headerValue(r.okResponse?.headers, 'x-user-name') ?? '', 'utf8');
    assert.deepEqual(grpcSub, Buffer.from(SUBJECT, 'utf8'));
    assert.deepEqual(grpcName, Buffer.from(NAME, 'utf8'));

    const port = t.app.httpPort;
    const auth: [string, string] = ['authorization', `Bearer ${token}`];
    const envoy = await send(port, { path: '/x', headers: [['host', 'h'], auth] });
    const nginx = await send(port, {
      path: '/nginx-auth',
      headers: [['host', 'h'], ['x-original-uri', '/x'], ['x-original-method', 'GET'], auth],
    });
    for (const [mode, res] of [
      ['envoy', envoy],
      ['nginx', nginx],
    ] as const) {
      assert.equal(res.status, 200, `${mode}: ${res.body}`);
      assert.deepEqual(bytes(res.headers['x-auth-subject']), grpcSub, `${mode}: subject bytes equal gRPC's`);
      assert.deepEqual(bytes(res.headers['x-user-name']), grpcName, `${mode}: claim bytes equal gRPC's`);
    }
  });

  it('the audit records and metrics say allow, as answered', async () => {
    const allows = t.audit().filter((a) => a.transport === 'http' && a.subject === SUBJECT);
    assert.ok(allows.length >= 2, 'both HTTP checks audited (allowSampleRate defaults to 1)');
    for (const a of allows) assert.equal(a.decision, 'allow');
    const m = await fetchMetrics(t.adminPort);
    assert.equal(metricValue(m, 'zt_authz_decisions_total', { decision: 'deny', reason: 'internal_error', policy: '' }), 0);
  });
});

describe('HTTP listener: the recorded decision is the one answered', () => {
  let server: HttpAuthzListener;
  const recorded: Decision[] = [];
  // An allow whose header value Node cannot send. decide() never emits one; this stands for any
  // allow the listener fails to write.
  const badAllow: Decision = {
    verdict: { allow: true, reason: 'allowed', status: 200, policy: 'p' },
    response: { upstreamHeaders: [['x-auth-subject', 'a\r\nx-injected: 1']], removeHeaders: [], removeQueryParams: [] },
    evidence: {},
  };
  before(async () => {
    const http = resolveConfig({}, 'test').http;
    const engine = {
      snapshot: { realm: undefined },
      check: async () => ({ input: undefined, decision: badAllow, record: (d: Decision) => void recorded.push(d) }),
    };
    server = await startHttpAuthzServer('127.0.0.1:0', () => http, engine);
  });
  after(async () => server?.close(1000));

  it('an allow that cannot be sent is answered and recorded as an internal_error deny', async () => {
    const res = await send(server.port, { path: '/x', headers: [['host', 'h']] });
    assert.equal(res.status, 403);
    assert.equal((JSON.parse(res.body) as { error: string }).error, 'internal_error');
    assert.equal(res.headers['x-injected'], undefined);
    assert.equal(recorded.length, 1, 'recorded once');
    assert.equal(recorded[0]!.verdict.allow, false);
    assert.equal(recorded[0]!.verdict.reason, 'internal_error');
    assert.equal(recorded[0]!.verdict.policy, undefined, 'no policy decided the deny');
  });
});
