// Opaque access tokens end to end, all real processes on 127.0.0.1 ephemeral ports:
//   service client ──client_credentials──▶ oidc-provider (OPAQUE access tokens, resource indicators)
//   zt-authz serve ──discovery (JWKS, introspection_endpoint) + RFC 7662 introspection──▶ oidc-provider
//   checks over gRPC (ext_authz v3) and HTTP (nginx auth_request endpoint)
// A token revoked at the IdP's revocation endpoint stops working within cacheSeconds. A second
// issuer points at a misbehaving introspection endpoint run by this test (huge, slow, garbage,
// inactive, wrong aud/iss answers): each is a clear deny or UNAVAILABLE/503, never an allow, and
// the process keeps serving.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { freePort } from '../helpers/app.js';
import { registerHmacSecret } from '../helpers/capture.js';
import { authV3Client, check, checkRequest, closeAll, type AuthClient } from '../helpers/grpc-client.js';
import { startProc, tempDir, waitForHttp, type Proc } from './helpers/procs.js';
import { OidcIdp, newSigningKey, type IdpClient } from './helpers/idp-proc.js';
import { REPO_ROOT } from './helpers/docs-snippets.js';
import { send } from './helpers/http-client.js';

const CLI = join(REPO_ROOT, 'dist/src/cli/main.js');
const RESOURCE = 'https://orders.example.test';
const BAD_ISSUER = 'https://bad-idp.example.test';
const READER: IdpClient = { client_id: 'orders-reader', client_secret: 'reader-secret-0123456789abcdef', scope: 'orders:read' };
/** zt-authz's own client at the IdP: it authenticates introspection calls (client_secret_basic). */
const ZT: IdpClient = { client_id: 'zt-authz', client_secret: 'zt-authz-introspection-secret-0123', scope: 'orders:read' };
const CACHE_SECONDS = 2;

describe('e2e: opaque tokens through RFC 7662 introspection (oidc-provider)', { timeout: 90_000 }, () => {
  let tmp: ReturnType<typeof tempDir>;
  let idp: OidcIdp;
  let zt: Proc;
  let grpcClient: AuthClient;
  const port = { grpc: 0, http: 0, admin: 0, idp: 0 };
  /** The misbehaving endpoint's answer for the next call. */
  let badAnswer: (res: ServerResponse) => void = (res) => res.end('{}');
  const bad = createServer((req, res) => {
    req.resume();
    req.on('end', () => badAnswer(res));
  });

  const grpcCheck = async (token: string, header = 'authorization', method = 'GET') => {
    const r = await check(
      grpcClient,
      checkRequest({ method, path: '/orders/1', host: 'orders.example.test', headers: { [header]: `Bearer ${token}` } }),
    );
    return { code: r.status?.code ?? 0, reason: r.status?.code ? (r.status.message ?? '') : 'allowed', ok: r.okResponse };
  };
  const httpCheck = async (token: string, header = 'authorization') => {
    const r = await send(port.http, {
      path: '/nginx-auth',
      headers: [
        ['host', 'orders.example.test'],
        ['x-original-method', 'GET'],
        ['x-original-uri', '/orders/1'],
        [header, `Bearer ${token}`],
      ],
    });
    return { status: r.status, reason: r.status === 200 ? 'allowed' : ((JSON.parse(r.body || '{}') as { error?: string }).error ?? '') };
  };
  async function opaqueToken(): Promise<string> {
    const r = await idp.token(READER, 'orders:read');
    assert.equal(r.status, 200, JSON.stringify(r));
    const token = r.access_token!;
    assert.doesNotMatch(token, /\./, 'an opaque token, not a JWT');
    registerHmacSecret(token); // log hygiene: the token must never be printed
    return token;
  }

  before(async () => {
    tmp = tempDir('zt-introspect-');
    for (const k of Object.keys(port) as Array<keyof typeof port>) port[k] = await freePort();
    bad.listen(0, '127.0.0.1');
    await new Promise((r) => bad.once('listening', r));
    registerHmacSecret(ZT.client_secret);
    idp = await OidcIdp.start({
      dir: tmp.dir,
      port: port.idp,
      resource: RESOURCE,
      scopes: ['orders:read', 'orders:write'],
      clients: [READER, ZT],
      keys: [await newSigningKey('k1')],
      accessTokenFormat: 'opaque',
    });
    const secretFile = join(tmp.dir, 'introspection-secret');
    writeFileSync(secretFile, `${ZT.client_secret}\n`, { mode: 0o600 });
    const cfg = join(tmp.dir, 'zt-authz.yaml');
    writeFileSync(
      cfg,
      `server: { grpc: "127.0.0.1:${port.grpc}", http: "127.0.0.1:${port.http}", admin: "127.0.0.1:${port.admin}", drainSeconds: 1 }
issuers:
  - issuer: "${idp.issuer}"
    discovery: true
    audiences: ["${RESOURCE}"]
    introspection: { clientId: ${ZT.client_id}, clientSecretFile: "${secretFile}", cacheSeconds: ${CACHE_SECONDS}, negativeCacheSeconds: 1, timeoutMs: 2000 }
  - issuer: "${BAD_ISSUER}"
    audiences: ["${RESOURCE}"]
    fromHeaders: [{ name: x-bad-token, prefix: "Bearer " }]
    introspection:
      endpoint: "http://127.0.0.1:${(bad.address() as AddressInfo).port}/introspect"
      clientId: c
      clientSecretFile: "${secretFile}"
      cacheSeconds: 0
      negativeCacheSeconds: 0
      timeoutMs: 300
      maxResponseBytes: 4096
policies:
  - name: orders-read
    rules:
      - from: [{ source: { requestPrincipals: ["${idp.issuer}/*", "${BAD_ISSUER}/*"] } }]
        to: [{ operation: { methods: [GET], paths: ["/orders", "/orders/*"] } }]
        when: [{ key: "request.auth.claims[scope]", values: ["orders:read"] }]
  - name: orders-write
    rules:
      - from: [{ source: { requestPrincipals: ["${idp.issuer}/*"] } }]
        to: [{ operation: { methods: [POST], paths: ["/orders"] } }]
        when: [{ key: "request.auth.claims[scope]", values: ["orders:write"] }]
`,
    );
    zt = startProc('zt-authz', process.execPath, [CLI, 'serve', '--config', cfg]);
    await waitForHttp(`http://127.0.0.1:${port.admin}/readyz`, zt, 20000);
    grpcClient = authV3Client(port.grpc);
  });

  after(async () => {
    if (grpcClient) closeAll(grpcClient);
    await zt?.stop();
    await idp?.stop();
    bad.closeAllConnections();
    bad.close();
    tmp?.remove();
  });

  it('an opaque client-credentials token is introspected and allowed over gRPC and HTTP; its claims feed policy', async () => {
    const token = await opaqueToken();
    const g = await grpcCheck(token);
    assert.equal(g.reason, 'allowed');
    assert.equal(g.code, 0);
    // The client is the subject of a client-credentials token (no sub): requestPrincipal issuer/client_id.
    const subject = g.ok?.headers?.find((h) => h.header?.key === 'x-auth-subject')?.header?.value;
    assert.equal(subject, READER.client_id);
    assert.deepEqual(await httpCheck(token), { status: 200, reason: 'allowed' });
    // scope orders:read only: the write rule does not match.
    const w = await grpcCheck(token, 'authorization', 'POST');
    assert.notEqual(w.code, 0);
    assert.match(w.reason, /insufficient_scope|no_policy_matched/);
  });

  it('an unknown opaque token is token_inactive (401) over gRPC and HTTP', async () => {
    const g = await grpcCheck('not-a-token-the-idp-issued');
    assert.deepEqual([g.code, g.reason], [16, 'token_inactive']);
    assert.deepEqual(await httpCheck('not-a-token-the-idp-issued'), { status: 401, reason: 'token_inactive' });
  });

  it(`a token revoked at the IdP stops working within cacheSeconds (${CACHE_SECONDS} s)`, async () => {
    const token = await opaqueToken();
    assert.equal((await grpcCheck(token)).reason, 'allowed');
    const revokedAt = Date.now();
    assert.equal(await idp.revoke(READER, token), 200);
    let deniedAfter = -1;
    while (Date.now() - revokedAt < (CACHE_SECONDS + 3) * 1000) {
      const g = await grpcCheck(token);
      if (g.reason !== 'allowed') {
        assert.equal(g.reason, 'token_inactive');
        deniedAfter = Date.now() - revokedAt;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(deniedAfter >= 0, 'the revoked token was still allowed');
    assert.ok(deniedAfter <= CACHE_SECONDS * 1000 + 500, `denied after ${deniedAfter} ms`);
    console.log(`# revoked opaque token denied after ${deniedAfter} ms (cacheSeconds ${CACHE_SECONDS})`);
    assert.deepEqual(await httpCheck(token), { status: 401, reason: 'token_inactive' });
  });

  const active = { active: true, iss: BAD_ISSUER, aud: RESOURCE, client_id: 'c1', scope: 'orders:read', token_type: 'Bearer' };
  const answers: Array<[string, (res: ServerResponse) => void, number, number, string]> = [
    // name, answer, gRPC code, HTTP status (nginx endpoint: a deny is 401 or 403), reason
    ['a good answer (control)', (res) => res.end(JSON.stringify(active)), 0, 200, 'allowed'],
    ['a huge body', (res) => res.end(JSON.stringify({ ...active, pad: 'x'.repeat(100_000) })), 14, 403, 'introspection_unavailable'],
    ['a slow answer', (res) => setTimeout(() => res.end(JSON.stringify(active)), 1000).unref(), 14, 403, 'introspection_unavailable'],
    ['garbage', (res) => res.end('\u0000\u0001 not json'), 14, 403, 'introspection_unavailable'],
    ['no boolean active', (res) => res.end(JSON.stringify({ ...active, active: 1 })), 14, 403, 'introspection_unavailable'],
    ['HTTP 500', (res) => res.writeHead(500).end(JSON.stringify(active)), 14, 403, 'introspection_unavailable'],
    ['a dropped connection', (res) => res.socket?.destroy(), 14, 403, 'introspection_unavailable'],
    ['active: false', (res) => res.end('{"active":false}'), 16, 401, 'token_inactive'],
    ['a wrong aud', (res) => res.end(JSON.stringify({ ...active, aud: 'https://other.example' })), 16, 401, 'audience_mismatch'],
    ['a wrong iss', (res) => res.end(JSON.stringify({ ...active, iss: 'https://other.example' })), 16, 401, 'issuer_unknown'],
  ];
  for (const [name, answer, code, status, reason] of answers) {
    it(`an introspection endpoint answering ${name}: gRPC ${code} / HTTP ${status} ${reason}`, async () => {
      badAnswer = answer;
      const g = await grpcCheck('some-opaque-token', 'x-bad-token');
      assert.deepEqual([g.code, g.reason], [code, reason]);
      assert.deepEqual(await httpCheck('some-opaque-token', 'x-bad-token'), { status, reason });
    });
  }

  it('the process kept serving; the IdP going down leaves cached tokens working until they expire, new ones UNAVAILABLE', async () => {
    const token = await opaqueToken();
    assert.equal((await grpcCheck(token)).reason, 'allowed');
    await idp.stop();
    assert.equal((await grpcCheck(token)).reason, 'allowed', 'still cached');
    const fresh = 'another-opaque-token-never-seen';
    assert.deepEqual(await grpcCheck(fresh).then((g) => [g.code, g.reason]), [14, 'introspection_unavailable']);
    await new Promise((r) => setTimeout(r, CACHE_SECONDS * 1000 + 200));
    assert.deepEqual(await grpcCheck(token).then((g) => [g.code, g.reason]), [14, 'introspection_unavailable']);
    assert.equal(zt.child.exitCode, null, 'zt-authz is still running');
  });
});
