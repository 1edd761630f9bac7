// Resource bounds end to end (docs/security.md "Limits and resource bounds"): the in-flight bound with
// load shedding on both transports (gRPC RESOURCE_EXHAUSTED, HTTP 429, counted, logged once per
// interval), limits.maxHeaderBytes, server.grpcMaxReceiveBytes and the token cache bound. Each
// test fails when its bound is removed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { TestIdp } from '../../helpers/idp.js';
import { authV3Client, check, checkRequest, closeAll, type AuthClient } from '../../helpers/grpc-client.js';
import { readMetric, startTestApp, waitUntil, type TestApp } from '../../helpers/app.js';
import { describeGrpc, withGrpc, type GrpcImplementation } from '../../helpers/grpc-impls.js';
import type { CheckResponse } from '../../../src/transport/grpc/messages.js';

const POLICIES = [{ name: 'allow-authenticated', action: 'ALLOW', rules: [{ from: [{ source: { requestPrincipals: ['*'] } }] }] }];
const SHED_LOG = 'load shedding: Checks refused because limits.maxInFlight are in flight (logged at most once per interval)';

/** Envoy http_service style request to the HTTP authz listener; status and body. */
async function httpCheck(port: number, token: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}/orders/1`, {
    headers: { authorization: `Bearer ${token}`, host: 'orders.shop', ...headers },
    signal: AbortSignal.timeout(20_000),
  });
  return { status: res.status, body: await res.text() };
}

const grpcError = (p: Promise<unknown>): Promise<grpc.ServiceError> =>
  p.then(
    () => assert.fail('expected an RPC error'),
    (e: grpc.ServiceError) => e,
  );

/**
 * An app whose issuer keys are held back by the IdP (holdJwks): every Check that needs them
 * waits, so Checks pile up in flight deterministically until releaseJwks().
 */
async function heldApp(impl: GrpcImplementation, maxInFlight: number): Promise<{ t: TestApp; idp: TestIdp; token: string }> {
  const idp = await TestIdp.start({ holdJwks: true });
  const token = await idp.sign();
  const t = await startTestApp(
    withGrpc(impl, {
      issuers: [{ issuer: idp.issuer, jwksUri: idp.jwksUri, audiences: ['orders'], jwksTimeoutMs: 30_000 }],
      policies: POLICIES,
      limits: { maxInFlight },
    }),
  );
  return { t, idp, token };
}

describeGrpc('load shedding: limits.maxInFlight with gRPC Checks piling up', (impl) => {
  let t: TestApp;
  let idp: TestIdp;
  let token: string;
  let client: AuthClient;
  before(async () => {
    ({ t, idp, token } = await heldApp(impl, 4));
    client = authV3Client(t.grpcPort);
  });
  after(async () => {
    closeAll(client);
    await t.stop();
    await idp.close();
  });

  it('the 5th concurrent Check gets RESOURCE_EXHAUSTED (gRPC) / 429 (HTTP), counted; the held ones then complete OK', async () => {
    const held: Array<Promise<CheckResponse>> = [];
    for (let i = 0; i < 4; i++) held.push(check(client, checkRequest({ token }), 20_000));
    await waitUntil(async () => (await readMetric(t.adminPort, 'zt_authz_checks_in_flight')) === 4, 10_000, '4 Checks in flight');

    const started = Date.now();
    const err = await grpcError(check(client, checkRequest({ token }), 20_000));
    assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED, `got ${err.code} ${err.details}`);
    assert.ok(Date.now() - started < 5_000, 'refused at once, not queued');
    assert.match(err.details, /too many Checks in flight/);

    const shedHttp = await httpCheck(t.app.httpPort, token);
    assert.equal(shedHttp.status, 429);
    assert.equal(JSON.parse(shedHttp.body).error, 'overloaded');

    assert.equal(await readMetric(t.adminPort, 'zt_authz_shed_total', { transport: 'grpc-v3' }), 1);
    assert.equal(await readMetric(t.adminPort, 'zt_authz_shed_total', { transport: 'http' }), 1);
    // A shed Check is not a decision: nothing decided or audited for it yet.
    assert.equal(await readMetric(t.adminPort, 'zt_authz_decisions_total'), 0);

    idp.releaseJwks();
    const results = await Promise.all(held);
    for (const r of results) assert.equal(r.status?.code ?? 0, 0, 'held Checks are allowed once keys arrive');
    await waitUntil(async () => (await readMetric(t.adminPort, 'zt_authz_checks_in_flight')) === 0, 5_000, 'slots released');

    // Capacity is back: new Checks succeed on both transports.
    const again = await check(client, checkRequest({ token }));
    assert.equal(again.status?.code ?? 0, 0);
    assert.equal((await httpCheck(t.app.httpPort, token)).status, 200);
    assert.equal(await readMetric(t.adminPort, 'zt_authz_shed_total'), 2, 'no more sheds');
  });

  it('shedding is logged once per interval, not once per refused Check', () => {
    const lines = t.records().filter((r) => r.msg === SHED_LOG);
    assert.equal(lines.length, 1, 'two sheds within 10 s: one log line');
    assert.equal(lines[0]!.maxInFlight, 4);
  });

  it('limits.maxInFlight follows a config reload', () => {
    assert.equal(t.app.gate.limit, 4);
    assert.equal(t.app.reload({ ...t.config, limits: { ...t.config.limits, maxInFlight: 7 } }), true);
    assert.equal(t.app.gate.limit, 7);
    assert.equal(t.app.reload({ ...t.config, limits: { ...t.config.limits, maxInFlight: 0 } }), true);
    assert.equal(t.app.gate.limit, Number.POSITIVE_INFINITY, '0 = unlimited');
  });
});

describeGrpc('load shedding: HTTP requests piling up', (impl) => {
  let t: TestApp;
  let idp: TestIdp;
  let token: string;
  before(async () => ({ t, idp, token } = await heldApp(impl, 3)));
  after(async () => {
    await t.stop();
    await idp.close();
  });

  it('3 held HTTP checks fill the bound: the next HTTP one gets 429, a gRPC one RESOURCE_EXHAUSTED; all recover', async () => {
    const held = [0, 1, 2].map(() => httpCheck(t.app.httpPort, token));
    await waitUntil(async () => (await readMetric(t.adminPort, 'zt_authz_checks_in_flight')) === 3, 10_000, '3 HTTP checks in flight');
    const shed = await httpCheck(t.app.httpPort, token);
    assert.equal(shed.status, 429);
    const client = authV3Client(t.grpcPort);
    try {
      const err = await grpcError(check(client, checkRequest({ token })));
      assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED);
      idp.releaseJwks();
      for (const r of await Promise.all(held)) assert.equal(r.status, 200);
      assert.equal((await check(client, checkRequest({ token }))).status?.code ?? 0, 0);
    } finally {
      closeAll(client);
    }
    assert.equal(await readMetric(t.adminPort, 'zt_authz_shed_total', { transport: 'http' }), 1);
    assert.equal(await readMetric(t.adminPort, 'zt_authz_shed_total', { transport: 'grpc-v3' }), 1);
  });
});

describeGrpc('request size bounds', (impl) => {
  let t: TestApp;
  let idp: TestIdp;
  let token: string;
  let client: AuthClient;
  before(async () => {
    idp = await TestIdp.start();
    token = await idp.sign();
    t = await startTestApp(
      withGrpc(impl, {
        server: { grpcMaxReceiveBytes: 16384 },
        issuers: [{ issuer: idp.issuer, jwksUri: idp.jwksUri, audiences: ['orders'] }],
        policies: POLICIES,
        limits: { maxHeaderBytes: 4096 },
      }),
    );
    client = authV3Client(t.grpcPort);
    await waitUntil(() => t.app.ready, 10_000, 'keys loaded');
  });
  after(async () => {
    closeAll(client);
    await t.stop();
    await idp.close();
  });

  const malformed = (): Promise<number> =>
    readMetric(t.adminPort, 'zt_authz_decisions_total', { decision: 'deny', reason: 'malformed_request' });

  it('limits.maxHeaderBytes: over the sum of header bytes → malformed_request deny (gRPC map and raw forms, HTTP)', async () => {
    const big = 'x'.repeat(4200);
    const small = 'x'.repeat(2000);
    assert.equal(
      (await check(client, checkRequest({ token, headers: { 'x-pad': small } }))).status?.code ?? 0,
      0,
      'under the bound: allowed',
    );
    const m0 = await malformed();
    const denied = await check(client, checkRequest({ token, headers: { 'x-pad': big } }));
    assert.notEqual(denied.status?.code ?? 0, 0);
    assert.equal(denied.deniedResponse?.status?.code, 'BadRequest');
    // Split over many headers, in the raw header_map form: the sum counts.
    const parts: Array<[string, string]> = Array.from({ length: 5 }, (_, i) => [`x-pad-${i}`, 'y'.repeat(900)]);
    const raw = await check(client, checkRequest({ token, headerMap: parts }));
    assert.notEqual(raw.status?.code ?? 0, 0);
    assert.equal((await httpCheck(t.app.httpPort, token, { 'x-pad': big })).status, 400);
    assert.equal((await httpCheck(t.app.httpPort, token, { 'x-pad': small })).status, 200);
    assert.equal(await malformed(), m0 + 3);
    const rec = t.audit().find((r) => r.reason === 'malformed_request' && /header bytes exceed the limit of 4096/.test(String(r.detail)));
    assert.ok(rec, 'audit names the bound');
  });

  it('server.grpcMaxReceiveBytes: a larger CheckRequest is refused by gRPC with RESOURCE_EXHAUSTED', async () => {
    // Refused by the gRPC server before the message is decoded (so before maxHeaderBytes could apply).
    const err = await grpcError(check(client, checkRequest({ token, headers: { 'x-pad': 'z'.repeat(20_000) } })));
    assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED, `${err.code} ${err.details}`);
    assert.match(err.details, /larger than max/i);
  });
});

describe('token cache bound (tokenCache.maxEntries)', () => {
  it('least recently used entries are evicted past maxEntries', async () => {
    const idp = await TestIdp.start();
    const t = await startTestApp({
      issuers: [{ issuer: idp.issuer, jwksUri: idp.jwksUri, audiences: ['orders'] }],
      policies: POLICIES,
      tokenCache: { maxEntries: 2 },
    });
    const client = authV3Client(t.grpcPort);
    try {
      await waitUntil(() => t.app.ready, 10_000, 'keys loaded');
      const tokens = await Promise.all([1, 2, 3].map((i) => idp.sign({ jti: `t${i}` })));
      for (const tok of tokens) assert.equal((await check(client, checkRequest({ token: tok }))).status?.code ?? 0, 0);
      const hits0 = await readMetric(t.adminPort, 'zt_authz_token_cache_hits_total');
      // The third token is cached (hit); the first was evicted by the third (miss).
      await check(client, checkRequest({ token: tokens[2]! }));
      assert.equal(await readMetric(t.adminPort, 'zt_authz_token_cache_hits_total'), hits0 + 1, 'recent entry still cached');
      const misses0 = await readMetric(t.adminPort, 'zt_authz_token_cache_misses_total');
      await check(client, checkRequest({ token: tokens[0]! }));
      assert.equal(await readMetric(t.adminPort, 'zt_authz_token_cache_misses_total'), misses0 + 1, 'oldest entry evicted');
      assert.equal(await readMetric(t.adminPort, 'zt_authz_token_cache_hits_total'), hits0 + 1);
    } finally {
      closeAll(client);
      await t.stop();
      await idp.close();
    }
  });
});
