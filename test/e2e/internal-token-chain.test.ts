// Internal tokens, chain of two, as two real `zt-authz serve` processes on 127.0.0.1:
//   client ── x-api-key ──▶ edge zt-authz: verifies the API key, mints a JWT for the destination
//   edge's allow answer ── authorization: Bearer <minted> ──▶ sidecar zt-authz (the destination's
//   own, configured as the chart's sidecar mode writes it: loopback gRPC/HTTP, Kubernetes off)
// The sidecar knows the edge as an ordinary issuer whose jwksUri is the edge's published JWKS, and
// its policy admits only the internal issuer's tokens with a scope copied from the API key. The
// minted token is allowed; a token from another (configured) issuer, a forged one under the
// internal iss, an expired minted token and one minted for another audience are denied.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { SignJWT, decodeProtectedHeader, importJWK, type JWK } from 'jose';
import { freePort } from '../helpers/app.js';
import { registerHmacSecret } from '../helpers/capture.js';
import { authV3Client, check, checkRequest, closeAll, type AuthClient } from '../helpers/grpc-client.js';
import type { CheckResponse } from '../../src/transport/grpc/messages.js';
import { startProc, tempDir, waitForHttp, type Proc } from './helpers/procs.js';
import { REPO_ROOT, codeBlocks } from './helpers/docs-snippets.js';

const CLI = join(REPO_ROOT, 'dist/src/cli/main.js');
const ORDERS = 'spiffe://cluster.local/ns/shop/sa/orders';
const PAYMENTS = 'spiffe://cluster.local/ns/shop/sa/payments';
const GATEWAY = 'spiffe://cluster.local/ns/edge/sa/gateway';
const OTHER_ISSUER = 'https://idp.example.test';
const API_KEY = `zt_chain-${randomBytes(24).toString('base64url')}`;
registerHmacSecret(API_KEY);
/** Short, so one minted token can be seen to expire; reuse lasts half of it. */
const TTL_SECONDS = 4;

/** A fresh private ES256 JWK with a kid. */
function es256Jwk(kid: string): JWK {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...(privateKey.export({ format: 'jwk' }) as JWK), kid, alg: 'ES256', use: 'sig' };
}

const publicOf = ({ d: _d, ...pub }: JWK): JWK => pub;

function payloadOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

const reasonOf = (r: CheckResponse): string => (r.status?.code ? (r.status.message ?? '') : 'allowed');

/** docs/internal-tokens.md's jose snippet for a service, pointed at this edge, as a module. */
async function docsVerifier(internalIssuer: string): Promise<{ caller(req: { headers: Record<string, string> }): Promise<unknown> }> {
  const page = readFileSync(join(REPO_ROOT, 'docs/internal-tokens.md'), 'utf8');
  const block = codeBlocks(page).find((b) => b.lang === 'js' && b.body.includes('jwtVerify'));
  assert.ok(block, 'docs/internal-tokens.md shows how a service verifies a minted token with jose');
  // A data: module resolves no bare specifier: point `jose` at the installed package.
  const source = block.body
    .replace(`from 'jose'`, `from '${import.meta.resolve('jose')}'`)
    .replaceAll('https://zt-authz.zt-system.svc', internalIssuer);
  return (await import(`data:text/javascript,${encodeURIComponent(source)}`)) as Awaited<ReturnType<typeof docsVerifier>>;
}

/** The issuers and policies docs/internal-tokens.md gives the second hop, pointed at this edge. */
function docsSidecarConfig(internalIssuer: string): { issuers: Array<Record<string, unknown>>; policies: unknown[] } {
  const page = readFileSync(join(REPO_ROOT, 'docs/internal-tokens.md'), 'utf8');
  const block = codeBlocks(page).find((b) => b.lang === 'yaml' && b.body.includes("# sidecar.config of the service's zt-authz"));
  assert.ok(block, "docs/internal-tokens.md shows the second hop's sidecar.config");
  const config = parse(block.body.replaceAll('https://zt-authz.zt-system.svc', internalIssuer)) as ReturnType<typeof docsSidecarConfig>;
  assert.deepEqual(config.issuers[0]!.audiences, [ORDERS], 'the page and this test protect the same workload');
  return config;
}

describe('e2e: internal tokens through a chain of two zt-authz (edge mints, sidecar verifies)', { timeout: 90_000 }, () => {
  let tmp: ReturnType<typeof tempDir>;
  let edge: Proc;
  let sidecar: Proc;
  let edgeClient: AuthClient;
  let sidecarClient: AuthClient;
  let internalIssuer = '';
  const otherJwk = es256Jwk('other-1');

  /** The edge's answer for the API key, for a destination. */
  const atEdge = (destinationPrincipal = ORDERS, sourcePrincipal: string | null = GATEWAY) =>
    check(
      edgeClient,
      checkRequest({
        path: '/orders/42',
        headers: { 'x-api-key': API_KEY },
        destinationPrincipal,
        ...(sourcePrincipal ? { sourcePrincipal } : {}),
      }),
    );

  /** The minted JWT the edge's allow sets upstream. */
  async function minted(destinationPrincipal = ORDERS, sourcePrincipal: string | null = GATEWAY): Promise<string> {
    const r = await atEdge(destinationPrincipal, sourcePrincipal);
    assert.equal(reasonOf(r), 'allowed');
    const value = r.okResponse?.headers?.find((x) => x.header?.key?.toLowerCase() === 'authorization')?.header?.value ?? '';
    assert.ok(value.startsWith('Bearer '), 'the edge sets authorization: Bearer <minted>');
    return value.slice('Bearer '.length);
  }

  /** The sidecar's answer for a request to the orders workload carrying `jwt`. */
  const atSidecar = async (jwt: string, path = '/orders/42') =>
    reasonOf(await check(sidecarClient, checkRequest({ path, token: jwt, destinationPrincipal: ORDERS, sourcePrincipal: GATEWAY })));

  before(async () => {
    tmp = tempDir('zt-chain-');
    const edgePorts = { grpc: await freePort(), http: await freePort(), admin: await freePort() };
    const sidePorts = { grpc: await freePort(), http: await freePort(), admin: await freePort() };
    internalIssuer = `http://127.0.0.1:${edgePorts.admin}`;

    const keysDir = join(tmp.dir, 'signing');
    mkdirSync(keysDir, { mode: 0o700 });
    writeFileSync(join(keysDir, 'edge-1.json'), JSON.stringify(es256Jwk('edge-1')), { mode: 0o600 });
    const apiKeysFile = join(tmp.dir, 'apikeys.yaml');
    writeFileSync(
      apiKeysFile,
      stringify({
        keys: [
          { name: 'acme-chain', sha256: createHash('sha256').update(API_KEY).digest('hex'), subject: 'acme', scopes: ['orders:read'] },
        ],
      }),
    );
    const edgeCfg = join(tmp.dir, 'edge.yaml');
    writeFileSync(
      edgeCfg,
      stringify({
        server: {
          grpc: `127.0.0.1:${edgePorts.grpc}`,
          http: `127.0.0.1:${edgePorts.http}`,
          admin: `127.0.0.1:${edgePorts.admin}`,
          drainSeconds: 1,
        },
        apiKeys: [{ name: 'partners', keysFile: apiKeysFile }],
        tokenIssuer: { issuer: internalIssuer, keysDir, algorithm: 'ES256', ttlSeconds: TTL_SECONDS },
        response: { internalToken: { enabled: true, header: 'authorization', audience: 'destination', claims: ['scope'] } },
        policies: [{ name: 'partners', rules: [{ from: [{ source: { requestPrincipals: ['apikey:partners/*'] } }] }] }],
      }),
    );
    edge = startProc('zt-authz edge', process.execPath, [CLI, 'serve', '--config', edgeCfg]);
    await waitForHttp(`http://127.0.0.1:${edgePorts.admin}/readyz`, edge, 20000);

    // The destination's own zt-authz, as the chart's sidecar mode configures it, with the
    // issuer and policy the docs page shows.
    const docs = docsSidecarConfig(internalIssuer);
    const sideCfg = join(tmp.dir, 'sidecar.yaml');
    writeFileSync(
      sideCfg,
      stringify({
        server: {
          grpc: `127.0.0.1:${sidePorts.grpc}`,
          http: `127.0.0.1:${sidePorts.http}`,
          admin: `127.0.0.1:${sidePorts.admin}`,
          drainSeconds: 1,
        },
        kubernetes: { enabled: false },
        issuers: [
          // No leeway, so the short-lived token is seen to expire within the test.
          { ...docs.issuers[0], clockSkewSeconds: 0 },
          { issuer: OTHER_ISSUER, jwks: { keys: [publicOf(otherJwk)] }, audiences: [ORDERS], algorithms: ['ES256'] },
        ],
        policies: [
          ...docs.policies,
          // The first hop's caller, carried in act.sub, is a claim like any other.
          {
            name: 'orders-admin',
            rules: [
              {
                from: [{ source: { requestPrincipals: [`${internalIssuer}/*`] } }],
                to: [{ operation: { paths: ['/admin/*'] } }],
                when: [{ key: 'request.auth.claims[act][sub]', values: [GATEWAY] }],
              },
            ],
          },
        ],
      }),
    );
    sidecar = startProc('zt-authz sidecar', process.execPath, [CLI, 'serve', '--config', sideCfg]);
    // Ready only once it holds the edge's keys (fetched from the edge's JWKS).
    await waitForHttp(`http://127.0.0.1:${sidePorts.admin}/readyz`, sidecar, 20000);
    edgeClient = authV3Client(edgePorts.grpc);
    sidecarClient = authV3Client(sidePorts.grpc);
  });

  after(async () => {
    if (edgeClient) closeAll(edgeClient);
    if (sidecarClient) closeAll(sidecarClient);
    await sidecar?.stop();
    await edge?.stop();
    tmp?.remove();
  });

  it('the edge swaps the API key for a minted JWT: sub, aud, scope, act, the credential hash; set with overwrite, the key removed', async () => {
    const r = await atEdge();
    assert.equal(reasonOf(r), 'allowed');
    const set = r.okResponse?.headers?.find((x) => x.header?.key?.toLowerCase() === 'authorization');
    assert.equal(String(set?.appendAction), 'OVERWRITE_IF_EXISTS_OR_ADD');
    const removed = (r.okResponse?.headersToRemove ?? []).map((h) => h.toLowerCase());
    assert.ok(removed.includes('x-api-key'), 'the API key does not go upstream');
    assert.ok(!removed.includes('authorization'), 'the minted header is not also removed (Envoy removes after it sets)');
    const jwt = set!.header!.value!.slice('Bearer '.length);
    const p = payloadOf(jwt);
    assert.equal(p.iss, internalIssuer);
    assert.equal(p.sub, 'acme');
    assert.equal(p.aud, ORDERS);
    assert.equal(p.scope, 'orders:read');
    assert.deepEqual(p.act, { sub: GATEWAY });
    assert.equal(p.zt_cred_hash, createHash('sha256').update(API_KEY).digest('hex').slice(0, 12));
    assert.ok(!JSON.stringify(p).includes(API_KEY), 'never the credential');
    assert.equal(Number(p.exp) - Number(p.iat), TTL_SECONDS);
    // A service verifies it against the published JWKS with the page's jose snippet, as shown.
    const { caller } = await docsVerifier(internalIssuer);
    assert.deepEqual(await caller({ headers: { authorization: `Bearer ${jwt}` } }), {
      subject: 'acme',
      scope: 'orders:read',
      actor: GATEWAY,
    });
    await assert.rejects(caller({ headers: { authorization: `Bearer ${await minted(PAYMENTS)}` } }), /aud/, "another service's token");
  });

  it('the sidecar allows the minted token (the edge as an issuer, its JWKS, the internal iss and the copied scope)', async () => {
    assert.equal(await atSidecar(await minted()), 'allowed');
  });

  it("the sidecar authorizes on the first hop's caller (act.sub): present for the gateway, absent for an unknown caller", async () => {
    assert.equal(await atSidecar(await minted(), '/admin/x'), 'allowed');
    const noCaller = await minted(ORDERS, null);
    assert.equal(payloadOf(noCaller).act, undefined, 'no act without a known caller');
    assert.equal(await atSidecar(noCaller, '/admin/x'), 'no_policy_matched');
    assert.equal(await atSidecar(noCaller), 'allowed', 'the read policy does not need it');
  });

  it('the sidecar denies a token from another issuer, even one it verifies', async () => {
    const key = await importJWK(otherJwk, 'ES256');
    const other = await new SignJWT({ scope: 'orders:read' })
      .setProtectedHeader({ alg: 'ES256', kid: otherJwk.kid!, typ: 'JWT' })
      .setIssuer(OTHER_ISSUER)
      .setSubject('acme')
      .setAudience(ORDERS)
      .setIssuedAt()
      .setExpirationTime('2m')
      .sign(key);
    assert.equal(await atSidecar(other), 'no_policy_matched', 'the policy admits only the internal issuer');
    // The same key forging the internal issuer under the edge's kid: the signature fails.
    const jwt = await minted();
    const forged = await new SignJWT(payloadOf(jwt)).setProtectedHeader({ ...decodeProtectedHeader(jwt), alg: 'ES256' }).sign(key);
    assert.equal(await atSidecar(forged), 'token_invalid_signature');
  });

  it('the sidecar denies a minted token for another audience', async () => {
    const forPayments = await minted(PAYMENTS);
    assert.equal(payloadOf(forPayments).aud, PAYMENTS);
    assert.equal(await atSidecar(forPayments), 'audience_mismatch');
  });

  it('the sidecar denies a minted token once it has expired', async () => {
    const jwt = await minted();
    assert.equal(await atSidecar(jwt), 'allowed');
    const exp = Number(payloadOf(jwt).exp) * 1000;
    await new Promise((r) => setTimeout(r, Math.max(0, exp - Date.now()) + 1100));
    assert.equal(await atSidecar(jwt), 'token_expired');
    // The edge mints a fresh one meanwhile: the chain works again.
    const fresh = await minted();
    assert.notEqual(fresh, jwt);
    assert.equal(await atSidecar(fresh), 'allowed');
  });
});
