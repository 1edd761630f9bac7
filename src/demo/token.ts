// Mint tokens with chosen claims (demo key by default, or any private JWK file).
import { readFileSync } from 'node:fs';
import { SignJWT, importJWK, type JWK, type JWTPayload, type CryptoKey } from 'jose';
import { InvalidArgumentError, KeyError } from '../errors.js';

export interface MintOptions {
  issuer: string;
  subject: string;
  audience?: string | string[];
  scope?: string;
  ttlSeconds: number;
  claims?: JWTPayload;
  key: CryptoKey;
  kid: string;
  alg: string;
  typ?: string;
}

export async function mintToken(o: MintOptions): Promise<string> {
  const jwt = new SignJWT({ ...(o.scope ? { scope: o.scope } : {}), ...(o.claims ?? {}) })
    .setProtectedHeader({ alg: o.alg, kid: o.kid, typ: o.typ ?? 'JWT' })
    .setIssuer(o.issuer)
    .setSubject(o.subject)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + o.ttlSeconds)
    .setJti(crypto.randomUUID());
  if (o.audience) jwt.setAudience(o.audience);
  return jwt.sign(o.key);
}

/** Private JWK file → signing key. */
export async function keyFromJwkFile(file: string): Promise<{ key: CryptoKey; kid: string; alg: string }> {
  const jwk = JSON.parse(readFileSync(file, 'utf8')) as JWK;
  if (!jwk.alg) throw new KeyError(`${file}: JWK has no "alg"`);
  return { key: (await importJWK(jwk, jwk.alg)) as CryptoKey, kid: jwk.kid ?? '', alg: jwk.alg };
}

/** `k=v` pairs; values that parse as JSON (numbers, arrays, booleans) keep their type. */
export function parseClaimArgs(pairs: readonly string[]): JWTPayload {
  const out: JWTPayload = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`--claim expects name=value, got "${p}"`);
    const name = p.slice(0, eq);
    const raw = p.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      /* plain string */
    }
    out[name] = value;
  }
  return out;
}
