// Which host does zt-authz judge, and is it the one nginx routed on? A real nginx with two server
// blocks per proxy convention (admin.example.com and public.example.com, plus a default server
// that answers 404 itself) in front of an in-process zt-authz whose policies deny the admin host:
//   - plain nginx: the docs/http-mode.md snippet (scripts/e2e/nginx/zt-authz-locations.conf), host from `$host`;
//   - ingress-nginx: the auth location its template renders from the docs/http-mode.md annotations and
//     ConfigMap (X-Original-URL from `$http_host`, X-Routed-Host from `$host`);
//   - a misconfigured nginx auth location that proxies to zt-authz without the /nginx-auth path.
// Requests are raw bytes, so absolute-form request lines, trailing dots and empty ports reach
// nginx as a client would send them.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, startTestApp, type TestApp } from '../helpers/app.js';
import { missingBinaries, tempDir, type Proc } from './helpers/procs.js';
import { ingressNginxServer, nginxMainConf, startNginxConf } from './helpers/nginx.js';
import { NGINX_SNIPPET_FILE, docsIngressAnnotations } from './helpers/docs-snippets.js';
import { rawExchange } from './helpers/http-client.js';
import { startUpstream, type Upstream } from './helpers/upstream.js';

const missing = missingBinaries(['nginx']);
if (missing) it('e2e: host routing through real nginx', { skip: `not installed: ${missing}` }, () => {});

const ADMIN = 'admin.example.com';
const PUBLIC = 'public.example.com';
const MISCONF = 'misconf.example.com';

const POLICIES = [
  { name: 'deny-admin-host', action: 'DENY', rules: [{ to: [{ operation: { hosts: [ADMIN] } }] }] },
  { name: 'deny-secret-paths', action: 'DENY', rules: [{ to: [{ operation: { paths: ['/secret/*'] } }] }] },
  { name: 'allow-pub', rules: [{ to: [{ operation: { paths: ['/pub/*'] } }] }] },
  // Everything on the misconfigured server, so only the path DENY can stop /secret/x there.
  { name: 'allow-misconf-host', rules: [{ to: [{ operation: { hosts: [MISCONF] } }] }] },
];

/** Answers unknown hosts itself, as ingress-nginx's default backend does. */
const defaultServer = (port: number) => `
    server {
        listen 127.0.0.1:${port} default_server;
        location / { return 404; }
    }`;

/** The docs/http-mode.md snippet, but the auth location's proxy_pass lost the /nginx-auth path. */
const misconfiguredServer = (port: number) => `
    server {
        listen 127.0.0.1:${port};
        server_name ${MISCONF};
        location = /_zt_authz {
            internal;
            proxy_pass              http://zt_authz;
            proxy_http_version      1.1;
            proxy_set_header        Connection        "";
            proxy_pass_request_body off;
            proxy_set_header        Content-Length    "";
            proxy_set_header        Host              $host;
            proxy_set_header        X-Original-URI    $request_uri;
            proxy_set_header        X-Original-Method $request_method;
        }
        location / {
            auth_request /_zt_authz;
            proxy_set_header Host $host;
            proxy_pass http://app;
        }
    }`;

interface Outcome {
  status: number;
  /** The Host the upstream received (`$host` of the server block that served it), if it got there. */
  servedHost: string | undefined;
}

describe('e2e: host routing through real nginx', { skip: missing ?? false, timeout: 60_000 }, () => {
  let tmp: ReturnType<typeof tempDir>;
  let t: TestApp;
  let upstream: Upstream;
  let nginx: Proc;
  const port = { nginx: 0, ingress: 0, misconf: 0 };

  before(async () => {
    tmp = tempDir('zt-host-routing-');
    for (const k of Object.keys(port) as Array<keyof typeof port>) port[k] = await freePort();
    upstream = await startUpstream();
    t = await startTestApp({ policies: POLICIES });
    const ingress = docsIngressAnnotations();
    const servers = [
      defaultServer(port.nginx),
      ...[ADMIN, PUBLIC].map(
        (h) =>
          `\n    server {\n        listen 127.0.0.1:${port.nginx};\n        server_name ${h};\n        include ${NGINX_SNIPPET_FILE};\n    }`,
      ),
      defaultServer(port.ingress),
      ...[ADMIN, PUBLIC].map((h) => ingressNginxServer(port.ingress, ingress, h)),
      defaultServer(port.misconf),
      misconfiguredServer(port.misconf),
    ].join('\n');
    nginx = await startNginxConf(
      tmp.dir,
      nginxMainConf(tmp.dir, { ztAuthz: t.app.httpPort, app: upstream.port }, servers),
      Object.values(port),
    );
  });

  after(async () => {
    await nginx?.stop();
    await t?.stop();
    await upstream?.close();
    tmp?.remove();
  });

  /** One raw request: `target` is the request-target as written on the request line. */
  async function raw(p: number, target: string, host: string | undefined, extra: string[] = []): Promise<Outcome> {
    const before = upstream.seen.length;
    const lines = [`GET ${target} HTTP/1.1`, ...(host === undefined ? [] : [`Host: ${host}`]), ...extra, 'Connection: close', '', ''];
    const out = await rawExchange(p, lines.join('\r\n'));
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(out)?.[1] ?? 0);
    const seen = upstream.seen.slice(before);
    return { status, servedHost: seen.length ? String(seen[0]!.headers.host) : undefined };
  }

  // The admin server block must never serve a request: however it was reached, zt-authz judged it
  // as admin.example.com (denied) or refused it as malformed.
  const ATTACKS: Array<{ name: string; target: string; host: string }> = [
    { name: 'absolute-form request line for admin, Host public', target: `http://${ADMIN}/pub/x`, host: PUBLIC },
    { name: 'absolute-form request line for admin with a trailing dot, Host public', target: `http://${ADMIN}./pub/x`, host: PUBLIC },
    { name: 'absolute-form request line for ADMIN in upper case, Host public', target: `http://ADMIN.example.com/pub/x`, host: PUBLIC },
    { name: 'Host with a trailing dot', target: '/pub/x', host: `${ADMIN}.` },
    { name: 'Host with an empty port', target: '/pub/x', host: `${ADMIN}:` },
    { name: 'Host with a trailing dot and an empty port', target: '/pub/x', host: `${ADMIN}.:` },
    { name: 'Host in upper case with the default port', target: '/pub/x', host: `ADMIN.EXAMPLE.COM:80` },
  ];

  for (const mode of ['nginx', 'ingress'] as const) {
    describe(`${mode === 'nginx' ? 'plain nginx (docs snippet)' : 'ingress-nginx (docs annotations)'}`, () => {
      const p = () => (mode === 'nginx' ? port.nginx : port.ingress);

      it('baseline: public is allowed and served by the public block; admin is denied', async () => {
        assert.deepEqual(await raw(p(), '/pub/x', PUBLIC), { status: 200, servedHost: PUBLIC });
        assert.deepEqual(await raw(p(), '/pub/x', ADMIN), { status: 403, servedHost: undefined });
      });

      for (const a of ATTACKS) {
        it(`the admin block is never served: ${a.name}`, async () => {
          const r = await raw(p(), a.target, a.host);
          assert.equal(r.servedHost, undefined, `served by ${r.servedHost} with ${r.status}`);
          assert.equal(r.status, 403);
        });
      }

      it('absolute-form request line for public with Host admin: nginx routes to public', async () => {
        const r = await raw(p(), `http://${PUBLIC}/pub/x`, ADMIN);
        if (mode === 'nginx') assert.deepEqual(r, { status: 200, servedHost: PUBLIC }, 'plain nginx: $host is the routed host');
        // ingress-nginx: X-Original-URL says admin, X-Routed-Host says public: ambiguous, refused.
        else assert.deepEqual(r, { status: 403, servedHost: undefined });
      });

      it('a client-sent X-Routed-Host or X-Original-URL changes nothing', async () => {
        const r = await raw(p(), `http://${ADMIN}/pub/x`, PUBLIC, [`X-Routed-Host: ${PUBLIC}`, `X-Original-URL: http://${PUBLIC}/pub/x`]);
        assert.deepEqual(r, { status: 403, servedHost: undefined });
      });
    });
  }

  it('ingress-nginx mode refuses an absolute-form mismatch as malformed_request (audit)', async () => {
    await raw(port.ingress, `http://${ADMIN}/pub/y`, PUBLIC);
    const rec = t.audit().findLast((r) => r.reason === 'malformed_request') as { detail?: string } | undefined;
    assert.ok(rec, 'a malformed_request audit record');
    assert.match(String(rec.detail), /x-original-url host differs from x-routed-host/);
  });

  it('an auth location whose proxy_pass lost /nginx-auth: path DENY rules still apply (denied, with a warning naming the setting)', async () => {
    // The deny is an Envoy-mode malformed_request (400), which auth_request turns into a 500.
    const r = await raw(port.misconf, '/secret/x', MISCONF);
    assert.deepEqual(r, { status: 500, servedHost: undefined }, 'GET /secret/x must not be judged as /_zt_authz');
    // Every request through that location is refused, since none can be judged correctly.
    assert.deepEqual(await raw(port.misconf, '/pub/x', MISCONF), { status: 500, servedHost: undefined });
    const rec = t.audit().findLast((x) => /^x-original-(method|uri) in an Envoy-mode request/.test(String(x.detail)));
    assert.equal(rec?.reason, 'malformed_request');
    const warn = t.records().find((x) => x.level === 'warn' && /carries x-original-(method|uri)/.test(String(x.msg)));
    assert.ok(warn, 'a warning names the header');
    assert.match(String(warn.msg), /\/nginx-auth/);
  });
});
