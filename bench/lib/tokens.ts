// Signing keys and access tokens for the bench, minted with node:crypto directly (jose's signer
// is slower and minting is not what is measured). Tokens look like real RFC 9068 access tokens:
// header {alg, kid, typ: at+jwt}; claims iss, sub, aud, exp, iat, nbf, scope, client_id, jti, tenant.
import { createHmac, createPrivateKey, generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import { Worker } from 'node:worker_threads';

export type BenchAlg = 'RS256' | 'ES256';

export interface SigningKey {
  alg: BenchAlg;
  kid: string;
  privateKey: KeyObject;
  publicJwk: Record<string, unknown>;
}

export function generateSigningKey(alg: BenchAlg): SigningKey {
  const { privateKey, publicKey } =
    alg === 'RS256'
      ? generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 })
      : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const kid = `bench-${alg.toLowerCase()}`;
  return { alg, kid, privateKey, publicJwk: { ...publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' } };
}

/** Rebuild a key from its PKCS#8 PEM (child processes receive keys this way). */
export function keyFromPem(alg: BenchAlg, kid: string, pem: string): Pick<SigningKey, 'alg' | 'kid' | 'privateKey'> {
  return { alg, kid, privateKey: createPrivateKey(pem) };
}

export interface TokenClaims {
  issuer: string;
  audience: string;
  subject: string;
  scope: string;
  ttlSeconds?: number;
}

const b64u = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

function claimsJson(c: TokenClaims): string {
  const now = Math.floor(Date.now() / 1000);
  return JSON.stringify({
    iss: c.issuer,
    sub: c.subject,
    aud: c.audience,
    exp: now + (c.ttlSeconds ?? 3600),
    iat: now,
    nbf: now,
    scope: c.scope,
    client_id: 'frontend-web',
    tenant: 'acme',
    jti: randomUUID(),
  });
}

/** HS256 tokens (same claims) for an issuer configured with hmacSecretFile. */
export function mintHs256Many(secret: Buffer, base: Omit<TokenClaims, 'subject'>, n: number, subjectPrefix = 'user'): string[] {
  const header = b64u(JSON.stringify({ alg: 'HS256', typ: 'at+jwt' }));
  const out = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const input = `${header}.${b64u(claimsJson({ ...base, subject: `${subjectPrefix}-${i}` }))}`;
    out[i] = `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
  }
  return out;
}

export function mint(key: Pick<SigningKey, 'alg' | 'kid' | 'privateKey'>, c: TokenClaims): string {
  const header = b64u(JSON.stringify({ alg: key.alg, kid: key.kid, typ: 'at+jwt' }));
  const payload = b64u(claimsJson(c));
  const input = `${header}.${payload}`;
  const sig =
    key.alg === 'RS256'
      ? sign('sha256', Buffer.from(input), key.privateKey)
      : sign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64u(sig)}`;
}

export function mintMany(
  key: Pick<SigningKey, 'alg' | 'kid' | 'privateKey'>,
  base: Omit<TokenClaims, 'subject'>,
  n: number,
  subjectPrefix = 'user',
  from = 0,
): string[] {
  const out = new Array<string>(n);
  for (let i = 0; i < n; i++) out[i] = mint(key, { ...base, subject: `${subjectPrefix}-${from + i}` });
  return out;
}

/** mintMany split over `threads` worker threads (RSA signing is ~1 ms per token). */
export async function mintParallel(
  key: SigningKey,
  base: Omit<TokenClaims, 'subject'>,
  n: number,
  threads: number,
  subjectPrefix = 'user',
): Promise<string[]> {
  const pem = key.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const per = Math.ceil(n / threads);
  const jobs = Array.from({ length: threads }, (_, t) => ({ from: t * per, count: Math.max(0, Math.min(per, n - t * per)) })).filter(
    (j) => j.count > 0,
  );
  const parts = await Promise.all(
    jobs.map(
      (j) =>
        new Promise<string[]>((resolve, reject) => {
          const w = new Worker(new URL('../mint-worker.js', import.meta.url), {
            workerData: { alg: key.alg, kid: key.kid, pem, base, from: j.from, count: j.count, subjectPrefix },
          });
          w.once('message', (m: string[]) => resolve(m));
          w.once('error', reject);
        }),
    ),
  );
  return parts.flat();
}
