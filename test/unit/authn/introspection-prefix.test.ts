// An opaque token goes to an introspection issuer only when it arrives exactly as that issuer reads
// tokens: its header AND one of its prefixes for that header. Another issuer may read the same
// header with another prefix (`Token ` beside `Bearer `); a credential sent in that form is meant
// for that issuer, and sending it to the introspection issuer's endpoint would disclose it to an
// IdP that does not own it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Authenticator } from '../../../src/authn/authenticator.js';
import { buildIssuerKeys } from '../../../src/authn/key-resolvers.js';
import { resolveConfig } from '../../../src/config/resolve.js';
import type { AuthResult, CheckInput } from '../../../src/decision/types.js';

const bodies: string[] = [];
const server = createServer((req, res) => {
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString()));
  req.on('end', () => {
    bodies.push(body);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ active: true, iss: ISS, aud: 'api', sub: 'svc', token_type: 'Bearer' }));
  });
});
server.listen(0, '127.0.0.1');
await new Promise((r) => server.once('listening', r));
const ISS = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const dir = mkdtempSync(join(tmpdir(), 'zt-introspect-prefix-'));
writeFileSync(join(dir, 'secret'), 's3cret');

const cfg = resolveConfig({
  issuers: [
    // Reads `authorization: Token <JWT>` only (its keys are never fetched: no JWT is sent here).
    {
      issuer: 'https://other.example',
      audiences: ['api'],
      jwksUri: 'https://other.example/jwks',
      fromHeaders: [{ name: 'authorization', prefix: 'Token ' }],
    },
    // Reads `authorization: Bearer <token>` (the default) and introspects what is not a JWT.
    {
      issuer: ISS,
      audiences: ['api'],
      introspection: { endpoint: `${ISS}/introspect`, clientId: 'zt', clientSecretFile: join(dir, 'secret') },
    },
  ],
});
const keys = new Map(cfg.issuers.map((i) => [i.issuer, buildIssuerKeys(i, {})] as const));
const auth = new Authenticator(
  cfg.issuers,
  keys,
  { maxTokenBytes: 8192, cacheMaxEntries: 100, cacheMaxTtlSeconds: 60 },
  { cacheHit: () => undefined, cacheMiss: () => undefined },
);
after(() => {
  for (const k of keys.values()) k.stop();
  server.closeAllConnections();
  server.close();
});

const check = async (authorization: string): Promise<AuthResult> =>
  auth.authenticate({
    requestId: '1',
    method: 'GET',
    host: 'h',
    path: '/',
    query: '',
    headers: { authorization },
    source: { labels: {} },
    destination: { labels: {} },
    contextExtensions: {},
  } satisfies CheckInput);

test('an opaque credential in another issuer’s prefix is never sent to the introspection endpoint', async () => {
  const before = bodies.length;
  const r = await check('Token opaque-credential-of-the-other-issuer');
  assert.equal(bodies.length, before, `the credential reached the introspection endpoint: ${bodies.at(-1)}`);
  assert.equal(r.kind, 'failed');
  assert.equal(r.kind === 'failed' && r.reason, 'token_malformed');
});

test('an opaque token in the introspection issuer’s own prefix is introspected', async () => {
  const before = bodies.length;
  const r = await check('Bearer opaque-token-of-the-introspection-issuer');
  assert.equal(bodies.length, before + 1);
  assert.equal(r.kind, 'authenticated');
  assert.equal(r.kind === 'authenticated' && r.identity.requestPrincipal, `${ISS}/svc`);
});
