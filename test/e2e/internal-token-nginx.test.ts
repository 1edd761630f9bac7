// The phantom token at the edge, all real processes on 127.0.0.1 ephemeral ports:
//   client ── x-api-key ──▶ nginx (auth_request: the /_zt_authz location of docs/http-mode.md,
//                            the location / of docs/internal-tokens.md) ──▶ zt-authz HTTP mode
//                  └──── authorization: Bearer <minted JWT>, no API key ────▶ upstream (node)
//   upstream ── createRemoteJWKSet ──▶ zt-authz admin listener <issuer path>/.well-known/jwks.json
// The signing key is made by `zt-authz keys new --dir`. The upstream verifies each token it receives
// with jose against the published JWKS and checks sub, aud, scope, act and the credential hash.
// act comes from the XFCC the edge passes for its mTLS client (see nginxLocations).
// Needs the Debian package nginx (scripts/ci-deps.sh); skipped without it, failed under CI=true.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { freePort } from '../helpers/app.js';
import { registerHmacSecret } from '../helpers/capture.js';
import { missingBinaries, runSync, startProc, tempDir, waitForHttp, type Proc } from './helpers/procs.js';
import { nginxMainConf, startNginxConf } from './helpers/nginx.js';
import { NGINX_SNIPPET_FILE, REPO_ROOT, codeBlocks } from './helpers/docs-snippets.js';
import { send } from './helpers/http-client.js';

const CLI = join(REPO_ROOT, 'dist/src/cli/main.js');
const API_KEY = 'zt_e2e-mint-acme-UGhhbnRvbSB0b2tlbiBhdCB0aGUgZWRnZSB0ZXN0';
const OTHER_KEY = 'zt_e2e-mint-unknown-Tm90IGluIHRoZSBrZXlzIGZpbGUgYXQgYWxs';
for (const k of [API_KEY, OTHER_KEY]) registerHmacSecret(k);
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const HOST = 'orders.example.test';
const CALLER = 'spiffe://cluster.local/ns/partners/sa/acme-gateway';

const missing = missingBinaries(['nginx']);
if (missing) console.error(`\n${'!'.repeat(100)}\n!! e2e SKIPPED: ${missing}\n${'!'.repeat(100)}\n`);
if (missing) it('e2e: internal token through nginx', { skip: `not installed: ${missing}` }, () => {});

/**
 * The `location = /_zt_authz` block of the http-mode snippet, and the `location /` block of
 * docs/internal-tokens.md. The auth location also passes the client address and the calling
 * workload's identity as XFCC, as an edge nginx terminating its partners' mTLS would (built there
 * from the client certificate; fixed here): zt-authz believes it only from this trusted peer.
 */
function nginxLocations(): string {
  const snippet = readFileSync(NGINX_SNIPPET_FILE, 'utf8');
  const docsAuth = /^location = \/_zt_authz \{[\s\S]*?^\}$/m.exec(snippet)?.[0];
  assert.ok(docsAuth, `${NGINX_SNIPPET_FILE} has no location = /_zt_authz block`);
  const auth = docsAuth.replace(
    /\}$/,
    `    proxy_set_header        X-Real-IP         $remote_addr;\n    proxy_set_header        X-Forwarded-Client-Cert "URI=${CALLER}";\n}`,
  );
  const page = readFileSync(join(REPO_ROOT, 'docs/internal-tokens.md'), 'utf8');
  const app = codeBlocks(page).find((b) => b.lang === 'nginx' && b.body.includes('$upstream_http_authorization'))?.body;
  assert.ok(app, 'docs/internal-tokens.md has no nginx block copying $upstream_http_authorization');
  return `${auth}\n${app}`;
}

interface Received {
  headers: Record<string, string | string[] | undefined>;
  payload?: JWTPayload;
  header?: Record<string, unknown>;
  error?: string;
}

/** The service behind nginx: verifies the bearer token it receives against zt-authz's JWKS. */
async function startVerifyingUpstream(
  jwksUrl: string,
  issuer: string,
): Promise<{ port: number; seen: Received[]; close(): Promise<void> }> {
  const jwks = createRemoteJWKSet(new URL(jwksUrl));
  const seen: Received[] = [];
  const server: Server = createServer((req, res) => {
    req.resume();
    const auth = req.headers.authorization;
    const rec: Received = { headers: req.headers };
    seen.push(rec);
    const done = (): void => {
      res.writeHead(rec.payload ? 200 : 401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ sub: rec.payload?.sub ?? null, error: rec.error ?? null }));
    };
    if (!auth?.startsWith('Bearer ')) {
      rec.error = 'no bearer token';
      done();
      return;
    }
    jwtVerify(auth.slice(7), jwks, { issuer, typ: 'at+jwt', algorithms: ['ES256'] }).then(
      (r) => {
        rec.payload = r.payload;
        rec.header = r.protectedHeader;
        done();
      },
      (err: Error) => {
        rec.error = `${err.name}: ${err.message}`;
        done();
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe('e2e: internal token through nginx', { skip: missing ?? false, timeout: 60_000 }, () => {
  let tmp: ReturnType<typeof tempDir>;
  const procs: Proc[] = [];
  let zt: Proc;
  let upstream: Awaited<ReturnType<typeof startVerifyingUpstream>>;
  const port = { http: 0, grpc: 0, admin: 0, nginx: 0 };
  let issuer = '';

  const viaNginx = (headers: Record<string, string>, path = '/orders') =>
    send(port.nginx, { path, headers: [['host', HOST], ...Object.entries(headers)] });

  before(async () => {
    tmp = tempDir('zt-mint-e2e-');
    for (const k of Object.keys(port) as Array<keyof typeof port>) port[k] = await freePort();
    issuer = `http://127.0.0.1:${port.admin}/internal`;
    const keysDir = join(tmp.dir, 'signing');
    const made = runSync(process.execPath, [CLI, 'keys', 'new', '--dir', keysDir]);
    assert.equal(made.status, 0, `keys new: ${made.output}`);
    const keysFile = join(tmp.dir, 'apikeys.json');
    writeFileSync(
      keysFile,
      JSON.stringify({ keys: [{ name: 'acme-1', sha256: sha(API_KEY), subject: 'acme', scopes: ['orders:read', 'orders:write'] }] }),
    );
    upstream = await startVerifyingUpstream(`${issuer}/.well-known/jwks.json`, issuer);
    const cfg = join(tmp.dir, 'zt-authz.yaml');
    writeFileSync(
      cfg,
      `server: { grpc: "127.0.0.1:${port.grpc}", http: "127.0.0.1:${port.http}", admin: "127.0.0.1:${port.admin}", drainSeconds: 1 }
http: { sourceAddressHeader: x-real-ip }
identity: { trustXfcc: true, xfccTrustedPeers: { ipBlocks: ["127.0.0.1/32"] } }
apiKeys:
  - { name: partners, fromHeaders: [{ name: x-api-key }], keysFile: "${keysFile}" }
tokenIssuer: { issuer: "${issuer}", keysDir: "${keysDir}", algorithm: ES256, ttlSeconds: 120 }
response:
  internalToken: { enabled: true, audience: host, claims: [scope] }
policies:
  - name: partners
    rules:
      - from: [{ source: { requestPrincipals: ["apikey:partners/*"] } }]
        when: [{ key: "request.auth.claims[scope]", values: ["orders:read"] }]
`,
    );
    zt = startProc('zt-authz', process.execPath, [CLI, 'serve', '--config', cfg]);
    procs.push(zt);
    await waitForHttp(`http://127.0.0.1:${port.admin}/readyz`, zt);
    const conf = nginxMainConf(
      tmp.dir,
      { ztAuthz: port.http, app: upstream.port },
      `
    server {
        listen 127.0.0.1:${port.nginx};
${nginxLocations()}
    }`,
    );
    procs.push(await startNginxConf(tmp.dir, conf, [port.nginx]));
  });

  after(async () => {
    for (const p of procs.reverse()) await p.stop();
    await upstream?.close();
    tmp?.remove();
  });

  it('an API key at the edge becomes a JWT upstream that verifies against the published JWKS: sub, aud, scope, credential hash; no API key', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await viaNginx({ 'x-api-key': API_KEY, authorization: 'Bearer client-forged.a.b' });
      assert.equal(res.status, 200, `upstream answered ${res.status}: ${res.body}\n${zt.output().slice(-2000)}`);
    }
    assert.equal(upstream.seen.length, 3);
    for (const r of upstream.seen) {
      assert.equal(r.error, undefined);
      assert.equal(r.headers['x-api-key'], undefined, 'the API key never reaches the upstream');
      assert.equal(r.payload?.sub, 'acme');
      assert.equal(r.payload?.aud, HOST);
      assert.equal(r.payload?.iss, issuer);
      assert.equal(r.payload?.scope, 'orders:read orders:write');
      assert.equal(r.payload?.zt_cred_hash, sha(API_KEY).slice(0, 12));
      assert.deepEqual(r.payload?.act, { sub: CALLER }, 'the calling workload (XFCC from the trusted edge)');
      assert.equal((r.payload?.exp ?? 0) - (r.payload?.iat ?? 0), 120);
      assert.equal(r.header?.typ, 'at+jwt');
      assert.ok(!String(r.headers.authorization).includes(API_KEY));
    }
    // The cached token: the same one for the same key, host and caller.
    assert.equal(new Set(upstream.seen.map((r) => r.payload?.jti)).size, 1, 'reused within half its lifetime');
  });

  it('an unknown key is refused at nginx: the upstream sees nothing', async () => {
    const before = upstream.seen.length;
    const res = await viaNginx({ 'x-api-key': OTHER_KEY });
    assert.equal(res.status, 401);
    assert.equal(upstream.seen.length, before);
  });

  it('a client-sent authorization without a key does not reach the upstream', async () => {
    const before = upstream.seen.length;
    const res = await viaNginx({ authorization: 'Bearer client-forged.a.b' });
    assert.equal(res.status, 401, 'no credential: token_missing');
    assert.equal(upstream.seen.length, before);
  });
});
