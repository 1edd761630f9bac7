// Bench configurations: one issuer with an inline JWKS (RS256 + ES256 keys, no network) and a
// policy set of N policies. One global DENY (/admin), N-2 ALLOW policies for *other*
// destinations (alternately scoped by namespace + selector, and by host only, the two ways the
// policy index keys policies by destination), and last the ALLOW policy that admits the bench
// request (namespace shop, selector app=orders, host, methods, paths, scope). A linear engine
// pays for every policy before it; an indexed one should not.
import { writeFileSync } from 'node:fs';
import { DEFAULT_HOST } from './frames.js';
import { InvalidArgumentError } from '../../src/errors.js';

export const BENCH_ISSUER = 'https://idp.bench.example/realms/shop';
export const BENCH_AUDIENCE = 'orders';
export const BENCH_SCOPE = 'orders:read orders:write profile';
/** Second issuer (HS256, local secret) used to fill the token cache quickly in scenario 5. */
export const BENCH_HMAC_ISSUER = 'https://hmac.bench.example';

export interface BenchConfigOptions {
  grpcPort: number;
  adminPort: number;
  jwks: { keys: Array<Record<string, unknown>> };
  policies: number;
  tokenCacheEntries?: number;
  allowSampleRate?: number;
  /** Adds the HS256 issuer BENCH_HMAC_ISSUER with this secret file. */
  hmacSecretFile?: string;
}

export function benchPolicies(n: number): Array<Record<string, unknown>> {
  if (n < 2) throw new InvalidArgumentError('need at least 2 policies');
  const out: Array<Record<string, unknown>> = [
    { name: 'deny-admin', action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin', '/admin/*'] } }] }] },
  ];
  for (let i = 0; out.length < n - 1; i++) {
    const ns = `ns-${i % 97}`;
    const scoped = i % 2 === 0;
    out.push({
      name: `svc-${i}-read`,
      ...(scoped ? { namespace: ns, selector: { matchLabels: { app: `svc-${i}` } } } : {}),
      action: 'ALLOW',
      rules: [
        {
          from: [{ source: { requestPrincipals: [`${BENCH_ISSUER}/*`], namespaces: [ns, 'shop'] } }],
          to: [
            {
              operation: {
                ...(scoped ? {} : { hosts: [`svc-${i}.${ns}.svc.cluster.local`] }),
                methods: ['GET', 'HEAD'],
                paths: [`/api/svc-${i}/*`],
              },
            },
          ],
          when: [{ key: 'request.auth.claims[scope]', values: [`svc-${i}:read`] }],
        },
      ],
    });
  }
  out.push({
    name: 'orders-read',
    namespace: 'shop',
    selector: { matchLabels: { app: 'orders' } },
    action: 'ALLOW',
    rules: [
      {
        from: [{ source: { requestPrincipals: [`${BENCH_ISSUER}/*`], principals: ['cluster.local/ns/shop/sa/frontend'] } }],
        to: [{ operation: { hosts: [DEFAULT_HOST], methods: ['GET', 'HEAD'], paths: ['/api/orders', '/api/orders/*'] } }],
        when: [{ key: 'request.auth.claims[scope]', values: ['orders:read'] }],
      },
    ],
  });
  return out;
}

export function benchConfig(o: BenchConfigOptions): Record<string, unknown> {
  return {
    server: {
      grpc: `127.0.0.1:${o.grpcPort}`,
      admin: `127.0.0.1:${o.adminPort}`,
      http: '127.0.0.1:0',
      drainSeconds: 1,
      readyTimeoutSeconds: 10,
    },
    issuers: [
      {
        issuer: BENCH_ISSUER,
        jwks: o.jwks,
        audiences: [BENCH_AUDIENCE],
        algorithms: ['RS256', 'ES256'],
        typ: 'at+jwt',
        outputClaimToHeaders: [{ header: 'x-auth-tenant', claim: 'tenant' }],
      },
      ...(o.hmacSecretFile
        ? [
            {
              issuer: BENCH_HMAC_ISSUER,
              hmacSecretFile: o.hmacSecretFile,
              algorithms: ['HS256'],
              audiences: [BENCH_AUDIENCE],
              typ: 'at+jwt',
              outputClaimToHeaders: [{ header: 'x-auth-tenant', claim: 'tenant' }],
            },
          ]
        : []),
    ],
    policies: benchPolicies(o.policies),
    tokenCache: { maxEntries: o.tokenCacheEntries ?? 10000, maxTtlSeconds: 300 },
    audit: { enabled: true, allowSampleRate: o.allowSampleRate ?? 1 },
    log: { level: 'info' },
  };
}

/** JSON is YAML: the service's loader reads it as is. */
export function writeConfig(file: string, cfg: Record<string, unknown>): void {
  writeFileSync(file, JSON.stringify(cfg));
}
