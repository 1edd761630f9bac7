// The demo's internal tokens (phantom token): zt-authz signs a short-lived JWT for every allow
// and hands it upstream in place of the credential, so `npm start` shows an API key at the edge
// becoming a JWT the services behind could verify offline. The ES256 signing key is created once
// in the demo state dir (like the demo issuer's key) and published under the demo's internal
// issuer, a path of the admin listener next to the demo issuer's own documents.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newPrivateJwk } from '../mint/keys/new-key.js';

/** The internal issuer's path under the admin listener (the demo issuer itself is its root). */
export const DEMO_INTERNAL_PATH = '/internal';
export const DEMO_INTERNAL_TTL_SECONDS = 120;
/** Claims copied from the credential into the minted token, besides the ones zt-authz always sets. */
export const DEMO_INTERNAL_CLAIMS = ['scope', 'tenant'];

export interface DemoInternalToken {
  issuer: string;
  keysDir: string;
  /** The `tokenIssuer` block of the demo configuration. */
  tokenIssuer: Record<string, unknown>;
  /** The `response.internalToken` block. */
  internalToken: Record<string, unknown>;
}

/** The internal issuer for `demoIssuer` (the admin listener's URL), with its signing key created on first use (mode 0600). */
export function demoInternalToken(dir: string, demoIssuer: string): DemoInternalToken {
  const keysDir = join(dir, 'internal-signing');
  const file = join(keysDir, 'demo.json');
  if (!existsSync(file)) {
    // The key `zt-authz keys new` would write. An EC P-256 key takes about a millisecond, so demo
    // start-up stays fast; as the only key it signs at once.
    mkdirSync(keysDir, { recursive: true, mode: 0o700 });
    writeFileSync(file, JSON.stringify(newPrivateJwk('ES256')), { mode: 0o600 });
  }
  const issuer = `${demoIssuer}${DEMO_INTERNAL_PATH}`;
  return {
    issuer,
    keysDir,
    tokenIssuer: { issuer, keysDir, algorithm: 'ES256', ttlSeconds: DEMO_INTERNAL_TTL_SECONDS },
    internalToken: { enabled: true, header: 'authorization', audience: 'destination', claims: DEMO_INTERNAL_CLAIMS },
  };
}
