// The next signing key, as `zt-authz keys new` makes it: a fresh private JWK with a new kid and
// the `created` member that starts its schedule (published at once, signing publishLeadSeconds
// later on every replica, whenever each one reads it), written atomically into keysDir or added
// to the keysSecret JWK Set with a read-modify-write on the Secret's resourceVersion.
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { CREATED_MEMBER, MIN_RSA_BITS } from './private-jwk.js';
import type { MintAlgorithm } from './signing-key.js';

export type PrivateJwk = Record<string, string | number>;

/** A new private JWK: kid = creation time (UTC, to the second) + 8 random hex digits, so kids sort by age and never repeat. */
export function newPrivateJwk(alg: MintAlgorithm, nowMs = Date.now()): PrivateJwk {
  let privateKey: KeyObject;
  if (alg === 'ES256') privateKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  else if (alg === 'EdDSA') privateKey = generateKeyPairSync('ed25519').privateKey;
  else privateKey = generateKeyPairSync('rsa', { modulusLength: MIN_RSA_BITS }).privateKey;
  const stamp = new Date(nowMs)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const kid = `${stamp}-${randomBytes(4).toString('hex')}`;
  const jwk = privateKey.export({ format: 'jwk' }) as Record<string, string>;
  return { ...jwk, kid, alg, use: 'sig', [CREATED_MEMBER]: Math.floor(nowMs / 1000) };
}

/** Write `<kid>.json` into `dir` (created 0700 if missing), mode 0600, atomically: a temporary dot-file, fsync, rename. */
export function writeKeyFile(dir: string, jwk: PrivateJwk): string {
  makeDirs(dir);
  const file = join(dir, `${String(jwk.kid)}.json`);
  // The loader skips dot-files, so a reader never sees the temporary file half-written.
  const tmp = join(dir, `.${String(jwk.kid)}.json.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, `${JSON.stringify(jwk)}\n`);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, file);
  return file;
}

/**
 * `mkdir -p` one level at a time. Not `mkdirSync(dir, { recursive: true })`: on Node 20 and 24 that
 * call never returns (a busy loop) for a path under a pseudo-filesystem such as /proc, where the
 * parent exists but creating a child fails with ENOENT; here that ENOENT is thrown as it is.
 */
function makeDirs(dir: string): void {
  const missing: string[] = [];
  for (let d = resolve(dir); !existsSync(d); d = dirname(d)) {
    missing.unshift(d);
    if (dirname(d) === d) break;
  }
  for (const d of missing) mkdirSync(d, { mode: 0o700 });
}

/** The keysSecret data value with `jwk` added: a JWK Set of private keys. Throws on a value that is not one. */
export function addToJwkSet(current: string | undefined, jwk: PrivateJwk): string {
  let keys: unknown[] = [];
  if (current !== undefined && current.trim() !== '') {
    let doc: unknown;
    try {
      doc = JSON.parse(current);
    } catch {
      throw new Error('the Secret data key is not valid JSON; fix or remove it first');
    }
    const list = (doc as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(list)) throw new Error('the Secret data key is not a JWK Set ({"keys": [...]}); fix or remove it first');
    keys = list;
  }
  return JSON.stringify({ keys: [...keys, jwk] });
}
