// `zt-authz demo` (what `npm start` runs): local signing key + JWKS/discovery and an RFC 7662
// introspection endpoint served on the admin port, the demo policy set, internal tokens minted on
// every allow (an API key at the edge becomes a JWT upstream), and ready-to-paste commands for
// allows (a JWT, an opaque token, an API key) and denies.
import { parseArgs } from 'node:util';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { stringify } from 'yaml';
import { checkConfig } from '../snapshot/checked-config.js';
import { App } from '../app.js';
import { demoConfig, demoIssuer } from '../demo/config.js';
import { DEMO_ALG, DEMO_AUDIENCE, demoDir, demoIssuerFile, loadOrCreateDemoKey } from '../demo/keys.js';
import { mintToken } from '../demo/token.js';
import { DEMO_INTROSPECTION_CLIENT, DEMO_INTROSPECTION_PATH, demoIntrospection } from '../demo/introspection.js';
import { DEMO_APIKEY_SOURCE, demoApiKey } from '../demo/apikeys.js';
import { DEMO_INTERNAL_TTL_SECONDS, demoInternalToken } from '../demo/internal-token.js';
import { send as sendJson } from '../transport/admin/server.js';
import { runUntilSignal } from './lifecycle.js';

export async function runDemo(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      grpc: { type: 'string', default: '127.0.0.1:9191' },
      admin: { type: 'string', default: '127.0.0.1:9090' },
      // Every listener the demo opens is movable, so a busy default port never blocks `npm start`.
      http: { type: 'string', default: '127.0.0.1:9192' },
    },
  });
  const addrs = { grpc: values.grpc, admin: values.admin, http: values.http };
  const dir = demoDir();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const key = await loadOrCreateDemoKey(dir);
  const issuer = demoIssuer(addrs);
  const raw = demoConfig(addrs);
  // The demo issuer also introspects opaque tokens, at the endpoint its discovery document names.
  const intro = demoIntrospection(dir, issuer);
  (raw.issuers as Array<Record<string, unknown>>)[0]!.introspection = {
    clientId: DEMO_INTROSPECTION_CLIENT,
    clientSecretFile: intro.secretFile,
  };
  // An API-key source whose keys may read the API like the demo's token holders (api-read).
  const apiKey = demoApiKey(dir);
  raw.apiKeys = [{ name: DEMO_APIKEY_SOURCE, keysFile: apiKey.keysFile }];
  const apiRead = (
    raw.policies as Array<{ name: string; rules: Array<{ from: Array<{ source: { requestPrincipals: string[] } }> }> }>
  ).find((p) => p.name === 'api-read')!;
  apiRead.rules[0]!.from[0]!.source.requestPrincipals.push(`apikey:${DEMO_APIKEY_SOURCE}/*`);
  // Internal tokens: every allow carries a JWT zt-authz signs, in place of the credential.
  const internal = demoInternalToken(dir, issuer);
  raw.tokenIssuer = internal.tokenIssuer;
  (raw.response as Record<string, unknown>).internalToken = internal.internalToken;
  const config = checkConfig(raw, 'built-in demo config').config;
  writeFileSync(join(dir, 'config.yaml'), `# Effective demo configuration (for reference; written by zt-authz demo)\n${stringify(raw)}`);
  writeFileSync(demoIssuerFile(dir), issuer);

  const jwks = JSON.stringify({ keys: [key.publicJwk] });
  const discovery = JSON.stringify({
    issuer,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    introspection_endpoint: `${issuer}${DEMO_INTROSPECTION_PATH}`,
    id_token_signing_alg_values_supported: [DEMO_ALG],
  });
  const app = await App.start({
    config,
    adminRoutes: {
      '/.well-known/jwks.json': (_req, res) => sendJson(res, 200, 'application/jwk-set+json', jwks),
      '/.well-known/openid-configuration': (_req, res) => sendJson(res, 200, 'application/json', discovery),
      [DEMO_INTROSPECTION_PATH]: intro.route,
    },
  });

  const token = await mintToken({
    issuer,
    subject: 'demo-user',
    audience: DEMO_AUDIENCE,
    scope: 'orders:read',
    ttlSeconds: 3600,
    claims: { tenant: 'acme' },
    key: key.privateKey,
    kid: key.kid,
    alg: DEMO_ALG,
  });
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const rel = relative(process.cwd(), tokenFile) || tokenFile;
  const relOpaque = relative(process.cwd(), intro.tokenFile) || intro.tokenFile;
  const relKey = relative(process.cwd(), apiKey.keyFile) || apiKey.keyFile;
  const cli = './bin/zt-authz';
  const a = `--addr ${addrs.grpc}`;
  const banner = [
    '',
    'zt-authz demo is running (Ctrl-C to stop)',
    `  gRPC ext_authz  ${addrs.grpc}   envoy.service.auth.v3.Authorization/Check (and v2)`,
    `  HTTP authz      http://${addrs.http}   Envoy http_service, nginx auth_request (/nginx-auth), ingress-nginx auth-url (/ingress-nginx-auth)`,
    `  admin           http://${addrs.admin}   /metrics /healthz /readyz /.well-known/jwks.json ${DEMO_INTROSPECTION_PATH}`,
    `  issuer          ${issuer}   audience "${DEMO_AUDIENCE}", RS256, OIDC discovery`,
    `  API keys        source partners (x-api-key header), one demo key for subject acme`,
    `  internal tokens ${internal.issuer}   every allow sends upstream a JWT zt-authz signs (ES256, ${DEMO_INTERNAL_TTL_SECONDS} s; JWKS ${internal.issuer}/.well-known/jwks.json)`,
    `  policies        block-admin (DENY /admin*), api-read (GET /api/*), api-write (POST/PUT/DELETE /api/* with scope orders:write)`,
    `  state           ${dir}  (signing keys, effective config.yaml, token, opaque-token, api-key, apikeys.yaml)`,
    '',
    'A ready token (sub=demo-user, scope="orders:read", tenant=acme, valid 1 h), also saved in ' + rel + ':',
    `  ${token}`,
    '',
    'In another terminal, from this directory:',
    '  # allow: GET /api/orders with the token',
    `  ${cli} send ${a} --path /api/orders --token "$(cat ${rel})"`,
    '  # deny 401 token_missing: no token',
    `  ${cli} send ${a} --path /api/orders`,
    '  # deny 403 insufficient_scope: POST needs scope orders:write',
    `  ${cli} send ${a} --method POST --path /api/orders --token "$(cat ${rel})"`,
    '  # allow: mint a token that has the write scope',
    `  ${cli} send ${a} --method POST --path /api/orders --token "$(${cli} token --sub alice --scope 'orders:read orders:write')"`,
    "  # allow: an opaque token (not a JWT), checked at the issuer's introspection endpoint",
    `  ${cli} send ${a} --path /api/orders --token "$(cat ${relOpaque})"`,
    '  # allow: an API key (x-api-key header), principal apikey:partners/acme; upstream it becomes a JWT zt-authz signed, shown decoded',
    `  ${cli} send ${a} --path /api/orders --header "x-api-key: $(cat ${relKey})"`,
    '  # metrics',
    `  curl -s http://${addrs.admin}/metrics | grep zt_authz_decisions_total`,
    '',
  ].join('\n');
  await waitReady(app, 10_000);
  process.stderr.write(banner + '\n');
  return runUntilSignal(app);
}

async function waitReady(app: App, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!app.ready && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  if (!app.ready) app.logger.warn('demo: keys not loaded yet; the commands below will answer jwks_unavailable until they are');
}
