// The demo's own RFC 7662 introspection endpoint, served on the admin port next to its JWKS: one
// opaque demo token (random, written to the demo state dir) is active, everything else is not.
// The demo issuer introspects through it (issuers[].introspection, endpoint from its discovery
// document), so `npm start` shows an opaque-token request next to the JWT ones.
import { randomBytes, timingSafeEqual, hash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Route } from '../transport/admin/server.js';
import { send } from '../transport/admin/server.js';
import { DEMO_AUDIENCE } from './keys.js';

export const DEMO_INTROSPECTION_PATH = '/introspect';
export const DEMO_INTROSPECTION_CLIENT = 'zt-authz-demo';
/** What the demo opaque token stands for: a service client with the read scope. */
export const DEMO_OPAQUE_CLIENT = 'demo-service';

export interface DemoIntrospection {
  /** The active opaque token (also in `tokenFile`). */
  token: string;
  tokenFile: string;
  /** The client secret zt-authz authenticates with (client_secret_basic). */
  secretFile: string;
  route: Route;
}

/** Fresh token and client secret for this run, written (mode 0600) to the demo dir. */
export function demoIntrospection(dir: string, issuer: string): DemoIntrospection {
  const token = `demo_${randomBytes(24).toString('base64url')}`;
  const secret = randomBytes(24).toString('base64url');
  const tokenFile = join(dir, 'opaque-token');
  const secretFile = join(dir, 'introspection-secret');
  writeFileSync(tokenFile, token, { mode: 0o600 });
  writeFileSync(secretFile, secret, { mode: 0o600 });
  const expected = digest(`Basic ${Buffer.from(`${DEMO_INTROSPECTION_CLIENT}:${secret}`).toString('base64')}`);
  const route: Route = Object.assign(
    (req: Parameters<Route>[0], res: Parameters<Route>[1]) => {
      if (req.method !== 'POST') return send(res, 405, 'text/plain', 'POST only\n');
      if (!timingSafeEqual(digest(req.headers.authorization ?? ''), expected)) {
        return send(res, 401, 'application/json', '{"error":"invalid_client"}');
      }
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => {
        body += d;
        if (body.length > 8192) req.destroy();
      });
      req.on('end', () => {
        const presented = new URLSearchParams(body).get('token') ?? '';
        const active = timingSafeEqual(digest(presented), digest(token));
        const now = Math.floor(Date.now() / 1000);
        const doc = active
          ? {
              active: true,
              iss: issuer,
              aud: DEMO_AUDIENCE,
              client_id: DEMO_OPAQUE_CLIENT,
              scope: 'orders:read',
              token_type: 'Bearer',
              iat: now,
              exp: now + 3600,
            }
          : { active: false };
        send(res, 200, 'application/json', JSON.stringify(doc));
      });
    },
    { acceptsPost: true as const },
  );
  return { token, tokenFile, secretFile, route };
}

/** Fixed-length digests so timingSafeEqual compares values of any length. */
function digest(s: string): Buffer {
  return hash('sha256', s, 'buffer');
}
