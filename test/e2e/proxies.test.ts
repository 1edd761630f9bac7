// End to end with parts nobody here wrote, all real processes on 127.0.0.1 ephemeral ports:
//   client ──▶ nginx (auth_request, docs snippet) ──▶ zt-authz HTTP transport ──▶ decision
//                 └──────────────▶ echo upstream (sees only what nginx forwards)
//   service client ──client_credentials──▶ oidc-provider (JWT access tokens, resource indicators)
//   zt-authz ──discovery + JWKS──▶ oidc-provider;  Prometheus ──scrape──▶ zt-authz /metrics
// Needs the Debian packages nginx and prometheus (scripts/ci-deps.sh). Without them the suite is
// skipped with a message; under CI=true it fails instead.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT, decodeJwt, decodeProtectedHeader } from 'jose';
import { freePort, metricValue, sleep } from '../helpers/app.js';
import { findBinary, missingBinaries, runSync, startProc, tempDir, waitForHttp, type Proc } from './helpers/procs.js';
import { OidcIdp, newSigningKey, type IdpClient, type SigningKey } from './helpers/idp-proc.js';
import { startNginx } from './helpers/nginx.js';
import { promQuery, startPrometheus } from './helpers/prometheus.js';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { NGINX_SNIPPET_FILE, REPO_ROOT, docsIngressAnnotations, docsNginxSnippet } from './helpers/docs-snippets.js';
import { send } from './helpers/http-client.js';

const CLI = join(REPO_ROOT, 'dist/src/cli/main.js');
const RESOURCE = 'https://orders.example.test';
const READER: IdpClient = { client_id: 'orders-reader', client_secret: 'reader-secret-0123456789abcdef', scope: 'orders:read' };
const WRITER: IdpClient = {
  client_id: 'orders-writer',
  client_secret: 'writer-secret-0123456789abcdef',
  scope: 'orders:read orders:write',
};

const missing = missingBinaries(['nginx', 'prometheus', 'promtool']);
if (missing) {
  console.error(`\n${'!'.repeat(100)}\n!! e2e SKIPPED: ${missing}\n${'!'.repeat(100)}\n`);
}

// The nginx block of docs/http-mode.md is the file nginx includes; checked even when nginx is absent.
it('docs/http-mode.md nginx snippet is byte-identical to scripts/e2e/nginx/zt-authz-locations.conf; the ingress annotations parse', () => {
  assert.equal(docsNginxSnippet(), readFileSync(NGINX_SNIPPET_FILE, 'utf8'));
  docsIngressAnnotations(); // throws when the docs block is gone or lacks an annotation the e2e needs
});

// A skipped describe is not counted in node's summary; this is, so a run without the parts says so.
if (missing) it('e2e: nginx + oidc-provider + Prometheus', { skip: `not installed: ${missing}` }, () => {});

describe('e2e: nginx + oidc-provider + Prometheus', { skip: missing ?? false, timeout: 90_000 }, () => {
  let tmp: ReturnType<typeof tempDir>;
  const procs: Proc[] = [];
  let idp: OidcIdp;
  let zt: Proc;
  let prom: Proc;
  let upstream: Upstream;
  const port = { grpc: 0, http: 0, admin: 0, nginx: 0, ingress: 0, prom: 0, idp: 0 };
  let k1: SigningKey;
  /** When zt-authz became ready, i.e. just after its first JWKS fetch. */
  let readyAt = 0;
  /** decision/reason → how many decisions this test caused (each nginx request is one). */
  const expected = new Map<string, number>();
  const tokens: string[] = [];
  const count = (decision: 'allow' | 'deny', reason: string) =>
    expected.set(`${decision}/${reason}`, (expected.get(`${decision}/${reason}`) ?? 0) + 1);

  const viaNginx = (path: string, init: { method?: string; token?: string; headers?: Record<string, string> } = {}, p = port.nginx) =>
    fetch(`http://127.0.0.1:${p}${path}`, {
      method: init.method ?? 'GET',
      headers: { ...(init.token ? { authorization: `Bearer ${init.token}` } : {}), ...(init.headers ?? {}) },
      signal: AbortSignal.timeout(10000),
    });

  async function tokenFor(client: IdpClient, scope: string): Promise<string> {
    const r = await idp.token(client, scope);
    assert.equal(r.status, 200, `token for ${client.client_id}: ${JSON.stringify(r)}`);
    tokens.push(r.access_token!);
    return r.access_token!;
  }

  /** The reason zt-authz gives, asked directly on its nginx endpoint (one more counted decision). */
  async function directReason(method: string, uri: string, token: string): Promise<{ status: number; reason: string }> {
    const r = await send(port.http, {
      path: '/nginx-auth',
      headers: [
        ['host', 'orders.example.test'],
        ['x-original-method', method],
        ['x-original-uri', uri],
        ['authorization', `Bearer ${token}`],
      ],
    });
    const reason = (JSON.parse(r.body || '{}') as { error?: string }).error ?? 'allowed';
    count(r.status === 200 ? 'allow' : 'deny', reason);
    return { status: r.status, reason };
  }

  before(async () => {
    tmp = tempDir('zt-e2e-');
    for (const k of Object.keys(port) as Array<keyof typeof port>) port[k] = await freePort();
    k1 = await newSigningKey('k1');
    upstream = await startUpstream();
    idp = await OidcIdp.start({
      dir: tmp.dir,
      port: port.idp,
      resource: RESOURCE,
      scopes: ['orders:read', 'orders:write'],
      clients: [READER, WRITER],
      keys: [k1],
    });

    const cfg = join(tmp.dir, 'zt-authz.yaml');
    writeFileSync(
      cfg,
      `server: { grpc: "127.0.0.1:${port.grpc}", http: "127.0.0.1:${port.http}", admin: "127.0.0.1:${port.admin}", drainSeconds: 2 }
issuers:
  - issuer: "${idp.issuer}"
    discovery: true
    audiences: ["${RESOURCE}"]
    typ: at+jwt
    requiredClaims: [client_id]
    fromHeaders: [{ name: authorization, prefix: "Bearer " }]
    fromCookies: [session]
    jwksCooldownSeconds: 1
policies:
  - name: public
    rules: [{ to: [{ operation: { paths: ["/public", "/public/*"] } }] }]
  - name: orders-read
    rules:
      - from: [{ source: { requestPrincipals: ["${idp.issuer}/*"] } }]
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
    procs.push(zt);
    // Prometheus takes ~5 s to apply its first target set: start it early, it scrapes while we test.
    const [promProc] = await Promise.all([
      startPrometheus(tmp.dir, port.prom, port.admin),
      waitForHttp(`http://127.0.0.1:${port.admin}/readyz`, zt, 20000),
    ]);
    readyAt = Date.now();
    prom = promProc;
    procs.push(prom);
    procs.push(
      await startNginx(
        tmp.dir,
        { nginx: port.nginx, ingress: port.ingress, ztAuthz: port.http, app: upstream.port },
        docsIngressAnnotations(),
      ),
    );
  });

  after(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await idp?.stop();
    await upstream?.close();
    tmp?.remove();
  });

  it('a service client gets a JWT access token (client_credentials, resource indicator, scope) and calls through nginx', async () => {
    const token = await tokenFor(READER, 'orders:read');
    const header = decodeProtectedHeader(token);
    const claims = decodeJwt(token);
    assert.equal(header.typ, 'at+jwt');
    assert.equal(header.kid, 'k1');
    assert.equal(claims.iss, idp.issuer);
    assert.equal(claims.aud, RESOURCE);
    assert.equal(claims.scope, 'orders:read');
    assert.equal(claims.sub, READER.client_id);

    const seenBefore = upstream.seen.length;
    const res = await viaNginx('/orders/42?expand=items', { token });
    count('allow', 'allowed');
    assert.equal(res.status, 200, await res.clone().text());
    const echo = (await res.json()) as { url: string; headers: Record<string, string> };
    assert.equal(upstream.seen.length, seenBefore + 1);
    assert.equal(echo.url, '/orders/42?expand=items');
    assert.equal(echo.headers['x-auth-subject'], READER.client_id);
    assert.equal(echo.headers['x-auth-issuer'], idp.issuer);
    assert.equal(echo.headers['x-auth-scopes'], 'orders:read');
    assert.equal(echo.headers.authorization, undefined, 'the token does not reach the upstream');
  });

  it('spoofed identity headers from the client never reach the upstream', async () => {
    const token = await tokenFor(READER, 'orders:read');
    const spoof = { 'X-Auth-Subject': 'admin', 'X-Auth-Issuer': 'https://evil.example', 'X-Auth-Scopes': 'orders:write admin' };
    let res = await viaNginx('/orders/1', { token, headers: spoof });
    count('allow', 'allowed');
    assert.equal(res.status, 200);
    let h = ((await res.json()) as { headers: Record<string, string> }).headers;
    assert.equal(h['x-auth-subject'], READER.client_id);
    assert.equal(h['x-auth-issuer'], idp.issuer);
    assert.equal(h['x-auth-scopes'], 'orders:read');

    res = await viaNginx('/public/catalog', { headers: spoof });
    count('allow', 'allowed');
    assert.equal(res.status, 200);
    h = ((await res.json()) as { headers: Record<string, string> }).headers;
    for (const name of ['x-auth-subject', 'x-auth-issuer', 'x-auth-scopes'])
      assert.equal(h[name], undefined, `${name} stripped for an anonymous request`);

    // Injected original-request headers cannot retarget the decision: nginx overwrites X-Original-URI.
    res = await viaNginx('/orders/1', {
      headers: { 'X-Original-URI': '/public/x', 'X-Original-Method': 'GET', 'X-Original-URL': 'http://x/public/x' },
    });
    count('deny', 'token_missing');
    assert.equal(res.status, 401);
  });

  it('a cookie credential never reaches the upstream; the other cookies do', async () => {
    const token = await tokenFor(READER, 'orders:read');
    const cookieOf = async (res: Response): Promise<string | undefined> => {
      assert.equal(res.status, 200, await res.clone().text());
      const h = ((await res.json()) as { headers: Record<string, string> }).headers;
      assert.ok(!JSON.stringify(h).includes(token.split('.')[2]!), 'no part of the token reaches the upstream');
      assert.equal(h['x-auth-subject'], READER.client_id);
      return h.cookie;
    };
    assert.equal(
      await cookieOf(await viaNginx('/orders/1', { headers: { cookie: `theme=dark; session=${token}; lang=en` } })),
      'theme=dark; lang=en',
    );
    count('allow', 'allowed');
    assert.equal(
      await cookieOf(await viaNginx('/orders/1', { headers: { cookie: `session=${token}` } })),
      undefined,
      'only the credential: no Cookie header at all',
    );
    count('allow', 'allowed');
    // Without a credential cookie the client's cookies pass unchanged (the snippet always sets Cookie).
    let res = await viaNginx('/public/catalog', { headers: { cookie: 'theme=dark; lang=en' } });
    count('allow', 'allowed');
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { headers: Record<string, string> }).headers.cookie, 'theme=dark; lang=en');
    res = await viaNginx('/orders/1', { token, headers: { cookie: 'theme=dark' } });
    count('allow', 'allowed');
    assert.equal(((await res.json()) as { headers: Record<string, string> }).headers.cookie, 'theme=dark');
  });

  it('denies: 401 with the Bearer challenge, nothing reaches the upstream', async () => {
    const seenBefore = upstream.seen.length;
    let res = await viaNginx('/orders/1');
    count('deny', 'token_missing');
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer');

    const token = await tokenFor(READER, 'orders:read');
    const [h, p, s] = token.split('.');
    const tampered = `${h}.${p}.${s!.startsWith('A') ? 'B' : 'A'}${s!.slice(1)}`;
    res = await viaNginx('/orders/1', { token: tampered });
    count('deny', 'token_invalid_signature');
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer .*error="invalid_token"/);

    res = await viaNginx('/orders/1', { headers: { authorization: `Bearer ${token}, Bearer ${token}` } });
    count('deny', 'token_multiple');
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_request"/);
    assert.equal(upstream.seen.length, seenBefore, 'no denied request reached the upstream');
  });

  it('scope-restricted paths: the IdP grants only allowed scopes, zt-authz enforces them per path', async () => {
    const denied = await idp.token(READER, 'orders:write');
    assert.equal(denied.status, 400);
    assert.equal(denied.error, 'invalid_scope');

    const reader = await tokenFor(READER, 'orders:read');
    const writer = await tokenFor(WRITER, 'orders:read orders:write');
    assert.equal(decodeJwt(writer).scope, 'orders:read orders:write');

    let res = await viaNginx('/orders', { method: 'POST', token: reader });
    assert.equal(res.status, 403);
    const { status, reason } = await directReason('POST', '/orders', reader);
    assert.equal(status, 403);
    assert.equal(reason, 'insufficient_scope');
    count('deny', reason);

    res = await viaNginx('/orders', { method: 'POST', token: writer });
    count('allow', 'allowed');
    assert.equal(res.status, 200);
    const echo = (await res.json()) as { method: string; headers: Record<string, string> };
    assert.equal(echo.method, 'POST');
    assert.equal(echo.headers['x-auth-scopes'], 'orders:read orders:write');
  });

  it('ingress-nginx: the auth location generated from the docs/http-mode.md annotations', async () => {
    const token = await tokenFor(READER, 'orders:read');
    let res = await viaNginx('/orders/9', { token, headers: { 'X-Auth-Subject': 'admin', 'X-Original-URI': '/public/x' } }, port.ingress);
    count('allow', 'allowed');
    assert.equal(res.status, 200);
    const h = ((await res.json()) as { headers: Record<string, string> }).headers;
    assert.equal(h['x-auth-subject'], READER.client_id, 'spoofed subject replaced');
    assert.equal(h['x-auth-scopes'], 'orders:read');

    res = await viaNginx('/orders/9', { headers: { 'X-Original-URI': '/public/x' } }, port.ingress);
    count('deny', 'token_missing');
    assert.equal(res.status, 401, 'a client-sent X-Original-URI does not retarget the decision');
    assert.equal(res.headers.get('www-authenticate'), 'Bearer');

    res = await viaNginx('/public/x', { headers: { 'X-Auth-Scopes': 'admin' } }, port.ingress);
    count('allow', 'allowed');
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { headers: Record<string, string> }).headers['x-auth-scopes'], undefined);

    // The credential never reaches the backend: Authorization and Cookie come from zt-authz's answer.
    const upstream = async (r: Response): Promise<Record<string, string>> => {
      assert.equal(r.status, 200, await r.clone().text());
      const headers = ((await r.json()) as { headers: Record<string, string> }).headers;
      assert.ok(!JSON.stringify(headers).includes(token.split('.')[2]!), 'no part of the token reaches the upstream');
      return headers;
    };
    const byHeader = await upstream(await viaNginx('/orders/9', { token, headers: { cookie: 'theme=dark' } }, port.ingress));
    count('allow', 'allowed');
    assert.equal(byHeader.authorization, undefined, 'Authorization dropped');
    assert.equal(byHeader.cookie, 'theme=dark', 'other cookies kept');
    const byCookie = await upstream(
      await viaNginx('/orders/9', { headers: { cookie: `theme=dark; session=${token}; lang=en` } }, port.ingress),
    );
    count('allow', 'allowed');
    assert.equal(byCookie.cookie, 'theme=dark; lang=en', 'credential cookie removed');
  });

  it('IdP key rotation: new tokens are accepted without a restart; a retired key stops working', async () => {
    const pid = zt.child.pid;
    const oldToken = await tokenFor(READER, 'orders:read');
    const k2 = await newSigningKey('k2');
    await idp.rotate([k2, k1]);
    const newToken = await tokenFor(READER, 'orders:read');
    assert.equal(decodeProtectedHeader(newToken).kid, 'k2');
    // The unknown-kid refetch is allowed once per jwksCooldownSeconds (1 s) since the last fetch.
    const wait = readyAt + 1100 - Date.now();
    if (wait > 0) await sleep(wait);

    let res = await viaNginx('/orders/1', { token: newToken });
    count('allow', 'allowed');
    assert.equal(res.status, 200, 'first request with the new key is allowed (unknown kid → one JWKS refetch)');
    res = await viaNginx('/orders/1', { token: oldToken });
    count('allow', 'allowed');
    assert.equal(res.status, 200, 'k1 is still published');
    const metrics = await (await fetch(`http://127.0.0.1:${port.admin}/metrics`)).text();
    assert.ok(metricValue(metrics, 'zt_authz_jwks_refresh_total', { trigger: 'unknown_kid', result: 'success' }) >= 1);

    // Retire k1. A token under a key nobody publishes makes zt-authz refetch (after the 1 s
    // cooldown); the fresh JWKS lacks k1, so k1 tokens (even cached ones) are refused from then on.
    await idp.rotate([k2]);
    await sleep(1100);
    const k3 = await newSigningKey('k3');
    const now = Math.floor(Date.now() / 1000);
    const rogue = await new SignJWT({ scope: 'orders:read', client_id: READER.client_id })
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: 'k3' })
      .setIssuer(idp.issuer)
      .setAudience(RESOURCE)
      .setSubject(READER.client_id)
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .sign(k3.privateKey);
    tokens.push(rogue);
    res = await viaNginx('/orders/1', { token: rogue });
    count('deny', 'token_unknown_key');
    assert.equal(res.status, 401);
    res = await viaNginx('/orders/1', { token: oldToken });
    count('deny', 'token_unknown_key');
    assert.equal(res.status, 401, 'retired key k1 no longer accepted');
    res = await viaNginx('/orders/1', { token: await tokenFor(READER, 'orders:read') });
    count('allow', 'allowed');
    assert.equal(res.status, 200);
    assert.equal(zt.child.pid, pid);
    assert.equal(zt.child.exitCode, null, 'zt-authz was never restarted');
  });

  it('Prometheus scrapes the decisions just made: zt_authz_decisions_total matches, per decision and reason', async () => {
    const want = Object.fromEntries([...expected.entries()].sort());
    const direct = await (await fetch(`http://127.0.0.1:${port.admin}/metrics`)).text();
    const fromMetrics: Record<string, number> = {};
    for (const key of Object.keys(want)) {
      const [decision, reason] = key.split('/') as [string, string];
      fromMetrics[key] = metricValue(direct, 'zt_authz_decisions_total', { decision, reason });
    }
    assert.deepEqual(fromMetrics, want, 'admin /metrics counts exactly the decisions this suite caused');
    assert.equal(
      metricValue(direct, 'zt_authz_decisions_total'),
      Object.values(want).reduce((a, b) => a + b, 0),
      'and no others',
    );

    let got: Record<string, number>;
    const end = Date.now() + 20000;
    for (;;) {
      const rows = await promQuery(port.prom, 'sum by (decision, reason) (zt_authz_decisions_total{job="zt-authz"})');
      // Series for every reason exist from start-up at 0; compare those that moved.
      got = Object.fromEntries(
        rows
          .map((r) => [`${r.metric.decision}/${r.metric.reason}`, Number(r.value[1])] as const)
          .filter(([, v]) => v > 0)
          .sort(),
      );
      if (JSON.stringify(got) === JSON.stringify(want) || Date.now() > end) break;
      await sleep(250);
    }
    assert.deepEqual(got, want, 'Prometheus sees the same allows and denies');
    const up = await promQuery(port.prom, 'up{job="zt-authz"}');
    assert.equal(up[0]?.value[1], '1');
  });

  it('promtool check metrics accepts the exposition', async () => {
    const text = await (await fetch(`http://127.0.0.1:${port.admin}/metrics`)).text();
    assert.match(text, /zt_authz_decisions_total\{/);
    const r = runSync(findBinary('promtool')!, ['check', 'metrics'], text);
    assert.equal(r.status, 0, `promtool check metrics:\n${r.output}`);
  });

  it('no token appears in the zt-authz output', () => {
    assert.ok(tokens.length >= 8);
    const out = zt.output();
    assert.match(out, /"logger":"audit"/, 'audit lines were captured');
    for (const t of tokens) {
      assert.ok(!out.includes(t), 'zt-authz logged a token');
      assert.ok(!out.includes(t.split('.')[2]!), 'zt-authz logged a token signature');
    }
  });
});
