// Where the private signing keys come from: a directory (one JWK per *.json file) or one data key
// of a Kubernetes Secret holding a JWK Set of private keys ({"keys": [...]}). Each load yields the
// keys and the problems found; the caller (key-loader.ts) decides what a problem means: at
// start-up zt-authz does not start, on reload the last good keys stay. Problems name the file or
// the Secret entry and the kid, never key material.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { importPrivateJwk, type LoadedKey } from './private-jwk.js';
import type { RingInput } from './key-ring.js';
import type { MintAlgorithm } from './signing-key.js';

/** A key file larger than this is not a JWK (an RSA 4096 private JWK is about 3.3 KB). */
export const MAX_KEY_FILE_BYTES = 64 * 1024;

export interface DirLoad {
  /** The usable key of each file, by file name. */
  files: Map<string, RingInput>;
  /** File names that are present but unusable (their last good key, if any, is kept). */
  bad: Set<string>;
  problems: string[];
  /** The directory itself could not be listed: nothing can be concluded about any key. */
  dirError: boolean;
}

/** Read every *.json file of `dir`. Never throws: every failure is a problem naming its file. */
export async function loadKeysDir(dir: string, alg: MintAlgorithm): Promise<DirLoad> {
  const out: DirLoad = { files: new Map(), bad: new Set(), problems: [], dirError: false };
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true }))
      .filter((d) => d.name.endsWith('.json') && !d.name.startsWith('.') && (d.isFile() || d.isSymbolicLink()))
      .map((d) => d.name)
      .sort();
  } catch (err) {
    out.problems.push(`tokenIssuer.keysDir ${dir}: cannot be read (${errorCode(err)})`);
    out.dirError = true;
    return out;
  }
  for (const name of names) {
    const file = join(dir, name);
    try {
      const info = await stat(file);
      if (info.size > MAX_KEY_FILE_BYTES) throw new Error(`${file}: larger than ${MAX_KEY_FILE_BYTES} bytes, not a JWK`);
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        throw new Error(`${file}: cannot be read (${errorCode(err)})`, { cause: err });
      }
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        throw new Error(`${file}: not valid JSON (one private JWK per file)`);
      }
      const key = await importPrivateJwk(value, alg, file);
      out.files.set(name, { key, fallbackCreatedMs: Math.floor(info.mtimeMs) });
    } catch (err) {
      out.bad.add(name);
      out.problems.push(fileProblem(file, err));
    }
  }
  // A kid in two files: neither file is usable (which one is meant cannot be told).
  const byKid = new Map<string, string[]>();
  for (const [name, { key }] of out.files) byKid.set(key.kid, [...(byKid.get(key.kid) ?? []), name]);
  for (const [kid, files] of byKid) {
    if (files.length < 2) continue;
    for (const name of files) {
      out.files.delete(name);
      out.bad.add(name);
    }
    out.problems.push(`tokenIssuer.keysDir ${dir}: kid ${kid} is in more than one file (${files.join(', ')}); each key needs its own kid`);
  }
  return out;
}

function fileProblem(file: string, err: unknown): string {
  const msg = errorMessage(err);
  // Node's stat errors carry the path already; say what failed in our words.
  return msg.startsWith(file) ? msg : `${file}: cannot be read (${errorCode(err)})`;
}

/** Our own errors (KeyError) are written to be logged; anything else is reduced to its code. */
function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : 'unknown error';
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : 'unknown error';
}

/**
 * The keysSecret layout: the data key holds a JWK Set of private keys, `{"keys": [JWK, ...]}`,
 * each with its own kid (and the `created` member `zt-authz keys new` writes). All or nothing: one
 * bad entry refuses the document, so the last good set stays (a half-applied set could retire a
 * key that is still signing elsewhere).
 */
export async function loadSecretDocument(
  bytes: Uint8Array,
  alg: MintAlgorithm,
  origin: string,
): Promise<{ keys: LoadedKey[]; problems: string[] }> {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return { keys: [], problems: [`${origin}: not valid JSON (a JWK Set of private keys, {"keys": [...]})`] };
  }
  const list = (doc as { keys?: unknown } | null)?.keys;
  if (typeof doc !== 'object' || doc === null || !Array.isArray(list))
    return { keys: [], problems: [`${origin}: not a JWK Set (an object with a "keys" array)`] };
  const keys: LoadedKey[] = [];
  const problems: string[] = [];
  const kids = new Set<string>();
  for (const [i, value] of list.entries()) {
    try {
      const key = await importPrivateJwk(value, alg, `${origin} keys[${i}]`);
      if (kids.has(key.kid)) problems.push(`${origin} keys[${i}]: kid ${key.kid} appears twice; each key needs its own kid`);
      kids.add(key.kid);
      keys.push(key);
    } catch (err) {
      problems.push(errorMessage(err));
    }
  }
  if (!problems.length && !keys.length) problems.push(`${origin}: the JWK Set holds no key`);
  return { keys, problems };
}
