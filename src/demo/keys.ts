// Demo signing key: generated once and kept in the demo state dir (default ./.zt-authz-demo,
// git-ignored) so `zt-authz token` signs with the key the running demo publishes.
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { exportJWK, generateKeyPair, importJWK, calculateJwkThumbprint, type JWK, type CryptoKey } from 'jose';

export const DEMO_ALG = 'RS256';
export const DEMO_AUDIENCE = 'demo-api';

export function demoDir(): string {
  return resolve(process.env.ZT_AUTHZ_DEMO_DIR ?? '.zt-authz-demo');
}

export interface DemoKey {
  privateKey: CryptoKey;
  publicJwk: JWK;
  kid: string;
}

/** Load the demo key, creating it (mode 0600) on first use. */
export async function loadOrCreateDemoKey(dir = demoDir()): Promise<DemoKey> {
  const file = join(dir, 'signing-key.jwk.json');
  let privateJwk: JWK;
  if (existsSync(file)) {
    privateJwk = JSON.parse(readFileSync(file, 'utf8')) as JWK;
  } else {
    const { privateKey } = await generateKeyPair(DEMO_ALG, { extractable: true, modulusLength: 2048 });
    privateJwk = await exportJWK(privateKey);
    privateJwk.kid = await calculateJwkThumbprint(privateJwk);
    privateJwk.alg = DEMO_ALG;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(file, JSON.stringify(privateJwk), { mode: 0o600 });
  }
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub } = privateJwk;
  const publicJwk: JWK = { ...pub, use: 'sig', alg: DEMO_ALG };
  return { privateKey: (await importJWK(privateJwk, DEMO_ALG)) as CryptoKey, publicJwk, kid: privateJwk.kid! };
}

/** The demo issuer: the admin listener's own URL (it serves discovery + JWKS). */
export function demoIssuerFile(dir = demoDir()): string {
  return join(dir, 'issuer');
}
