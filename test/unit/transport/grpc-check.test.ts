// End to end over gRPC: a real App on ephemeral ports, a real JWKS server, clients built from
// proto/. Covers allow/deny shaping, the JWT attack catalogue, v2 parity, health, the verified
// token cache, JWKS rotation, metrics/audit and fail-closed behaviour.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KeyObject, createHash, randomBytes, sign as cryptoSign } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CompactEncrypt, importJWK } from 'jose';
import * as grpc from '@grpc/grpc-js';
import type { CheckRequest, CheckResponse, HeaderValueOption } from '../../../src/transport/grpc/messages.js';
import { AUTH_V2_SERVICE, AUTH_V3_SERVICE } from '../../../src/transport/grpc/protos.js';
import { REASONS, REASON_CODES, type Reason } from '../../../src/decision/reasons.js';
import { TestIdp, base64url, craftToken, generateTestKey, nowSeconds, publicKeyPem, type TestKey } from '../../helpers/idp.js';
import { registerToken } from '../../helpers/capture.js';
import {
  authV2Client,
  authV3Client,
  check,
  checkRequest,
  closeAll,
  headerValue,
  healthCheck,
  healthClient,
  healthWatch,
  randomRequestId,
  type AuthClient,
  type CheckRequestOptions,
} from '../../helpers/grpc-client.js';
import {
  adminGet,
  fetchMetrics,
  freePort,
  metricValue,
  readMetric,
  sleep,
  startTestApp,
  waitUntil,
  type TestApp,
} from '../../helpers/app.js';
import { describeGrpc, withGrpc } from '../../helpers/grpc-impls.js';

// ---------------------------------------------------------------------------------------------
// Shared fixtures

const POLICIES = [{ name: 'allow-authenticated', action: 'ALLOW', rules: [{ from: [{ source: { requestPrincipals: ['*'] } }] }] }];
const PEER = 'spiffe://cluster.local/ns/shop/sa/frontend';

function issuerConfig(idp: TestIdp, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    issuer: idp.issuer,
    jwksUri: idp.jwksUri,
    audiences: ['orders'],
    algorithms: ['RS256', 'ES256'],
    outputClaimToHeaders: [{ header: 'x-tenant', claim: 'tenant' }],
    ...extra,
  };
}

function appConfig(idp: TestIdp, issuerExtra: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { issuers: [issuerConfig(idp, issuerExtra)], policies: POLICIES, ...extra };
}

const tokenHash = (t: string): string => createHash('sha256').update(t).digest('hex').slice(0, 12);

type Challenge = 'none' | 'invalid_token' | 'invalid_request';

function headerOpt(headers: HeaderValueOption[] | undefined, name: string): HeaderValueOption | undefined {
  return (headers ?? []).find((h) => h.header?.key === name);
}

/** Overwrite semantics on every Envoy version: append {value:false} AND appendAction (v3 only). */
function assertOverwrite(h: HeaderValueOption | undefined, name: string, v2 = false): void {
  assert.ok(h, `header ${name} present`);
  assert.deepEqual(h.append, { value: false }, `${name}: append {value:false}`);
  if (!v2) assert.equal(h.appendAction, 'OVERWRITE_IF_EXISTS_OR_ADD', `${name}: appendAction`);
}

function assertAllowed(res: CheckResponse, msg = ''): void {
  assert.equal(res.status?.code, 0, `expected OK ${msg}; got ${res.status?.code} ${res.status?.message}`);
  assert.equal(res.httpResponse, 'okResponse', msg);
}

/** A denial: successful RPC, status.code != 0, deniedResponse with HTTP status, challenge and JSON body. */
function assertDenied(
  res: CheckResponse,
  reason: string,
  opts: { http?: string; grpcCode?: number; challenge?: Challenge; requestId?: string; v2?: boolean } = {},
): void {
  const http = opts.http ?? 'Unauthorized';
  assert.notEqual(res.status?.code, 0, `denial must not be OK (reason ${reason})`);
  assert.equal(res.httpResponse, 'deniedResponse');
  const denied = res.deniedResponse!;
  const body = JSON.parse(denied.body ?? '{}') as { error?: string; request_id?: string; message?: string };
  assert.equal(body.error, reason, `deny reason (message: ${body.message})`);
  assert.equal(res.status?.message, reason);
  assert.equal(denied.status?.code, http);
  if (opts.grpcCode !== undefined) assert.equal(res.status?.code, opts.grpcCode);
  if (opts.requestId) assert.equal(body.request_id, opts.requestId);
  assert.equal(headerValue(denied.headers, 'content-type'), 'application/json');
  for (const h of denied.headers ?? []) assertOverwrite(h, h.header?.key ?? '?', opts.v2);
  const www = headerValue(denied.headers, 'www-authenticate');
  if (http === 'Unauthorized') {
    assert.ok(www, '401 carries WWW-Authenticate');
    assert.match(www, /^Bearer\b/);
    const challenge = opts.challenge ?? 'invalid_token';
    if (challenge === 'none') assert.doesNotMatch(www, /error=/, `no error attribute: ${www}`);
    else assert.match(www, new RegExp(`error="${challenge}"`), www);
  } else {
    assert.equal(www, undefined, 'no challenge outside 401');
  }
  // v2 CheckResponse has no dynamic_metadata
  if (!opts.v2) assert.equal(res.dynamicMetadata?.fields?.reason?.stringValue, reason);
}

/**
 * An RS256 compact JWS over exactly `header` and `payload`, signed with `key` by node:crypto, so
 * headers jose's SignJWT refuses to produce (unknown `crit`, `b64: false`) still carry a genuine
 * signature: the verifier must reject them for what they are, not for a bad signature.
 */
function signRawRs256(header: Record<string, unknown>, payload: Record<string, unknown>, key: TestKey): string {
  const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`;
  const sig = cryptoSign('sha256', Buffer.from(input), KeyObject.from(key.privateKey));
  return registerToken(`${input}.${sig.toString('base64url')}`); // log hygiene: test/helpers/capture.ts
}

/** A plain HTTP server that answers every path with `body` and counts every request (an attacker's key server). */
async function countingServer(body: string): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
  let requests = 0;
  const server = createServer((_req, res) => {
    requests++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

/** No captured line holds a token, or any 20-char window of a token's payload or signature. */
function assertNoTokenLeak(lines: readonly string[], tokens: Iterable<string>): void {
  const grams = new Set<string>();
  for (const line of lines) for (let i = 0; i + 20 <= line.length; i++) grams.add(line.slice(i, i + 20));
  const all = lines.join('\n');
  let checked = 0;
  for (const token of tokens) {
    checked++;
    assert.ok(!all.includes(token), `a log line contains a whole token (hash ${tokenHash(token)})`);
    const [, payload = '', signature = ''] = token.split('.');
    for (const [what, seg] of [
      ['payload', payload],
      ['signature', signature],
    ] as const) {
      for (let i = 0; i + 20 <= seg.length; i++) {
        const gram = seg.slice(i, i + 20);
        if (grams.has(gram)) {
          const line = lines.find((l) => l.includes(gram));
          assert.fail(`log line contains 20 chars of a token ${what} (hash ${tokenHash(token)}): ${line?.slice(0, 300)}`);
        }
      }
    }
  }
  assert.ok(checked > 0, 'leak check ran over some tokens');
}

// ---------------------------------------------------------------------------------------------
// Main app: one IdP (RS256 rs1 + ES256 ec1), default cache and cooldown. The wire-level suites (this
// one and health) run on both server implementations; the rest exercise the decision and run on
// the default.

describeGrpc('Check over gRPC against one issuer', (impl) => {
  let idp: TestIdp;
  let t: TestApp;
  let v3: AuthClient;
  let v2: AuthClient;
  /** The attacker's key (published under the IdP's real kid `rs1` by `attackerKeys`). */
  let attackerKey: TestKey;
  /** Where jku/x5u headers point: must never receive a request. */
  let attackerKeys: Awaited<ReturnType<typeof countingServer>>;
  /** Every token offered to the main app (for the leak check). */
  const tokens = new Set<string>();
  /** Number of Check calls made against the main app (one audit record each). */
  let checks = 0;

  const reg = (tok: string): string => (tokens.add(tok), tok);
  const sign = async (claims: Record<string, unknown> = {}, opts: Parameters<TestIdp['sign']>[1] = {}): Promise<string> =>
    reg(await idp.sign(claims, opts));
  async function call(o: CheckRequestOptions | CheckRequest, client: AuthClient = v3): Promise<CheckResponse> {
    checks++;
    return check(client, 'attributes' in o ? o : checkRequest({ sourcePrincipal: PEER, ...o }));
  }

  before(async () => {
    idp = await TestIdp.start({
      keys: [
        { kid: 'rs1', alg: 'RS256' },
        { kid: 'ec1', alg: 'ES256' },
      ],
    });
    t = await startTestApp(withGrpc(impl, appConfig(idp)), { logLevel: 'debug' });
    await waitUntil(() => t.app.ready, 5000, 'main app ready');
    v3 = authV3Client(t.grpcPort);
    v2 = authV2Client(t.grpcPort);
    attackerKey = await generateTestKey('rs1');
    attackerKeys = await countingServer(JSON.stringify({ keys: [attackerKey.jwk] }));
  });

  after(async () => {
    closeAll(v3, v2);
    await t?.stop();
    await idp?.close();
    await attackerKeys?.close();
  });

  describe('allow', () => {
    it('valid RS256 token → OK; identity headers overwrite; credential removed', async () => {
      const token = await sign({ scope: 'orders:read orders:write', tenant: 'acme' });
      const requestId = randomRequestId();
      const res = await call({ token, requestId });
      assertAllowed(res);
      const ok = res.okResponse!;
      const sub = headerOpt(ok.headers, 'x-auth-subject');
      const iss = headerOpt(ok.headers, 'x-auth-issuer');
      const scopes = headerOpt(ok.headers, 'x-auth-scopes');
      const tenant = headerOpt(ok.headers, 'x-tenant');
      for (const [h, n] of [
        [sub, 'x-auth-subject'],
        [iss, 'x-auth-issuer'],
        [scopes, 'x-auth-scopes'],
        [tenant, 'x-tenant'],
      ] as const)
        assertOverwrite(h, n);
      assert.equal(sub?.header?.value, 'alice');
      assert.equal(iss?.header?.value, idp.issuer);
      assert.equal(scopes?.header?.value, 'orders:read orders:write');
      assert.equal(tenant?.header?.value, 'acme');
      assert.ok(ok.headersToRemove?.includes('authorization'), `authorization removed: ${ok.headersToRemove}`);
      for (const n of ['x-auth-subject', 'x-auth-issuer', 'x-auth-scopes', 'x-tenant']) {
        assert.ok(!ok.headersToRemove?.includes(n), `${n} is set, so not removed`);
      }
      assert.deepEqual(ok.queryParametersToRemove, []);
      assert.equal(res.dynamicMetadata?.fields?.reason?.stringValue, 'allowed');
      assert.equal(res.dynamicMetadata?.fields?.policy?.stringValue, 'allow-authenticated');
      assert.equal(res.dynamicMetadata?.fields?.token_hash?.stringValue, tokenHash(token));
    });

    it('valid ES256 token → OK', async () => {
      const res = await call({ token: await sign({}, { key: 'ec1' }) });
      assertAllowed(res);
      assert.equal(headerValue(res.okResponse?.headers, 'x-auth-subject'), 'alice');
    });

    it('identity headers not derived from the token are removed (client-sent spoofs)', async () => {
      const token = await sign({ sub: 'bob' }); // no scope, no tenant claim
      const res = await call({
        token,
        headers: { 'x-auth-scopes': 'admin', 'x-tenant': 'evil-corp', 'x-auth-subject': 'root', 'x-auth-issuer': 'https://evil' },
      });
      assertAllowed(res);
      const ok = res.okResponse!;
      assert.equal(headerValue(ok.headers, 'x-auth-subject'), 'bob', 'subject overwritten');
      assert.equal(headerValue(ok.headers, 'x-auth-issuer'), idp.issuer, 'issuer overwritten');
      assert.equal(headerValue(ok.headers, 'x-auth-scopes'), undefined);
      assert.equal(headerValue(ok.headers, 'x-tenant'), undefined);
      assert.ok(ok.headersToRemove?.includes('x-auth-scopes'), `x-auth-scopes removed: ${ok.headersToRemove}`);
      assert.ok(ok.headersToRemove?.includes('x-tenant'), `x-tenant removed: ${ok.headersToRemove}`);
      assert.ok(ok.headersToRemove?.includes('authorization'));
    });

    it('token exp within the 30 s clock skew → allowed', async () => {
      const now = nowSeconds();
      assertAllowed(await call({ token: await sign({ iat: now - 300, exp: now - 10 }) }));
    });

    it('encode_raw_headers (headerMap) with one Authorization → allowed', async () => {
      const token = await sign();
      assertAllowed(await call({ headerMap: [['Authorization', `Bearer ${token}`]] }));
    });
  });

  describe('deny', () => {
    interface Case {
      name: string;
      req: () => Promise<CheckRequestOptions | CheckRequest>;
      reason: string;
      http?: string;
      grpcCode?: number;
      challenge?: Challenge;
      /** v2 has no headerMap (encode_raw_headers): skip the parity check. */
      v3Only?: boolean;
      /** Extra checks once both Checks (v3 and v2) were answered. */
      then?: () => void;
    }
    const now = nowSeconds();
    /** Claims that would be allowed if the token's signature were accepted. */
    const goodClaims = (): Record<string, unknown> => ({ iss: idp.issuer, sub: 'admin', aud: 'orders', iat: now, exp: now + 300 });
    const noAttackerFetch = (): void => assert.equal(attackerKeys.requests(), 0, 'a header URL (jku/x5u) was dereferenced');
    const cases: Case[] = [
      { name: 'missing token', req: async () => ({}), reason: 'token_missing', challenge: 'none', grpcCode: 16 },
      {
        name: 'expired (beyond skew)',
        req: async () => ({ token: await sign({ iat: now - 600, exp: now - 120 }) }),
        reason: 'token_expired',
      },
      { name: 'nbf in the future', req: async () => ({ token: await sign({ nbf: now + 600 }) }), reason: 'token_not_yet_valid' },
      {
        name: 'iat in the future',
        req: async () => ({ token: await sign({ iat: now + 600, exp: now + 900 }) }),
        reason: 'token_not_yet_valid',
      },
      { name: 'wrong issuer', req: async () => ({ token: await sign({ iss: 'https://evil.example' }) }), reason: 'issuer_unknown' },
      { name: 'wrong audience', req: async () => ({ token: await sign({ aud: 'payments' }) }), reason: 'audience_mismatch' },
      { name: 'no audience', req: async () => ({ token: await sign({ aud: undefined }) }), reason: 'audience_mismatch' },
      {
        name: 'bad signature (other key, same kid)',
        req: async () => ({ token: await sign({}, { key: await generateTestKey('rs1'), kid: 'rs1' }) }),
        reason: 'token_invalid_signature',
      },
      {
        name: 'tampered payload (real signature)',
        req: async () => {
          const [h, , s] = (await sign()).split('.');
          const forged = Buffer.from(JSON.stringify({ iss: idp.issuer, sub: 'admin', aud: 'orders', exp: now + 300 })).toString(
            'base64url',
          );
          return { token: reg(`${h}.${forged}.${s}`) };
        },
        reason: 'token_invalid_signature',
      },
      {
        name: 'alg none',
        req: async () => ({
          token: reg(craftToken({ alg: 'none', typ: 'JWT' }, { iss: idp.issuer, sub: 'admin', aud: 'orders', exp: now + 300 })),
        }),
        reason: 'token_alg_not_allowed',
      },
      {
        name: 'HS256 signed with the RSA public key PEM (alg confusion)',
        req: async () => {
          const secret = new TextEncoder().encode(publicKeyPem(idp.key('rs1').jwk));
          return { token: await sign({ sub: 'admin' }, { key: secret, alg: 'HS256', kid: 'rs1' }) };
        },
        reason: 'token_alg_not_allowed',
      },
      {
        name: 'embedded jwk header with the real kid',
        req: async () => {
          const attacker = await generateTestKey('rs1');
          const { kid: _k, ...pub } = attacker.jwk;
          return { token: await sign({ sub: 'admin' }, { key: attacker, kid: 'rs1', header: { jwk: pub } }) };
        },
        reason: 'token_invalid_signature',
      },
      {
        name: 'embedded jwk header without kid',
        req: async () => {
          const attacker = await generateTestKey('attacker');
          const { kid: _k, ...pub } = attacker.jwk;
          return { token: await sign({ sub: 'admin' }, { key: attacker, kid: null, header: { jwk: pub } }) };
        },
        reason: 'token_invalid_signature',
      },
      // Keys come from the issuer's configured JWKS only; header URLs are never fetched.
      {
        name: 'jku header → attacker JWKS (attacker key, real kid)',
        req: async () => ({
          token: await sign({ sub: 'admin' }, { key: attackerKey, kid: 'rs1', header: { jku: `${attackerKeys.url}/jwks.json` } }),
        }),
        reason: 'token_invalid_signature',
        then: noAttackerFetch,
      },
      {
        name: 'x5u header → attacker URL (attacker key, real kid)',
        req: async () => ({
          token: await sign({ sub: 'admin' }, { key: attackerKey, kid: 'rs1', header: { x5u: `${attackerKeys.url}/cert.pem` } }),
        }),
        reason: 'token_invalid_signature',
        then: noAttackerFetch,
      },
      {
        name: 'jku header with a kid we do not know (attacker key)',
        req: async () => ({
          token: await sign({ sub: 'admin' }, { key: attackerKey, kid: 'attacker-1', header: { jku: `${attackerKeys.url}/jwks.json` } }),
        }),
        reason: 'token_unknown_key',
        then: noAttackerFetch,
      },
      // An unknown critical extension, validly signed by the issuer's own key.
      {
        name: 'crit ["x-foo"] (genuine signature)',
        req: async () => ({
          token: reg(signRawRs256({ alg: 'RS256', typ: 'JWT', kid: 'rs1', crit: ['x-foo'], 'x-foo': true }, goodClaims(), idp.key('rs1'))),
        }),
        reason: 'token_malformed',
      },
      // CVE-2022-21449 — r = s = 0 against the ES256 key.
      {
        name: 'psychic ES256 signature (64 zero bytes)',
        req: async () => ({
          token: reg(registerToken(craftToken({ alg: 'ES256', typ: 'JWT', kid: 'ec1' }, goodClaims(), base64url(new Uint8Array(64))))),
        }),
        reason: 'token_invalid_signature',
      },
      // A JWE anyone can encrypt to the issuer's public key carries no sender authentication.
      {
        name: 'five-segment JWE compact token (encrypted to the issuer key)',
        req: async () => {
          const { alg: _a, use: _u, kid: _k, ...pub } = idp.key('rs1').jwk;
          const encKey = await importJWK(pub, 'RSA-OAEP-256');
          const jwe = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify(goodClaims())))
            .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: 'rs1', typ: 'JWT' })
            .encrypt(encKey);
          assert.equal(jwe.split('.').length, 5);
          return { token: reg(registerToken(jwe)) };
        },
        reason: 'token_malformed',
      },
      // b64:false — the payload segment is signed as raw bytes, yet it decodes to good claims.
      {
        name: 'b64:false with crit ["b64"] (genuine signature)',
        req: async () => ({
          token: reg(signRawRs256({ alg: 'RS256', kid: 'rs1', b64: false, crit: ['b64'] }, goodClaims(), idp.key('rs1'))),
        }),
        reason: 'token_malformed',
      },
      { name: 'oversize token (> 8 KiB)', req: async () => ({ token: await sign({ blob: 'x'.repeat(9000) }) }), reason: 'token_too_large' },
      {
        name: 'two Authorization values comma-joined (Envoy headers map)',
        req: async () => ({ headers: { authorization: `Bearer ${await sign()}, Bearer ${await sign({ sub: 'bob' })}` } }),
        reason: 'token_multiple',
        challenge: 'invalid_request',
      },
      {
        name: 'two Authorization entries in headerMap (encode_raw_headers)',
        req: async () => ({
          headerMap: [
            ['authorization', `Bearer ${await sign()}`],
            ['authorization', `Bearer ${await sign({ sub: 'bob' })}`],
          ],
        }),
        reason: 'token_multiple',
        challenge: 'invalid_request',
        v3Only: true,
      },
      { name: 'Basic credentials', req: async () => ({ headers: { authorization: 'Basic eHl6OnBhc3N3b3Jk' } }), reason: 'token_malformed' },
      {
        name: 'lowercase bearer scheme',
        req: async () => ({ headers: { authorization: `bearer ${await sign()}` } }),
        reason: 'token_malformed',
      },
      {
        name: 'Bearer with a non-JWT value',
        req: async () => ({ headers: { authorization: 'Bearer not-a-jwt' } }),
        reason: 'token_malformed',
      },
      {
        name: 'unknown kid',
        req: async () => ({ token: await sign({}, { key: await generateTestKey('rs-unpublished') }) }),
        reason: 'token_unknown_key',
      },
      { name: 'token without exp', req: async () => ({ token: await sign({ exp: undefined }) }), reason: 'token_claims_invalid' },
      { name: 'token without sub', req: async () => ({ token: await sign({ sub: undefined }) }), reason: 'token_claims_invalid' },
      {
        name: 'missing attributes.request.http',
        req: async () => ({ attributes: { source: { principal: PEER }, request: { time: { seconds: now } } } }),
        reason: 'malformed_request',
        http: 'BadRequest',
        grpcCode: 3,
      },
      { name: 'empty CheckRequest', req: async () => ({ attributes: null }), reason: 'malformed_request', http: 'BadRequest', grpcCode: 3 },
    ];

    for (const c of cases) {
      it(`${c.name} → ${c.reason}`, async () => {
        const o = await c.req();
        const requestId = 'attributes' in o ? undefined : randomRequestId();
        const req: CheckRequest | CheckRequestOptions = 'attributes' in o ? o : { ...o, requestId: requestId! };
        const res = await call(req);
        assertDenied(res, c.reason, {
          ...(c.http ? { http: c.http } : {}),
          ...(c.grpcCode !== undefined ? { grpcCode: c.grpcCode } : c.http ? {} : { grpcCode: 16 }),
          ...(c.challenge ? { challenge: c.challenge } : {}),
          ...(requestId ? { requestId } : {}),
        });
        if (!c.v3Only) {
          // v2 parity: the same request on envoy.service.auth.v2 gives the same decision.
          const r2 = await call(req, v2);
          assertDenied(r2, c.reason, { v2: true, ...(c.http ? { http: c.http } : {}), ...(c.challenge ? { challenge: c.challenge } : {}) });
          assert.equal(r2.status?.code, res.status?.code);
        }
        c.then?.();
      });
    }
  });

  describe('v2 service (envoy.service.auth.v2.Authorization/Check)', () => {
    it('allows a valid token with the same identity headers', async () => {
      const token = await sign({ scope: 'orders:read', tenant: 'acme' });
      const r3 = await call({ token });
      const r2 = await call({ token }, v2);
      assertAllowed(r3);
      assertAllowed(r2, 'v2');
      for (const n of ['x-auth-subject', 'x-auth-issuer', 'x-auth-scopes', 'x-tenant']) {
        assert.equal(headerValue(r2.okResponse?.headers, n), headerValue(r3.okResponse?.headers, n), n);
        assert.deepEqual(headerOpt(r2.okResponse?.headers, n)?.append, { value: false }, `${n} append:false on v2`);
      }
    });

    it('v2 has no headers_to_remove: client-sent identity headers and the credential are overwritten with an empty value', async () => {
      // envoy.service.auth.v2.OkHttpResponse only has `headers`: what v3 removes is blanked
      // (append:false) instead, and only when the client sent it.
      const token = await sign({ scope: 'orders:read' }); // no tenant claim: x-tenant is not set by us
      const r2 = await call({ token, headers: { 'x-tenant': 'evil-corp', 'x-auth-subject': 'admin' } }, v2);
      assertAllowed(r2, 'v2');
      assert.equal((r2.okResponse as Record<string, unknown> | undefined)?.headersToRemove, undefined);
      const hs = r2.okResponse?.headers ?? [];
      for (const name of ['x-tenant', 'authorization']) {
        assertOverwrite(headerOpt(hs, name), name, true);
        assert.equal(headerValue(hs, name), '', `${name} blanked`);
      }
      assert.equal(headerValue(hs, 'x-auth-subject'), 'alice', "our value, not the client's");
      assert.equal(hs.filter((h) => h.header?.key === 'x-auth-subject').length, 1);
      assert.ok(!JSON.stringify(hs).includes('evil-corp') && !JSON.stringify(hs).includes(token));
      // An anonymous-looking request that carries none of them gets no blank headers added.
      const clean = await call({ token }, v2);
      assert.equal(headerOpt(clean.okResponse?.headers, 'x-tenant'), undefined, 'not sent, not added');
      // v3 still uses headers_to_remove for the same request.
      const r3 = await call({ token, headers: { 'x-tenant': 'evil-corp' } });
      assert.ok(r3.okResponse?.headersToRemove?.includes('x-tenant'));
      assert.equal(headerOpt(r3.okResponse?.headers, 'x-tenant'), undefined);
    });
  });

  describe('token cache', () => {
    it('the same valid token twice: one cache hit, no JWKS refetch', async () => {
      const token = await sign({ tenant: 'acme' });
      const fetches = idp.jwksFetches;
      const before = await fetchMetrics(t.adminPort);
      const r1 = await call({ token });
      const mid = await fetchMetrics(t.adminPort);
      const r2 = await call({ token });
      const after = await fetchMetrics(t.adminPort);
      assertAllowed(r1);
      assertAllowed(r2);
      assert.deepEqual(r2.okResponse?.headers, r1.okResponse?.headers, 'cache hit gives the same headers');
      assert.equal(metricValue(mid, 'zt_authz_token_cache_misses_total') - metricValue(before, 'zt_authz_token_cache_misses_total'), 1);
      assert.equal(metricValue(mid, 'zt_authz_token_cache_hits_total') - metricValue(before, 'zt_authz_token_cache_hits_total'), 0);
      assert.equal(metricValue(after, 'zt_authz_token_cache_hits_total') - metricValue(mid, 'zt_authz_token_cache_hits_total'), 1);
      assert.equal(metricValue(after, 'zt_authz_token_cache_misses_total') - metricValue(mid, 'zt_authz_token_cache_misses_total'), 0);
      assert.equal(idp.jwksFetches, fetches, 'no JWKS fetch');
    });

    it('a cached token offered with a second credential is still token_multiple', async () => {
      const token = await sign();
      assertAllowed(await call({ token }));
      assertDenied(await call({ headers: { authorization: `Bearer ${token}, Bearer ${token}` } }), 'token_multiple', {
        challenge: 'invalid_request',
      });
    });
  });

  describe('JWKS', () => {
    it('unknown-kid flood of 50 tokens → at most 1 extra fetch (cooldown)', async () => {
      const fetches = idp.jwksFetches;
      const attacker = await generateTestKey('attacker');
      const flood = await Promise.all(
        Array.from({ length: 50 }, (_, i) => sign({}, { key: attacker, kid: `flood-${i}-${randomBytes(4).toString('hex')}` })),
      );
      const results = await Promise.all(flood.map((token) => call({ token })));
      for (const r of results) assertDenied(r, 'token_unknown_key');
      assert.ok(idp.jwksFetches - fetches <= 1, `extra fetches: ${idp.jwksFetches - fetches}`);
    });
  });

  describe('metrics and audit', () => {
    it('decision counters move by the right amounts; one audit record per decision', async () => {
      const labelsAllow = { decision: 'allow', reason: 'allowed', policy: 'allow-authenticated' };
      const labelsExpired = { decision: 'deny', reason: 'token_expired', policy: '' };
      const before = await fetchMetrics(t.adminPort);
      const now = nowSeconds();
      const sent: Array<{ requestId: string; token: string; decision: 'allow' | 'deny'; reason: string }> = [];
      for (let i = 0; i < 3; i++)
        sent.push({ requestId: randomRequestId(), token: await sign({ jti: `a${i}` }), decision: 'allow', reason: 'allowed' });
      for (let i = 0; i < 2; i++) {
        sent.push({
          requestId: randomRequestId(),
          token: await sign({ iat: now - 900, exp: now - 300, jti: `e${i}` }),
          decision: 'deny',
          reason: 'token_expired',
        });
      }
      for (const s of sent) await call({ token: s.token, requestId: s.requestId });
      const afterText = await fetchMetrics(t.adminPort);
      assert.equal(
        metricValue(afterText, 'zt_authz_decisions_total', labelsAllow) - metricValue(before, 'zt_authz_decisions_total', labelsAllow),
        3,
      );
      assert.equal(
        metricValue(afterText, 'zt_authz_decisions_total', labelsExpired) - metricValue(before, 'zt_authz_decisions_total', labelsExpired),
        2,
      );
      assert.ok(metricValue(afterText, 'zt_authz_check_duration_seconds_count', { transport: 'grpc-v3' }) >= 5);

      const audit = t.audit();
      for (const s of sent) {
        const recs = audit.filter((r) => r.request_id === s.requestId);
        assert.equal(recs.length, 1, `one audit record for ${s.requestId}`);
        const r = recs[0]!;
        assert.equal(r.logger, 'audit');
        assert.equal(r.decision, s.decision);
        assert.equal(r.reason, s.reason);
        assert.equal(r.transport, 'grpc-v3');
        assert.match(r.token_hash as string, /^[0-9a-f]{12}$/);
        assert.equal(r.token_hash, tokenHash(s.token));
        if (s.decision === 'allow') {
          assert.equal(r.policy, 'allow-authenticated');
          assert.equal(r.subject, 'alice');
        }
        assert.equal((r.source as { principal?: string } | undefined)?.principal, PEER);
      }
    });

    it('every decision series pairs its reason with the right decision (allow reasons never as deny)', async () => {
      const text = await fetchMetrics(t.adminPort);
      const seen = new Set<string>();
      for (const m of text.matchAll(/^zt_authz_decisions_total\{([^}]*)\} /gm)) {
        const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
        const reason = labels.reason as Reason;
        assert.ok(REASON_CODES.includes(reason), `unknown reason label ${labels.reason}`);
        assert.equal(labels.decision, REASONS[reason].status === 200 ? 'allow' : 'deny', `series ${m[0]}`);
        if (labels.policy === '') seen.add(reason);
      }
      // Pre-created from the start (rate() works from the first scrape), including the allow-only `observed`.
      for (const reason of REASON_CODES) assert.ok(seen.has(reason), `series for ${reason} pre-created`);
    });

    it('exactly one audit record per Check so far, every deny has a reason', async () => {
      const audit = t.audit();
      assert.equal(audit.length, checks, `audit records ${audit.length} vs Check calls ${checks}`);
      for (const r of audit) {
        assert.ok(r.decision === 'allow' || r.decision === 'deny');
        assert.equal(typeof r.reason, 'string');
        if (r.token_hash !== undefined) assert.match(r.token_hash as string, /^[0-9a-f]{12}$/);
      }
      // operational lines are there too (e.g. "zt-authz listening", JWKS fetched at debug)
      assert.ok(t.records().some((r) => r.logger === 'ops'));
    });

    it('no captured log line (ops + audit) contains a token or 20 chars of its payload/signature', () => {
      assert.ok(tokens.size > 30, `tokens used: ${tokens.size}`);
      assertNoTokenLeak(t.lines, tokens);
    });
  });
});

// ---------------------------------------------------------------------------------------------

describe('issuer confusion: two issuers, each verified only with its own key set', () => {
  // The iss claim picks the issuer, and only that issuer's keys may verify.
  // A key set shared across issuers (or a lookup by kid over all of them) would let B's keys
  // vouch for tokens claiming to come from A.
  it("iss=A signed by B's key → token_unknown_key (B's kid) / token_invalid_signature (A's kid); never OK", async () => {
    const idpA = await TestIdp.start({ keys: [{ kid: 'a1' }] });
    const idpB = await TestIdp.start({ keys: [{ kid: 'b1' }] });
    const t = await startTestApp({ issuers: [issuerConfig(idpA), issuerConfig(idpB)], policies: POLICIES });
    const v3 = authV3Client(t.grpcPort);
    const v2 = authV2Client(t.grpcPort);
    const tokens: string[] = [];
    const sign = async (idp: TestIdp, claims: Record<string, unknown>, opts: Parameters<TestIdp['sign']>[1] = {}): Promise<string> => {
      const tok = await idp.sign(claims, opts);
      tokens.push(tok);
      return tok;
    };
    try {
      await waitUntil(() => t.app.ready, 5000, 'both issuers loaded');
      // Both issuers verify their own tokens, so the denials below are about the key, not a dead issuer.
      assertAllowed(await check(v3, checkRequest({ token: await sign(idpA, {}) })), 'A');
      assertAllowed(await check(v3, checkRequest({ token: await sign(idpB, {}) })), 'B');

      const confused: Array<[string, string, string]> = [
        ["iss=A, B's key, B's kid", await sign(idpB, { iss: idpA.issuer, sub: 'admin' }), 'token_unknown_key'],
        ["iss=B, A's key, A's kid", await sign(idpA, { iss: idpB.issuer, sub: 'admin' }), 'token_unknown_key'],
        ["iss=A, B's key, A's kid", await sign(idpB, { iss: idpA.issuer, sub: 'admin' }, { kid: 'a1' }), 'token_invalid_signature'],
      ];
      for (const [name, token, reason] of confused) {
        const r3 = await check(v3, checkRequest({ token }));
        const r2 = await check(v2, checkRequest({ token }));
        assert.equal(r3.status?.message, reason, `${name} (v3)`);
        assert.equal(r2.status?.message, reason, `${name} (v2)`);
        assertDenied(r3, reason, { grpcCode: 16 });
        assertDenied(r2, reason, { v2: true });
      }
      assertNoTokenLeak(t.lines, tokens);
    } finally {
      closeAll(v3, v2);
      await t.stop();
      await idpA.close();
      await idpB.close();
    }
  });
});

describe('forwardOriginalToken: true', () => {
  it('keeps the Authorization header upstream but still strips unset identity headers', async () => {
    const idp = await TestIdp.start();
    const t = await startTestApp(appConfig(idp, { forwardOriginalToken: true }));
    const v3 = authV3Client(t.grpcPort);
    try {
      const token = await idp.sign();
      const res = await check(v3, checkRequest({ token, headers: { 'x-tenant': 'evil' } }));
      assertAllowed(res);
      assert.ok(!res.okResponse?.headersToRemove?.includes('authorization'), `authorization kept: ${res.okResponse?.headersToRemove}`);
      assert.ok(res.okResponse?.headersToRemove?.includes('x-tenant'));
      assertNoTokenLeak(t.lines, [token]);
    } finally {
      v3.close();
      await t.stop();
      await idp.close();
    }
  });
});

describe('credentials in query parameters and cookies', () => {
  it('a token from fromParams/fromCookies is accepted and stripped upstream (param removed, cookie header rewritten)', async () => {
    const idp = await TestIdp.start();
    const t = await startTestApp(appConfig(idp, { fromParams: ['access_token'], fromCookies: ['session'] }));
    const v3 = authV3Client(t.grpcPort);
    try {
      const token = await idp.sign();
      const byParam = await check(v3, checkRequest({ path: `/orders/1?x=1&access_token=${token}` }));
      assertAllowed(byParam);
      assert.deepEqual(byParam.okResponse?.queryParametersToRemove, ['access_token']);
      const byCookie = await check(v3, checkRequest({ headers: { cookie: `theme=dark; session=${token}; lang=en` } }));
      assertAllowed(byCookie);
      const cookie = headerOpt(byCookie.okResponse?.headers, 'cookie');
      assertOverwrite(cookie, 'cookie');
      assert.equal(cookie?.header?.value, 'theme=dark; lang=en');
      const onlyCookie = await check(v3, checkRequest({ headers: { cookie: `session=${token}` } }));
      assert.ok(onlyCookie.okResponse?.headersToRemove?.includes('cookie'));
      // the same token in a parameter and a cookie is two credentials
      const both = await check(v3, checkRequest({ path: `/o?access_token=${token}`, headers: { cookie: `session=${token}` } }));
      assertDenied(both, 'token_multiple', { challenge: 'invalid_request' });
      assertNoTokenLeak(t.lines, [token]);
    } finally {
      v3.close();
      await t.stop();
      await idp.close();
    }
  });
});

describeGrpc('health', (impl) => {
  it('NOT_SERVING until the (slow) JWKS loads, then SERVING; /readyz 503 then 200; unknown service NOT_FOUND', async () => {
    const idp = await TestIdp.start({ jwksDelayMs: 800 });
    const t = await startTestApp(withGrpc(impl, appConfig(idp)));
    const h = healthClient(t.grpcPort);
    const watch = healthWatch(h, '');
    try {
      assert.equal((await healthCheck(h, '')).status, 'NOT_SERVING');
      assert.equal((await healthCheck(h, AUTH_V3_SERVICE)).status, 'NOT_SERVING');
      assert.equal((await adminGet(t.adminPort, '/readyz')).status, 503);
      assert.equal((await adminGet(t.adminPort, '/healthz')).status, 200, 'liveness is independent of keys');
      assert.equal(await readMetric(t.adminPort, 'zt_authz_ready'), 0);
      await assert.rejects(healthCheck(h, 'no.such.Service'), (err: grpc.ServiceError) => {
        assert.equal(err.code, grpc.status.NOT_FOUND);
        return true;
      });

      await watch.waitFor('SERVING', 5000);
      assert.equal(watch.statuses[0], 'NOT_SERVING', `watch sequence ${watch.statuses}`);
      assert.equal((await healthCheck(h, '')).status, 'SERVING');
      assert.equal((await healthCheck(h, AUTH_V3_SERVICE)).status, 'SERVING');
      assert.equal((await healthCheck(h, AUTH_V2_SERVICE)).status, 'SERVING');
      assert.equal((await adminGet(t.adminPort, '/readyz')).status, 200);
      await waitUntil(async () => (await readMetric(t.adminPort, 'zt_authz_ready')) === 1, 2000, 'zt_authz_ready 1');
      assert.equal(idp.jwksFetches, 1);
    } finally {
      watch.cancel();
      h.close();
      await t.stop();
      await idp.close();
    }
  });

  it('a Check arriving before keys load waits for them (no spurious jwks_unavailable)', async () => {
    const idp = await TestIdp.start({ jwksDelayMs: 500 });
    const t = await startTestApp(withGrpc(impl, appConfig(idp)));
    const v3 = authV3Client(t.grpcPort);
    try {
      const token = await idp.sign();
      const started = Date.now();
      assertAllowed(await check(v3, checkRequest({ token })));
      assert.ok(Date.now() - started >= 300, 'the Check waited for the initial fetch');
      assert.equal(idp.jwksFetches, 1, 'joined the initial fetch, no second one');
    } finally {
      v3.close();
      await t.stop();
      await idp.close();
    }
  });
});

describe('configuration edge cases', () => {
  it('jwksCooldownSeconds: 0 is rejected by validation (a zero cooldown would let unknown-kid floods hammer the IdP)', async () => {
    const idp = await TestIdp.start();
    try {
      await assert.rejects(startTestApp(appConfig(idp, { jwksCooldownSeconds: 0 })), (err: Error) => {
        assert.match(err.message, /issuers\[0\]\.jwksCooldownSeconds: must be >= 1/);
        return true;
      });
    } finally {
      await idp.close();
    }
  });

  // server.readyTimeoutSeconds: 0 is allowed ("do not wait"); the readiness watcher must not
  // turn it into a busy loop that logs "not ready" hundreds of times per second.
  it('readyTimeoutSeconds: 0 with an unreachable IdP does not flood the log with "not ready" warnings', async () => {
    const port = await freePort();
    const t = await startTestApp({
      server: { readyTimeoutSeconds: 0 },
      issuers: [
        { issuer: 'https://down.idp.test', jwksUri: `http://127.0.0.1:${port}/jwks.json`, algorithms: ['RS256'], audiences: ['orders'] },
      ],
      policies: POLICIES,
    });
    try {
      await sleep(500);
      const warnings = t.records().filter((r) => typeof r.msg === 'string' && r.msg.startsWith('not ready')).length;
      assert.ok(warnings <= 5, `"not ready" logged ${warnings} times in 500 ms`);
    } finally {
      await t.stop();
    }
  });
});

describe('token cache expiry', () => {
  it('a cached token that expired since is denied token_expired (skew 0)', async () => {
    const idp = await TestIdp.start();
    const t = await startTestApp(appConfig(idp, { clockSkewSeconds: 0 }));
    const v3 = authV3Client(t.grpcPort);
    try {
      await waitUntil(() => t.app.ready, 3000, 'ready');
      const exp = nowSeconds() + 2;
      const token = await idp.sign({ exp });
      assertAllowed(await check(v3, checkRequest({ token })));
      const hits0 = await readMetric(t.adminPort, 'zt_authz_token_cache_hits_total');
      assertAllowed(await check(v3, checkRequest({ token })));
      assert.equal(await readMetric(t.adminPort, 'zt_authz_token_cache_hits_total'), hits0 + 1, 'second Check is a cache hit');
      await sleep(Math.max(0, exp * 1000 - Date.now()) + 200);
      const res = await check(v3, checkRequest({ token }));
      assertDenied(res, 'token_expired');
      assert.equal(await readMetric(t.adminPort, 'zt_authz_token_cache_hits_total'), hits0 + 1, 'expired entry is not a hit');
      assertNoTokenLeak(t.lines, [token]);
    } finally {
      v3.close();
      await t.stop();
      await idp.close();
    }
  });
});

describe('JWKS rotation through the server', () => {
  let idp: TestIdp;
  let t: TestApp;
  let v3: AuthClient;
  const tokens: string[] = [];
  const sign = async (opts: Parameters<TestIdp['sign']>[1] = {}): Promise<string> => {
    const tok = await idp.sign({}, opts);
    tokens.push(tok);
    return tok;
  };

  before(async () => {
    idp = await TestIdp.start({ keys: [{ kid: 'rs1' }] });
    t = await startTestApp(appConfig(idp, { jwksCooldownSeconds: 1 }));
    await waitUntil(() => t.app.ready, 3000, 'ready');
    v3 = authV3Client(t.grpcPort);
  });
  after(async () => {
    v3?.close();
    await t?.stop();
    await idp?.close();
  });

  it('IdP publishes a new kid → token with that kid allowed with exactly one extra fetch', async () => {
    assertAllowed(await check(v3, checkRequest({ token: await sign() })));
    assert.equal(idp.jwksFetches, 1);
    await idp.addKey('rs2');
    await sleep(1100); // past the 1 s on-demand cooldown that started with the initial fetch
    const res = await check(v3, checkRequest({ token: await sign({ key: 'rs2' }) }));
    assertAllowed(res);
    assert.equal(idp.jwksFetches, 2, 'exactly one extra fetch');
    assertAllowed(await check(v3, checkRequest({ token: await sign({ key: 'rs2' }) })));
    assertAllowed(await check(v3, checkRequest({ token: await sign({ key: 'rs1' }) })));
    assert.equal(idp.jwksFetches, 2, 'no further fetches');
    assert.ok((await readMetric(t.adminPort, 'zt_authz_jwks_refresh_total', { result: 'success', trigger: 'unknown_kid' })) >= 1);
  });

  it('a key removed from the JWKS stops working for cached tokens after the next fetch', async () => {
    const old = await sign({ key: 'rs1' });
    assertAllowed(await check(v3, checkRequest({ token: old })), 'rs1 token before removal');
    assertAllowed(await check(v3, checkRequest({ token: old })), 'cached');
    idp.removeKey('rs1');
    await idp.addKey('rs3');
    await sleep(1100);
    assertAllowed(await check(v3, checkRequest({ token: await sign({ key: 'rs3' }) })), 'rs3 triggers the refetch');
    assertDenied(await check(v3, checkRequest({ token: old })), 'token_unknown_key');
  });

  it('IdP down after the first load → valid tokens are still allowed (last-known-good)', async () => {
    idp.setMode('503');
    await sleep(1100);
    const fetches = idp.jwksFetches;
    // unknown kid while down: one failed fetch at most, then denied
    assertDenied(await check(v3, checkRequest({ token: await sign({ key: await generateTestKey('ghost') }) })), 'token_unknown_key');
    assert.ok(idp.jwksFetches - fetches <= 1);
    for (let i = 0; i < 3; i++) assertAllowed(await check(v3, checkRequest({ token: await sign({ key: 'rs3' }) })), `503 mode #${i}`);
    idp.setMode('destroy');
    for (let i = 0; i < 3; i++) assertAllowed(await check(v3, checkRequest({ token: await sign({ key: 'rs2' }) })), `destroy mode #${i}`);
    const h = healthClient(t.grpcPort);
    try {
      assert.equal((await healthCheck(h, '')).status, 'SERVING', 'still serving on last-known-good keys');
    } finally {
      h.close();
    }
  });

  it('unknown-kid flood while the IdP is down → at most 1 extra fetch', async () => {
    await sleep(1100);
    const fetches = idp.jwksFetches;
    const attacker = await generateTestKey('attacker');
    const flood = await Promise.all(Array.from({ length: 50 }, (_, i) => sign({ key: attacker, kid: `down-${i}` })));
    const results = await Promise.all(flood.map((token) => check(v3, checkRequest({ token }))));
    for (const r of results) assertDenied(r, 'token_unknown_key');
    assert.ok(idp.jwksFetches - fetches <= 1, `extra fetches: ${idp.jwksFetches - fetches}`);
  });

  it('no token leaks in the rotation app logs', () => {
    assertNoTokenLeak(t.lines, tokens);
  });
});

describe('fail closed', () => {
  it('issuer JWKS unreachable from the start → jwks_unavailable, 503, never OK', async () => {
    const port = await freePort();
    const key = await generateTestKey('k1');
    const issuer = 'https://unreachable.idp.test';
    const t = await startTestApp({
      issuers: [{ issuer, jwksUri: `http://127.0.0.1:${port}/jwks.json`, audiences: ['orders'], algorithms: ['RS256'] }],
      policies: POLICIES,
    });
    const v3 = authV3Client(t.grpcPort);
    const h = healthClient(t.grpcPort);
    const tokens: string[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const now = nowSeconds();
        const { SignJWT } = await import('jose');
        const token = await new SignJWT({ sub: 'alice' })
          .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
          .setIssuer(issuer)
          .setAudience('orders')
          .setIssuedAt(now)
          .setExpirationTime(now + 300)
          .sign(key.privateKey);
        tokens.push(token);
        const res = await check(v3, checkRequest({ token }));
        assertDenied(res, 'jwks_unavailable', { http: 'ServiceUnavailable', grpcCode: 14 });
      }
      assert.equal((await healthCheck(h, '')).status, 'NOT_SERVING');
      assert.equal((await adminGet(t.adminPort, '/readyz')).status, 503);
      assert.ok((await readMetric(t.adminPort, 'zt_authz_jwks_refresh_total', { issuer, result: 'error' })) >= 1);
      assert.equal(await readMetric(t.adminPort, 'zt_authz_decisions_total', { decision: 'deny', reason: 'jwks_unavailable' }), 3);
      assertNoTokenLeak(t.lines, tokens);
    } finally {
      closeAll(v3, h);
      await t.stop();
    }
  });
});

/** A token whose signature no longer verifies (last characters replaced; stays canonical base64url). */
function forge(token: string): string {
  return token.slice(0, -4) + (token.endsWith('AAAA') ? 'QQQQ' : 'AAAA');
}

describe('repeated cookie headers', () => {
  it('a credential cookie in a second cookie header is found (joined with "; "), verified and stripped', async () => {
    const idp = await TestIdp.start();
    const t = await startTestApp({
      issuers: [issuerConfig(idp, { fromCookies: ['session'] })],
      policies: [
        { name: 'public', action: 'ALLOW', rules: [{ to: [{ operation: { paths: ['/public/*'] } }] }] },
        {
          name: 'users',
          action: 'ALLOW',
          rules: [{ from: [{ source: { requestPrincipals: ['*'] } }], to: [{ operation: { paths: ['/api/*'] } }] }],
        },
      ],
    });
    const v3 = authV3Client(t.grpcPort);
    try {
      const token = await idp.sign();
      const forged = forge(token);
      // encode_raw_headers: two `cookie` entries. The forged one must not pass as anonymous.
      const raw = await check(
        v3,
        checkRequest({
          path: '/public/x',
          headerMap: [
            ['cookie', 'a=1'],
            ['cookie', `session=${forged}`],
          ],
        }),
      );
      assert.notEqual(raw.status?.code, 0, 'forged cookie in the second header is verified (and fails)');
      // The `headers` map form: Envoy joins repeated headers with ",".
      const joined = await check(v3, checkRequest({ path: '/public/x', headers: { cookie: `a=1,session=${forged}` } }));
      assert.notEqual(joined.status?.code, 0, 'forged cookie after a "," join is verified (and fails)');
      // A valid one is accepted, and the rewritten cookie header keeps only the other cookies.
      for (const req of [
        checkRequest({
          path: '/api/x',
          headerMap: [
            ['cookie', 'a=1'],
            ['cookie', `session=${token}`],
            ['cookie', 'b=2'],
          ],
        }),
        checkRequest({ path: '/api/x', headers: { cookie: `a=1,session=${token}; b=2` } }),
      ]) {
        const ok = await check(v3, req);
        assertAllowed(ok);
        const cookie = headerOpt(ok.okResponse?.headers, 'cookie');
        assertOverwrite(cookie, 'cookie'); // one overwrite replaces every cookie header upstream
        assert.ok(!cookie?.header?.value?.includes('session'), cookie?.header?.value);
        assert.match(cookie?.header?.value ?? '', /a=1.*b=2/);
      }
      const two = await check(
        v3,
        checkRequest({
          path: '/api/x',
          headerMap: [
            ['cookie', `session=${token}`],
            ['cookie', `session=${token}`],
          ],
        }),
      );
      assertDenied(two, 'token_multiple', { challenge: 'invalid_request' });
    } finally {
      v3.close();
      await t.stop();
      await idp.close();
    }
  });
});

describe('x-forwarded-client-cert trust (identity.xfccTrustedPeers)', () => {
  it('XFCC from an untrusted plaintext or mTLS peer is ignored; from a trusted principal or address it names the caller', async () => {
    const idp = await TestIdp.start();
    const frontend = 'spiffe://cluster.local/ns/shop/sa/frontend';
    const ingress = 'spiffe://cluster.local/ns/istio-system/sa/ingress';
    const t = await startTestApp({
      issuers: [issuerConfig(idp)],
      identity: { trustXfcc: true, xfccTrustedPeers: { principals: [ingress], ipBlocks: ['10.8.0.0/16'] } },
      policies: [
        { name: 'frontend-only', action: 'ALLOW', rules: [{ from: [{ source: { principals: ['cluster.local/ns/shop/sa/frontend'] } }] }] },
      ],
    });
    const v3 = authV3Client(t.grpcPort);
    const v2c = authV2Client(t.grpcPort);
    const xfcc = { 'x-forwarded-client-cert': `By=spiffe://cluster.local/ns/shop/sa/orders;URI=${frontend}` };
    try {
      for (const client of [v3, v2c]) {
        // Plaintext (PERMISSIVE mTLS) from an arbitrary pod: the client wrote the XFCC itself.
        const spoofed = await check(client, checkRequest({ sourceAddress: '10.1.2.3', headers: xfcc }));
        assert.notEqual(spoofed.status?.code, 0, 'spoofed XFCC from an untrusted plaintext peer');
        const badPeer = await check(
          client,
          checkRequest({ sourcePrincipal: 'spiffe://cluster.local/ns/shop/sa/batch', sourceAddress: '10.8.0.9', headers: xfcc }),
        );
        assert.notEqual(badPeer.status?.code, 0, 'an untrusted mTLS peer');
        assertAllowed(await check(client, checkRequest({ sourceAddress: '10.8.3.4', headers: xfcc })), 'trusted address');
        assertAllowed(await check(client, checkRequest({ sourcePrincipal: ingress, headers: xfcc })), 'trusted proxy principal');
      }
      // The audit record names the principal the policy stage used, and where it came from.
      await waitUntil(() => t.audit().length >= 8, 5000, 'audit records');
      const sources = t.audit().map((r) => r.source as Record<string, unknown>);
      assert.deepEqual(sources[0], { address: '10.1.2.3' });
      assert.deepEqual(sources[1], { principal: 'spiffe://cluster.local/ns/shop/sa/batch', address: '10.8.0.9' });
      assert.equal(sources[2]?.principal_from, 'xfcc');
      assert.deepEqual(sources[3], {
        principal: 'spiffe://cluster.local/ns/shop/sa/frontend',
        principal_from: 'xfcc',
        address: '10.1.2.3',
      });
    } finally {
      closeAll(v3, v2c);
      await t.stop();
      await idp.close();
    }
  });
});

describe('observe mode strips the credential like enforce mode', () => {
  it('a would-deny allow does not forward the token (forged, or valid but denied by policy) unless forwardOriginalToken', async () => {
    const idp = await TestIdp.start();
    const cfg = (forward: boolean) => ({
      mode: { default: 'observe' },
      issuers: [
        issuerConfig(idp, {
          fromHeaders: [{ name: 'authorization', prefix: 'Bearer ' }],
          fromCookies: ['session'],
          fromParams: ['access_token'],
          forwardOriginalToken: forward,
        }),
      ],
      policies: [
        {
          name: 'users',
          action: 'ALLOW',
          rules: [{ from: [{ source: { requestPrincipals: ['*'] } }], to: [{ operation: { paths: ['/api/*'] } }] }],
        },
      ],
    });
    try {
      await observeStrips(await startTestApp(cfg(false)));
      await observeForwards(await startTestApp(cfg(true)));
    } finally {
      await idp.close();
    }

    async function observeStrips(t: TestApp): Promise<void> {
      const v3 = authV3Client(t.grpcPort);
      try {
        const token = await idp.sign();
        const forged = forge(token);
        const bad = await check(v3, checkRequest({ path: '/api/x', token: forged }));
        assertAllowed(bad);
        assert.ok(bad.okResponse?.headersToRemove?.includes('authorization'), 'forged bearer token removed');
        const denied = await check(v3, checkRequest({ path: '/other', token }));
        assertAllowed(denied);
        assert.ok(denied.okResponse?.headersToRemove?.includes('authorization'), 'valid token, would-deny: removed');
        assert.equal(headerValue(denied.okResponse?.headers, 'x-auth-subject'), 'alice', 'the verified identity still goes upstream');
        const cookie = await check(v3, checkRequest({ path: '/api/x', headers: { cookie: `a=1; session=${forged}` } }));
        assertAllowed(cookie);
        assert.equal(headerValue(cookie.okResponse?.headers, 'cookie'), 'a=1');
        const param = await check(v3, checkRequest({ path: `/api/x?access_token=${forged}&q=1` }));
        assertAllowed(param);
        assert.deepEqual(param.okResponse?.queryParametersToRemove, ['access_token']);
        // Two credentials (token_multiple): both go.
        const both = await check(
          v3,
          checkRequest({ path: `/api/x?access_token=${forged}`, headers: { cookie: `session=${forged}; a=1` }, token: forged }),
        );
        assertAllowed(both);
        assert.ok(both.okResponse?.headersToRemove?.includes('authorization'));
        assert.deepEqual(both.okResponse?.queryParametersToRemove, ['access_token']);
        assert.equal(headerValue(both.okResponse?.headers, 'cookie'), 'a=1');
        // The scheme is case-insensitive upstream, and a merged header may carry the token second.
        for (const authorization of [`bearer ${forged}`, `BEARER ${forged}`, `Basic dXNlcjpwYXNz, Bearer ${forged}`]) {
          const r = await check(v3, checkRequest({ path: '/api/x', headers: { authorization } }));
          assertAllowed(r);
          assert.ok(r.okResponse?.headersToRemove?.includes('authorization'), `removed: ${authorization.slice(0, 20)}…`);
        }
        // Not a credential of ours (no accepted prefix): left alone, observe mode breaks nothing.
        const basic = await check(v3, checkRequest({ path: '/api/x', headers: { authorization: 'Basic dXNlcjpwYXNz' } }));
        assertAllowed(basic);
        assert.ok(!basic.okResponse?.headersToRemove?.includes('authorization'));
      } finally {
        v3.close();
        await t.stop();
      }
    }

    async function observeForwards(f: TestApp): Promise<void> {
      const c = authV3Client(f.grpcPort);
      try {
        const token = await idp.sign();
        for (const tok of [token, forge(token)]) {
          const r = await check(c, checkRequest({ path: '/other', token: tok }));
          assertAllowed(r);
          assert.ok(!r.okResponse?.headersToRemove?.includes('authorization'), 'forwardOriginalToken: kept');
        }
      } finally {
        c.close();
        await f.stop();
      }
    }
  });
});
