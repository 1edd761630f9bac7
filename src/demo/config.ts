// Built-in demo configuration: one issuer (this process, via OIDC discovery on the admin port)
// and a small zero-trust policy set that shows an allow, a 401 and a 403.
import { DEMO_AUDIENCE } from './keys.js';

export interface DemoAddresses {
  grpc: string;
  admin: string;
  /** HTTP authz transport (Envoy http_service, nginx auth_request). */
  http: string;
}

export function demoIssuer(addrs: DemoAddresses): string {
  return `http://${addrs.admin}`;
}

export function demoConfig(addrs: DemoAddresses): Record<string, unknown> {
  const issuer = demoIssuer(addrs);
  return {
    server: { grpc: addrs.grpc, admin: addrs.admin, http: addrs.http, drainSeconds: 2, readyTimeoutSeconds: 10 },
    issuers: [
      {
        issuer,
        discovery: true,
        audiences: [DEMO_AUDIENCE],
        algorithms: ['RS256'],
        outputClaimToHeaders: [{ header: 'x-auth-tenant', claim: 'tenant' }],
      },
    ],
    response: { realm: 'zt-authz-demo' },
    policies: [
      {
        name: 'block-admin',
        action: 'DENY',
        rules: [{ to: [{ operation: { paths: ['/admin', '/admin/*'] } }] }],
      },
      {
        name: 'api-read',
        action: 'ALLOW',
        rules: [
          {
            from: [{ source: { requestPrincipals: [`${issuer}/*`] } }],
            to: [{ operation: { methods: ['GET', 'HEAD'], paths: ['/api/*'] } }],
          },
        ],
      },
      {
        name: 'api-write',
        action: 'ALLOW',
        rules: [
          {
            from: [{ source: { requestPrincipals: [`${issuer}/*`] } }],
            to: [{ operation: { methods: ['POST', 'PUT', 'DELETE'], paths: ['/api/*'] } }],
            when: [{ key: 'request.auth.claims[scope]', values: ['orders:write'] }],
          },
        ],
      },
    ],
    audit: { allowSampleRate: 1 },
    log: { level: 'info' },
  };
}
