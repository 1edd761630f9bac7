// The HTTP authorization transport (server.http) against a real App on ephemeral ports:
// Envoy `http_service` replayed from the docs/http-mode.md snippet, the nginx and ingress-nginx
// conventions, the status mapping (never a 5xx for a deny), size and body limits, protocol
// errors, metrics/audit under transport="http", and drain on shutdown.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestIdp } from '../../helpers/idp.js';
import { fetchMetrics, metricValue, startTestApp, type TestApp } from '../../helpers/app.js';
import { envoyCheck, rawExchange, send, type EnvoyOutcome, type RawResponse } from '../../e2e/helpers/http-client.js';
import { docsEnvoyHttpService, docsZtAuthzHttpConfig, type EnvoyHttpService } from '../../e2e/helpers/docs-snippets.js';

const HOST = 'shop.example.test';
const POLICIES = [
  // `name:*` for any port: an ALLOW on the bare host matches only that :authority, as in Istio.
  { name: 'public', rules: [{ to: [{ operation: { hosts: [HOST, `${HOST}:*`], paths: ['/public', '/public/*'] } }] }] },
  {
    name: 'orders-read',
    rules: [
      {
        from: [{ source: { requestPrincipals: ['*'] } }],
        to: [{ operation: { methods: ['GET'], paths: ['/orders', '/orders/*'] } }],
        when: [{ key: 'request.auth.claims[scope]', values: ['orders:read'] }],
      },
    ],
  },
  {
    name: 'orders-write',
    rules: [
      {
        from: [{ source: { requestPrincipals: ['*'] } }],
        to: [{ operation: { methods: ['POST'], paths: ['/orders'] } }],
        when: [{ key: 'request.auth.claims[scope]', values: ['orders:write'] }],
      },
    ],
  },
  { name: 'no-admin', action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin', '/admin/*'] } }] }] },
];

function issuer(idp: TestIdp): Record<string, unknown> {
  return {
    issuer: idp.issuer,
    jwksUri: idp.jwksUri,
    audiences: ['orders'],
    fromCookies: ['session'],
    fromHeaders: [{ name: 'authorization', prefix: 'Bearer ' }],
  };
}

function body(r: RawResponse): { error?: string; request_id?: string } {
  return JSON.parse(r.body) as { error?: string; request_id?: string };
}

function assertDeny(o: EnvoyOutcome, status: number, reason: string): Extract<EnvoyOutcome, { kind: 'deny' }> {
  assert.equal(o.kind, 'deny', `expected a deny, got ${JSON.stringify(o)}`);
  const d = o;
  assert.equal(d.status, status);
  assert.equal((JSON.parse(d.body) as { error: string }).error, reason);
  assert.equal(d.clientHeaders['content-type'], 'application/json');
  return d;
}

describe('HTTP transport', () => {
  let idp: TestIdp;
  let t: TestApp;
  let port: number;
  let envoy: EnvoyHttpService;
  let readToken: string;

  before(async () => {
    idp = await TestIdp.start({ audience: 'orders', subject: 'svc-a' });
    envoy = docsEnvoyHttpService();
    t = await startTestApp({ issuers: [issuer(idp)], policies: POLICIES, http: docsZtAuthzHttpConfig() });
    port = t.app.httpPort;
    assert.ok(port > 0, 'HTTP listener started on an ephemeral port');
    readToken = await idp.sign({ scope: 'orders:read' });
  });

  after(async () => {
    await t?.stop();
    await idp?.close();
  });

  describe('Envoy http_service (docs/http-mode.md snippet replayed)', () => {
    it('the docs snippet is what the test replays: prefix, headers, fail closed', () => {
      assert.equal(envoy.pathPrefix, t.config.http.pathPrefix, 'docs Envoy path_prefix = docs zt-authz http.pathPrefix');
      assert.ok(envoy.pathPrefix.startsWith('/'));
      assert.equal(envoy.failureModeAllow, false);
      for (const h of [t.config.response.subjectHeader, t.config.response.issuerHeader, t.config.response.scopesHeader, 'cookie']) {
        assert.ok(
          envoy.allowedUpstreamHeaders.some((m) => (m.exact ? m.exact === h : m.prefix ? h.startsWith(m.prefix) : false)),
          `allowed_upstream_headers covers ${h}`,
        );
      }
    });

    it('allow: exactly 200, identity headers overwrite spoofed ones, credential and unset identity headers removed', async () => {
      const o = await envoyCheck(envoy, port, {
        method: 'GET',
        path: '/orders/42?view=full',
        host: HOST,
        headers: { authorization: `Bearer ${readToken}`, 'x-auth-subject': 'root', 'x-request-id': 'req-allow-1', 'user-agent': 'client' },
      });
      assert.equal(o.kind, 'allow', JSON.stringify(o));
      const up = o.upstreamHeaders;
      assert.equal(up['x-auth-subject'], 'svc-a', 'spoofed subject overwritten');
      assert.equal(up['x-auth-issuer'], idp.issuer);
      assert.equal(up['x-auth-scopes'], 'orders:read');
      assert.equal(up.authorization, undefined, 'credential removed (forwardOriginalToken: false)');
      assert.equal(up['user-agent'], 'client', 'other headers untouched');
    });

    it('allow for an anonymous path: client-sent identity headers are listed for removal', async () => {
      const res = await send(port, {
        path: `${envoy.pathPrefix}/public/x`,
        headers: [
          ['host', HOST],
          ['x-auth-scopes', 'admin'],
          ['x-auth-subject', 'root'],
        ],
      });
      assert.equal(res.status, 200);
      assert.equal(res.body, '');
      const removed = res.headers['x-envoy-auth-headers-to-remove']!.split(', ');
      for (const h of ['x-auth-subject', 'x-auth-issuer', 'x-auth-scopes'])
        assert.ok(removed.includes(h), `${h} removed: ${removed.join(', ')}`);
      assert.equal(res.headers['x-auth-subject'], undefined, 'nothing set for anonymous');
      const o = await envoyCheck(envoy, port, { method: 'GET', path: '/public/x', host: HOST, headers: { 'x-auth-scopes': 'admin' } });
      assert.equal(o.kind, 'allow');
      assert.equal(o.upstreamHeaders['x-auth-scopes'], undefined, 'spoofed scopes never reach the upstream');
    });

    it('an Envoy-mode request carrying an nginx mode header is malformed (400) and logs the setting to fix', async () => {
      for (const h of ['x-original-uri', 'x-original-method', 'x-original-url', 'x-routed-host']) {
        const r = await send(port, {
          path: `${envoy.pathPrefix}/public/x`,
          headers: [
            ['host', HOST],
            [h, h === 'x-original-method' ? 'GET' : '/public/x'],
          ],
        });
        assert.equal(r.status, 400, h);
        assert.equal(body(r).error, 'malformed_request', h);
      }
      const warn = t.records().find((x) => x.level === 'warn' && String(x.msg).includes('carries x-original-uri'));
      assert.ok(warn, 'a warning names the header');
      assert.match(String(warn.msg), /\/nginx-auth/);
    });

    it('cookie credential: the cookie header is rewritten without it (allowed_upstream_headers: cookie)', async () => {
      const o = await envoyCheck(envoy, port, {
        method: 'GET',
        path: '/orders',
        host: HOST,
        headers: { cookie: `theme=dark; session=${readToken}` },
      });
      assert.equal(o.kind, 'allow', JSON.stringify(o));
      assert.equal(o.upstreamHeaders.cookie, 'theme=dark');
    });

    it('repeated Cookie headers are joined with "; ": a credential cookie in the second one is verified and stripped (Envoy and nginx modes)', async () => {
      const forged = readToken.slice(0, -4) + (readToken.endsWith('AAAA') ? 'QQQQ' : 'AAAA');
      const envoyPath = (p: string) => `${t.config.http.pathPrefix}${p}`;
      const nginx = (uri: string): Array<[string, string]> => [
        ['host', HOST],
        ['x-original-method', 'GET'],
        ['x-original-uri', uri],
      ];
      for (const [path, base] of [
        [envoyPath('/public/x'), [['host', HOST]]],
        ['/nginx-auth', nginx('/public/x')],
      ] as Array<[string, Array<[string, string]>]>) {
        const r = await send(port, { path, headers: [...base, ['cookie', 'a=1'], ['cookie', `session=${forged}`]] });
        assert.equal(r.status, 401, `${path}: the forged cookie is not hidden in the first cookie's value`);
        assert.equal(body(r).error, 'token_invalid_signature');
      }
      for (const [path, base] of [
        [envoyPath('/orders'), [['host', HOST]]],
        ['/nginx-auth', nginx('/orders')],
      ] as Array<[string, Array<[string, string]>]>) {
        const r = await send(port, { path, headers: [...base, ['cookie', 'a=1'], ['cookie', `session=${readToken}`], ['cookie', 'b=2']] });
        assert.equal(r.status, 200, path);
        // One `cookie` response header: Envoy's allowed_upstream_headers overwrites every copy.
        assert.equal(r.headers.cookie, 'a=1; b=2', path);
      }
    });

    it('401 token_missing: bare Bearer challenge, JSON body with the request id', async () => {
      const d = assertDeny(
        await envoyCheck(envoy, port, { method: 'GET', path: '/orders', host: HOST, headers: { 'x-request-id': 'req-401' } }),
        401,
        'token_missing',
      );
      assert.equal(d.clientHeaders['www-authenticate'], 'Bearer');
      assert.equal((JSON.parse(d.body) as { request_id: string }).request_id, 'req-401');
    });

    it('401 invalid token: expired and bad signature carry error="invalid_token"', async () => {
      const expired = await idp.sign({
        scope: 'orders:read',
        iat: Math.floor(Date.now() / 1000) - 900,
        exp: Math.floor(Date.now() / 1000) - 600,
      });
      let d = assertDeny(
        await envoyCheck(envoy, port, { method: 'GET', path: '/orders', host: HOST, headers: { authorization: `Bearer ${expired}` } }),
        401,
        'token_expired',
      );
      assert.match(d.clientHeaders['www-authenticate']!, /^Bearer .*error="invalid_token"/);
      const [h, p] = readToken.split('.');
      d = assertDeny(
        await envoyCheck(envoy, port, { method: 'GET', path: '/orders', host: HOST, headers: { authorization: `Bearer ${h}.${p}.AAAA` } }),
        401,
        'token_invalid_signature',
      );
      assert.match(d.clientHeaders['www-authenticate']!, /error="invalid_token"/);
    });

    it('403: missing scope, DENY policy; the method and path are the original ones (prefix stripped, query ignored)', async () => {
      // A valid token that fails the ALLOW rule only on scope: 403 with the RFC 6750 scope challenge.
      const d = assertDeny(
        await envoyCheck(envoy, port, {
          method: 'POST',
          path: '/orders?dry=1',
          host: HOST,
          headers: { authorization: `Bearer ${readToken}` },
        }),
        403,
        'insufficient_scope',
      );
      assert.match(d.clientHeaders['www-authenticate']!, /^Bearer .*error="insufficient_scope"/);
      assert.match(d.clientHeaders['www-authenticate']!, /scope="orders:write"/);
      assertDeny(
        await envoyCheck(envoy, port, {
          method: 'GET',
          path: '/admin/users',
          host: HOST,
          headers: { authorization: `Bearer ${readToken}` },
        }),
        403,
        'policy_denied',
      );
      const write = await idp.sign({ scope: 'orders:write' });
      assert.equal(
        (
          await envoyCheck(envoy, port, {
            method: 'POST',
            path: '/orders?dry=1',
            host: HOST,
            headers: { authorization: `Bearer ${write}` },
          })
        ).kind,
        'allow',
      );
    });

    it('host comes from Host (the original :authority): another host is not the public one', async () => {
      assert.equal((await envoyCheck(envoy, port, { method: 'GET', path: '/public/x', host: HOST, headers: {} })).kind, 'allow');
      const o = await envoyCheck(envoy, port, { method: 'GET', path: '/public/x', host: 'other.example.test', headers: {} });
      assert.equal(o.kind, 'deny');
      assert.ok([401, 403].includes(o.status));
    });

    it('a path without the configured prefix, or an nginx endpoint path, is malformed (400), never allowed', async () => {
      const res = await send(port, { path: '/public/x', headers: [['host', HOST]] });
      assert.equal(res.status, 400);
      assert.equal(body(res).error, 'malformed_request');
    });
  });

  describe('nginx auth_request (http.nginxPath)', () => {
    const nginx = (headers: Array<[string, string]>, path = '/nginx-auth') => send(port, { path, headers });

    it('original method, URI and Host come from X-Original-Method, X-Original-URI and Host', async () => {
      let r = await nginx([
        ['host', HOST],
        ['x-original-method', 'GET'],
        ['x-original-uri', '/orders/7?x=1'],
        ['authorization', `Bearer ${readToken}`],
      ]);
      assert.equal(r.status, 200, r.body);
      assert.equal(r.headers['x-auth-subject'], 'svc-a');
      assert.equal(r.headers['x-auth-scopes'], 'orders:read');
      r = await nginx([
        ['host', HOST],
        ['x-original-method', 'POST'],
        ['x-original-uri', '/orders'],
        ['authorization', `Bearer ${readToken}`],
      ]);
      assert.equal(r.status, 403, 'POST judged as POST');
      r = await nginx([
        ['host', HOST],
        ['x-original-method', 'GET'],
        ['x-original-uri', '/public/a'],
      ]);
      assert.equal(r.status, 200, 'anonymous public path');
    });

    it('X-Original-URL is ignored in nginx mode (plain nginx passes a client-sent one through)', async () => {
      const r = await nginx([
        ['host', HOST],
        ['x-original-method', 'GET'],
        ['x-original-uri', '/orders'],
        ['x-original-url', `http://${HOST}/public/x`],
      ]);
      assert.equal(r.status, 401);
      assert.equal(body(r).error, 'token_missing');
      assert.equal(r.headers['www-authenticate'], 'Bearer');
    });

    it('missing X-Original-Method or URI, or a repeated X-Original-URI: 403 malformed_request (nginx only understands 401/403)', async () => {
      for (const headers of [
        [
          ['host', HOST],
          ['x-original-uri', '/public/a'],
        ],
        [
          ['host', HOST],
          ['x-original-method', 'GET'],
        ],
        [
          ['host', HOST],
          ['x-original-method', 'GET'],
          ['x-original-uri', '/public/a'],
          ['x-original-uri', '/orders'],
        ],
      ] as Array<Array<[string, string]>>) {
        const r = await nginx(headers);
        assert.equal(r.status, 403, JSON.stringify(headers));
        assert.equal(body(r).error, 'malformed_request');
      }
    });
  });

  describe('ingress-nginx auth-url (http.ingressNginxPath)', () => {
    /** X-Routed-Host is nginx's $host: the URL's host unless `routed` says otherwise (null: not sent). */
    const ingress = (headers: Array<[string, string]>, routed?: string | null) => {
      const url = headers.find(([k]) => k === 'x-original-url')?.[1];
      const h = routed === undefined ? /^[a-z]+:\/\/([^/]*)/.exec(url ?? '')?.[1] : routed;
      return send(port, {
        path: '/ingress-nginx-auth',
        headers: [
          ['host', 'zt-authz.zt-authz.svc.cluster.local'],
          ...headers,
          ...(h != null ? ([['x-routed-host', h]] as Array<[string, string]>) : []),
        ],
      });
    };

    it('host, path and query come from X-Original-URL; Host is the auth service itself', async () => {
      let r = await ingress([
        ['x-original-method', 'GET'],
        ['x-original-url', `https://${HOST}/public/doc?a=b`],
      ]);
      assert.equal(r.status, 200, r.body);
      r = await ingress([
        ['x-original-method', 'GET'],
        ['x-original-url', `https://other.example.test/public/doc`],
      ]);
      assert.ok([401, 403].includes(r.status), 'host from the URL, not Host');
      r = await ingress([
        ['x-original-method', 'GET'],
        ['x-original-url', `https://${HOST}/orders`],
        ['authorization', `Bearer ${readToken}`],
      ]);
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-auth-subject'], 'svc-a');
    });

    it('a client-injected X-Original-URI is ignored (ingress-nginx does not overwrite it)', async () => {
      const r = await ingress([
        ['x-original-method', 'GET'],
        ['x-original-url', `https://${HOST}/orders`],
        ['x-original-uri', '/public/x'],
      ]);
      assert.equal(r.status, 401);
    });

    it('X-Routed-Host ($host) is required and must name the URL host; port, case and a trailing dot do not count', async () => {
      const url = `https://${HOST}/public/doc`;
      let r = await ingress(
        [
          ['x-original-method', 'GET'],
          ['x-original-url', url],
        ],
        null,
      );
      assert.equal(r.status, 403, 'no X-Routed-Host');
      assert.equal(body(r).error, 'malformed_request');
      const warn = t.records().find((x) => x.level === 'warn' && String(x.msg).includes('auth-proxy-set-headers'));
      assert.ok(warn, 'a warning names the ingress-nginx annotation to set');
      // An absolute-form request line for another server block: nginx routed on that host.
      r = await ingress(
        [
          ['x-original-method', 'GET'],
          ['x-original-url', url],
        ],
        'admin.example.test',
      );
      assert.equal(r.status, 403);
      assert.equal(body(r).error, 'malformed_request');
      r = await ingress(
        [
          ['x-original-method', 'GET'],
          ['x-original-url', url],
          ['x-routed-host', HOST],
        ],
        HOST,
      );
      assert.equal(body(r).error, 'malformed_request', 'repeated X-Routed-Host');
      for (const [u, routed] of [
        [`https://${HOST.toUpperCase()}.:8443/public/doc`, HOST],
        [`https://${HOST}:/public/doc`, `${HOST}.`],
      ]) {
        r = await ingress(
          [
            ['x-original-method', 'GET'],
            ['x-original-url', u!],
          ],
          routed,
        );
        assert.equal(r.status, 200, `${u} routed as ${routed}: ${r.body}`);
      }
    });

    it('a URL with userinfo or a relative URL is malformed (403)', async () => {
      for (const url of [`https://evil@${HOST}/public/x`, '/public/x', '']) {
        const r = await ingress([
          ['x-original-method', 'GET'],
          ['x-original-url', url],
        ]);
        assert.equal(r.status, 403, url);
        assert.equal(body(r).error, 'malformed_request');
      }
    });
  });

  describe('limits and protocol errors', () => {
    it('too many headers (limits.maxHeaders) is malformed, not silently truncated', async () => {
      const headers: Array<[string, string]> = [['host', HOST]];
      for (let i = 0; i < 300; i++) headers.push([`x-h${i}`, 'v']);
      const r = await send(port, { path: `${envoy.pathPrefix}/public/x`, headers });
      assert.equal(r.status, 400);
      assert.equal(body(r).error, 'malformed_request');
    });

    it('headers over 64 KiB: 400 malformed_request, counted, connection closed', async () => {
      const before = metricValue(await fetchMetrics(t.adminPort), 'zt_authz_decisions_total', { reason: 'malformed_request' });
      const raw = await rawExchange(
        port,
        `GET ${envoy.pathPrefix}/public/x HTTP/1.1\r\nHost: ${HOST}\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\n\r\n`,
      );
      assert.match(raw, /^HTTP\/1\.1 400 /);
      assert.match(raw, /"error":"malformed_request"/);
      const after = metricValue(await fetchMetrics(t.adminPort), 'zt_authz_decisions_total', { reason: 'malformed_request' });
      assert.equal(after, before + 1);
    });

    it('a body over 64 KiB (declared or chunked) is denied and the connection closed; a small one is discarded', async () => {
      const big = Buffer.alloc(70 * 1024, 'x');
      let r = await send(port, { method: 'POST', path: `${envoy.pathPrefix}/public/x`, headers: [['host', HOST]], body: big });
      assert.equal(r.status, 400);
      assert.equal(r.headers.connection, 'close');
      const chunked = `POST ${envoy.pathPrefix}/public/x HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding: chunked\r\n\r\n${(70 * 1024).toString(16)}\r\n${'x'.repeat(70 * 1024)}\r\n0\r\n\r\n`;
      assert.match(await rawExchange(port, chunked), /^HTTP\/1\.1 400 /);
      r = await send(port, { method: 'POST', path: `${envoy.pathPrefix}/public/x`, headers: [['host', HOST]], body: 'small' });
      assert.equal(r.status, 200);
    });

    it('CONNECT and unparsable requests get a 400 deny, not a dropped connection', async () => {
      assert.match(
        await rawExchange(port, `CONNECT ${HOST}:443 HTTP/1.1\r\nHost: ${HOST}:443\r\n\r\n`),
        /^HTTP\/1\.1 400 [\s\S]*malformed_request/,
      );
      assert.match(await rawExchange(port, 'GARBAGE\r\n\r\n'), /^HTTP\/1\.1 400 /);
    });

    it('HTTP/1.1 without Host: our 400 malformed_request (JSON, counted), not a bare one from node; HTTP/1.0 may omit it', async () => {
      const before = metricValue(await fetchMetrics(t.adminPort), 'zt_authz_decisions_total', { reason: 'malformed_request' });
      const raw = await rawExchange(port, `GET ${envoy.pathPrefix}/public/x HTTP/1.1\r\nConnection: close\r\n\r\n`);
      assert.match(raw, /^HTTP\/1\.1 400 /);
      assert.match(raw, /"error":"malformed_request"/);
      const after = metricValue(await fetchMetrics(t.adminPort), 'zt_authz_decisions_total', { reason: 'malformed_request' });
      assert.equal(after, before + 1, 'counted as a decision');
      assert.doesNotMatch(await rawExchange(port, `GET ${envoy.pathPrefix}/public/x HTTP/1.0\r\n\r\n`), /malformed_request/);
    });

    it('repeated Host is malformed', async () => {
      const raw = await rawExchange(
        port,
        `GET ${envoy.pathPrefix}/public/x HTTP/1.1\r\nHost: ${HOST}\r\nHost: other\r\nConnection: close\r\n\r\n`,
      );
      assert.match(raw, /^HTTP\/1\.1 400 /);
    });
  });

  it('metrics and audit record transport="http" with the original path and no query', async () => {
    const r = await send(port, {
      path: `${envoy.pathPrefix}/orders/99?secret=shh`,
      headers: [
        ['host', HOST],
        ['authorization', `Bearer ${readToken}`],
        ['x-request-id', 'req-audit-http'],
      ],
    });
    assert.equal(r.status, 200);
    const text = await fetchMetrics(t.adminPort);
    assert.ok(metricValue(text, 'zt_authz_check_duration_seconds_count', { transport: 'http' }) > 0);
    const rec = t.audit().find((a) => a.request_id === 'req-audit-http');
    assert.ok(rec, 'audit record for the request');
    assert.equal(rec.transport, 'http');
    assert.equal(rec.path, '/orders/99');
    assert.equal(rec.decision, 'allow');
    assert.ok(!t.lines.some((l) => l.includes(readToken) || l.includes('secret=shh')), 'no token or query in logs');
  });
});

describe('HTTP transport: fail closed without 5xx, source address, drain', () => {
  it("jwks_unavailable answers 403 in every mode (5xx would be Envoy's error path, failure_mode_allow)", async () => {
    const idp = await TestIdp.start({ audience: 'orders' });
    idp.setMode('503');
    const t = await startTestApp({ issuers: [issuer(idp)], policies: POLICIES, http: docsZtAuthzHttpConfig() });
    try {
      const token = await idp.sign({ scope: 'orders:read' });
      const envoy = { ...docsEnvoyHttpService(), failureModeAllow: true }; // worst case: errors are let through
      const o = await envoyCheck(envoy, t.app.httpPort, {
        method: 'GET',
        path: '/orders',
        host: HOST,
        headers: { authorization: `Bearer ${token}` },
      });
      assertDeny(o, 403, 'jwks_unavailable');
      const r = await send(t.app.httpPort, {
        path: '/nginx-auth',
        headers: [
          ['host', HOST],
          ['x-original-method', 'GET'],
          ['x-original-uri', '/orders'],
          ['authorization', `Bearer ${token}`],
        ],
      });
      assert.equal(r.status, 403);
      assert.equal(body(r).error, 'jwks_unavailable');
      const rec = t.audit().find((a) => a.reason === 'jwks_unavailable');
      assert.equal(rec?.status, 503, 'audit keeps the decision status');
    } finally {
      await t.stop();
      await idp.close();
    }
  });

  it('http.sourceAddressHeader: the proxy-set client IP is the source; missing or invalid is malformed', async () => {
    const t = await startTestApp({ policies: POLICIES, http: { sourceAddressHeader: 'X-Real-IP' } });
    try {
      const ok = await send(t.app.httpPort, {
        path: '/nginx-auth',
        headers: [
          ['host', HOST],
          ['x-original-method', 'GET'],
          ['x-original-uri', '/public/a'],
          ['x-real-ip', '192.0.2.7'],
          ['x-request-id', 'src-1'],
        ],
      });
      assert.equal(ok.status, 200);
      assert.equal((t.audit().find((a) => a.request_id === 'src-1')?.source as { address?: string } | undefined)?.address, '192.0.2.7');
      for (const ip of [undefined, 'not-an-ip']) {
        const r = await send(t.app.httpPort, {
          path: '/nginx-auth',
          headers: [
            ['host', HOST],
            ['x-original-method', 'GET'],
            ['x-original-uri', '/public/a'],
            ...(ip ? ([['x-real-ip', ip]] as Array<[string, string]>) : []),
          ],
        });
        assert.equal(r.status, 403);
        assert.equal(body(r).error, 'malformed_request');
      }
    } finally {
      await t.stop();
    }
  });

  it('x-forwarded-client-cert: ignored from clients (nginx passes it through), honoured only from identity.xfccTrustedPeers ipBlocks', async () => {
    const frontendOnly = [
      {
        name: 'frontend-only',
        rules: [
          { from: [{ source: { principals: ['cluster.local/ns/shop/sa/frontend'] } }], to: [{ operation: { paths: ['/orders/*'] } }] },
        ],
      },
    ];
    const identity = { trustXfcc: true, xfccTrustedPeers: { ipBlocks: ['192.0.2.0/24'] } };
    const xfcc: [string, string] = [
      'x-forwarded-client-cert',
      'By=spiffe://cluster.local/ns/shop/sa/orders;URI=spiffe://cluster.local/ns/shop/sa/frontend',
    ];
    const req = (extra: Array<[string, string]>) => ({
      path: '/nginx-auth',
      headers: [['host', HOST], ['x-original-method', 'GET'], ['x-original-uri', '/orders/1'], xfcc, ...extra] as Array<[string, string]>,
    });
    const withAddr = await startTestApp({ policies: frontendOnly, identity, http: { sourceAddressHeader: 'X-Real-IP' } });
    const noAddr = await startTestApp({ policies: frontendOnly, identity });
    try {
      assert.equal(
        (await send(withAddr.app.httpPort, req([['x-real-ip', '198.51.100.7']]))).status,
        403,
        'client XFCC from an untrusted address',
      );
      assert.equal((await send(withAddr.app.httpPort, req([['x-real-ip', '192.0.2.7']]))).status, 200, 'XFCC from a trusted address');
      const r = await send(noAddr.app.httpPort, req([]));
      assert.equal(r.status, 403, 'no source address: the peer cannot be trusted');
      assert.equal(body(r).error, 'no_policy_matched');
    } finally {
      await withAddr.stop();
      await noAddr.stop();
    }
  });

  it('configurable original-request headers: the named ones decide, the default X-Original-* are then ignored', async () => {
    const t = await startTestApp({
      policies: POLICIES,
      http: {
        originalMethodHeader: 'X-Forwarded-Method',
        originalUriHeader: 'X-Forwarded-Uri',
        originalUrlHeader: 'X-Forwarded-Url',
        routedHostHeader: 'X-Forwarded-Host',
      },
    });
    try {
      const nginx = (headers: Array<[string, string]>) =>
        send(t.app.httpPort, { path: '/nginx-auth', headers: [['host', HOST], ...headers] });
      const ingress = (headers: Array<[string, string]>) =>
        send(t.app.httpPort, {
          path: '/ingress-nginx-auth',
          headers: [['host', 'zt-authz.svc'], ['x-forwarded-host', HOST], ['x-routed-host', HOST], ...headers],
        });
      assert.equal(
        (
          await nginx([
            ['x-forwarded-method', 'GET'],
            ['x-forwarded-uri', '/public/a'],
          ])
        ).status,
        200,
      );
      let r = await nginx([
        ['x-forwarded-method', 'GET'],
        ['x-forwarded-uri', '/orders'],
      ]);
      assert.equal(r.status, 401, 'URI from X-Forwarded-Uri (/orders needs a token)');
      r = await nginx([
        ['x-original-method', 'GET'],
        ['x-original-uri', '/public/a'],
      ]);
      assert.equal(r.status, 403, 'the default headers are not read once others are configured');
      assert.equal(body(r).error, 'malformed_request');
      r = await nginx([
        ['x-forwarded-method', 'GET'],
        ['x-original-uri', '/public/a'],
      ]);
      assert.equal(body(r).error, 'malformed_request', 'a default URI header does not fill in for the configured one');

      assert.equal(
        (
          await ingress([
            ['x-forwarded-method', 'GET'],
            ['x-forwarded-url', `https://${HOST}/public/doc`],
          ])
        ).status,
        200,
      );
      r = await ingress([
        ['x-original-method', 'GET'],
        ['x-original-url', `https://${HOST}/public/doc`],
      ]);
      assert.equal(r.status, 403);
      assert.equal(body(r).error, 'malformed_request');
    } finally {
      await t.stop();
    }
  });

  it('config: nginx endpoints under the Envoy prefix are rejected', async () => {
    await assert.rejects(startTestApp({ http: { pathPrefix: '/ext', nginxPath: '/ext/nginx' } }), /http\.nginxPath/);
  });

  it('shutdown: an in-flight request finishes, then the listener is gone', async () => {
    const idp = await TestIdp.start({ audience: 'orders', jwksDelayMs: 700, delayFirstOnly: true });
    const t = await startTestApp({ issuers: [issuer(idp)], policies: POLICIES });
    try {
      const port = t.app.httpPort;
      const token = await idp.sign({ scope: 'orders:read' });
      const inFlight = send(port, {
        path: '/orders',
        headers: [
          ['host', HOST],
          ['authorization', `Bearer ${token}`],
        ],
      });
      await new Promise((r) => setTimeout(r, 150));
      const stopping = t.stop();
      const res = await inFlight;
      assert.equal(res.status, 200, res.body);
      await stopping;
      await assert.rejects(send(port, { path: '/public/x', headers: [['host', HOST]], timeoutMs: 1000 }));
    } finally {
      await t.stop();
      await idp.close();
    }
  });
});
