// The demo's API-key source: one fresh key per run, written (mode 0600) to the demo state dir next
// to the token, and a keys file holding only its SHA-256, as `zt-authz apikey new` would print it.
// `npm start` then shows an API-key request next to the JWT and opaque-token ones.
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';

export const DEMO_APIKEY_SOURCE = 'partners';
export const DEMO_APIKEY_SUBJECT = 'acme';

export interface DemoApiKey {
  keyFile: string;
  keysFile: string;
}

export function demoApiKey(dir: string): DemoApiKey {
  const key = `zt_${randomBytes(32).toString('base64url')}`;
  const keyFile = join(dir, 'api-key');
  const keysFile = join(dir, 'apikeys.yaml');
  writeFileSync(keyFile, key, { mode: 0o600 });
  const entry = {
    name: 'acme-demo',
    sha256: createHash('sha256').update(key).digest('hex'),
    subject: DEMO_APIKEY_SUBJECT,
    scopes: ['orders:read'],
    claims: { tenant: 'acme' },
  };
  writeFileSync(keysFile, `# Demo API keys: hashes only (the key is in ${keyFile})\n${stringify({ keys: [entry] })}`, { mode: 0o600 });
  return { keyFile, keysFile };
}
