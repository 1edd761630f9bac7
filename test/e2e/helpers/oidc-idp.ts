// A real OpenID Provider (the `oidc-provider` package) run as its own process for the e2e suite:
// client_credentials with resource indicators, issuing RFC 9068 JWT access tokens (typ at+jwt,
// aud = the resource, scope limited by the client's allowed scopes).
//
//   node dist/test/e2e/helpers/oidc-idp.js CONFIG.json      prints "ready <issuer>" once listening
//
// CONFIG: { port, resource, scopes: [..], keys: [private JWK, ..], clients: [{client_id,
// client_secret, scope}] }. The first key signs; every key is published. Key rotation = restart
// with a new key list on the same port (the process keeps no other state that matters).
// `accessTokenFormat: "opaque"` issues opaque access tokens instead; the introspection
// (RFC 7662) and revocation (RFC 7009) endpoints are served either way.
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import Provider, { errors } from 'oidc-provider';

interface IdpConfig {
  port: number;
  resource: string;
  scopes: string[];
  keys: Array<Record<string, unknown>>;
  clients: Array<{ client_id: string; client_secret: string; scope: string }>;
  accessTokenFormat?: 'jwt' | 'opaque';
}

const cfg = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as IdpConfig;
const issuer = `http://127.0.0.1:${cfg.port}`;

const provider = new Provider(issuer, {
  clients: cfg.clients.map((c) => ({
    ...c,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
  })),
  scopes: cfg.scopes,
  jwks: { keys: cfg.keys },
  ttl: { ClientCredentials: 300 },
  cookies: { keys: ['zt-authz-e2e-cookie-key'] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => cfg.resource,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx: unknown, resource: string) => {
        if (resource !== cfg.resource) throw new errors.InvalidTarget();
        return {
          scope: cfg.scopes.join(' '),
          audience: cfg.resource,
          accessTokenFormat: cfg.accessTokenFormat ?? 'jwt',
          accessTokenTTL: 300,
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
});

const server = createServer(provider.callback());
server.listen(cfg.port, '127.0.0.1', () => process.stdout.write(`ready ${issuer}\n`));
const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
