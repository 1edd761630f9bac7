// In process: one signature of a typical 400-byte JWS signing input with each mint algorithm,
// node:crypto sign() (what the token issuer uses: synchronous) against jose SignJWT (a whole token,
// asynchronous: WebCrypto). Blocks of 200 calls, p50 and mean per call in µs.
//   node dist/bench/sign-micro.js [--iterations 5000]
// Prints one JSON line per algorithm: {alg, nodeSign: {p50Us, meanUs}, joseSignJwt: {p50Us, meanUs}}.
import { SignJWT } from 'jose';
import { newPrivateJwk } from '../src/mint/keys/new-key.js';
import { importPrivateJwk } from '../src/mint/keys/private-jwk.js';
import { NodeSigningKey } from '../src/mint/keys/node-signing-key.js';
import type { MintAlgorithm } from '../src/mint/keys/signing-key.js';
import { argMap, percentile } from './lib/util.js';

const a = argMap(process.argv.slice(2));
const iterations = Number(a.get('iterations') ?? 5000);
const data = Buffer.from('x'.repeat(400));

async function timed(n: number, fn: () => unknown): Promise<{ p50Us: number; meanUs: number }> {
  const per: number[] = [];
  for (let done = 0; done < n; done += 200) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 200; i++) await fn();
    per.push(Number(process.hrtime.bigint() - t0) / 200 / 1000);
  }
  per.sort((x, y) => x - y);
  const round = (x: number): number => Math.round(x * 10) / 10;
  return { p50Us: round(percentile(per, 50)), meanUs: round(per.reduce((s, x) => s + x, 0) / per.length) };
}

for (const alg of ['ES256', 'EdDSA', 'RS256'] as MintAlgorithm[]) {
  const key = await importPrivateJwk(newPrivateJwk(alg), alg, 'bench');
  const signer = new NodeSigningKey(key.kid, alg, key.privateKey);
  const n = alg === 'RS256' ? Math.max(200, Math.floor(iterations / 5)) : iterations;
  await timed(400, () => signer.sign(data));
  const nodeSign = await timed(n, () => signer.sign(data));
  const joseSignJwt = await timed(n, () => new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg, kid: key.kid }).sign(key.privateKey));
  console.log(JSON.stringify({ alg, nodeSign, joseSignJwt }));
}
