// Verification ceilings for scenario 2, measured in their own process on the same tokens:
//  - raw: node:crypto async verify (callback form, runs on the libuv pool) of the JWS signing
//    input, `--inflight` at a time: the cost of the signature and nothing else;
//  - jose: jose.jwtVerify with the service's hardened options, `--inflight` at a time.
// Prints one JSON line: {alg, rawOpsPerSec, joseOpsPerSec}
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { jwtVerify } from 'jose';
import { argMap } from './lib/util.js';
import { InternalError } from '../src/errors.js';

const a = argMap(process.argv.slice(2));
const seconds = Number(a.get('seconds') ?? 3);
const inflight = Number(a.get('inflight') ?? 64);
const tokens = readFileSync(a.get('tokens')!, 'utf8').split('\n').filter(Boolean);
const jwk = JSON.parse(readFileSync(a.get('jwk')!, 'utf8')) as { alg: string } & Record<string, unknown>;
const key: KeyObject = createPublicKey({ key: jwk, format: 'jwk' });
const alg = jwk.alg;

const parts = tokens.map((t) => {
  const i = t.lastIndexOf('.');
  return { input: Buffer.from(t.slice(0, i)), sig: Buffer.from(t.slice(i + 1), 'base64url') };
});

function rawVerify(i: number): Promise<boolean> {
  const p = parts[i % parts.length]!;
  return new Promise((resolve, reject) =>
    verify('sha256', p.input, alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key, p.sig, (err, ok) =>
      err ? reject(err) : resolve(ok),
    ),
  );
}

const options = {
  algorithms: [alg],
  issuer: a.get('issuer')!,
  audience: a.get('audience')!,
  typ: 'at+jwt',
  requiredClaims: ['exp'],
  clockTolerance: 30,
};
async function joseVerify(i: number): Promise<boolean> {
  await jwtVerify(tokens[i % tokens.length]!, key, options);
  return true;
}

async function run(fn: (i: number) => Promise<boolean>, secs: number): Promise<number> {
  let n = 0;
  let failures = 0;
  const end = performance.now() + secs * 1000;
  const t0 = performance.now();
  const lane = async (): Promise<void> => {
    while (performance.now() < end) {
      if (!(await fn(n++))) failures++;
    }
  };
  await Promise.all(Array.from({ length: inflight }, lane));
  if (failures) throw new InternalError(`${failures} verifications failed`);
  return n / ((performance.now() - t0) / 1000);
}

async function main(): Promise<void> {
  await run(rawVerify, 0.5); // warm-up
  const rawOpsPerSec = await run(rawVerify, seconds);
  await run(joseVerify, 0.5);
  const joseOpsPerSec = await run(joseVerify, seconds);
  process.stdout.write(`${JSON.stringify({ alg, inflight, rawOpsPerSec, joseOpsPerSec })}\n`);
}
main().catch((err) => {
  console.error(err);
  process.exit(1);
});
