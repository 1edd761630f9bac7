// `zt-authz apikey new`: makes a key (zt_ + base64url of 32 random bytes: 256 bits, so a plain
// SHA-256 is all the storage needs) and prints it once on stdout, with the
// entry for the keys file or a Secret manifest holding only its hash. The entry goes through the
// parser zt-authz loads keys files with, so what is printed is what the service accepts. The key
// itself is never written anywhere else: lose it and make a new one.
import { createHash, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { parseKeysFile } from '../authn/apikeys/keys-file.js';
import { API_KEYS_DATA_KEY } from '../k8s/apikey-secrets.js';
import { ConfigError } from '../config/problems.js';
import { InvalidArgumentError } from '../errors.js';
import { EXIT, UsageError, type CliCommand } from './command.js';

export const APIKEY_USAGE = `  zt-authz apikey new --source SRC --name NAME --subject SUB [--scope "a b"]... [--role R]...
                 [--claim k=v]... [--expires RFC3339] [--secret NAME --namespace NS]
                                        make an API key: prints the key ONCE, then the keys-file entry
                                        (or, with --secret, a Secret manifest) holding only its SHA-256
`;

export interface NewApiKey {
  key: string;
  /** The keys-file entry, or the Secret manifest (YAML). */
  text: string;
}

const SOURCE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function newApiKey(args: string[], random: (n: number) => Buffer = randomBytes): NewApiKey {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      source: { type: 'string' },
      name: { type: 'string' },
      subject: { type: 'string' },
      scope: { type: 'string', multiple: true },
      role: { type: 'string', multiple: true },
      claim: { type: 'string', multiple: true },
      expires: { type: 'string' },
      secret: { type: 'string' },
      namespace: { type: 'string', short: 'n' },
    },
  });
  if (positionals.length) throw new InvalidArgumentError(`apikey new: unexpected argument ${positionals[0]}`);
  const { source, name, subject } = values;
  if (!source || !SOURCE.test(source))
    throw new InvalidArgumentError('apikey new: --source is required: the API-key source name (a lower-case DNS label)');
  if (!name) throw new InvalidArgumentError('apikey new: --name is required (unique within the source; shown in audit records)');
  if (!subject) throw new InvalidArgumentError('apikey new: --subject is required (the request principal is apikey:SOURCE/SUBJECT)');
  if (values.namespace && !values.secret) throw new InvalidArgumentError('apikey new: --namespace goes with --secret');
  const claims: Record<string, string> = {};
  for (const c of values.claim ?? []) {
    const eq = c.indexOf('=');
    if (eq < 1) throw new InvalidArgumentError(`apikey new: --claim takes k=v, got "${c}"`);
    claims[c.slice(0, eq)] = c.slice(eq + 1);
  }
  const key = `zt_${random(32).toString('base64url')}`;
  const entry = {
    name,
    sha256: createHash('sha256').update(key).digest('hex'),
    subject,
    scopes: (values.scope ?? []).flatMap((s) => s.split(' ')).filter((s) => s !== ''),
    ...(values.role?.length ? { roles: values.role } : {}),
    ...(Object.keys(claims).length ? { claims } : {}),
    ...(values.expires ? { expiresAt: values.expires } : {}),
  };
  const doc = stringify({ keys: [entry] });
  try {
    parseKeysFile(doc, 'apikey new');
  } catch (err) {
    if (err instanceof ConfigError)
      throw new InvalidArgumentError(
        `apikey new: ${err.problems.map((p) => `${p.path.replace(/^keys\[0\]\./, '')}: ${p.message}`).join('; ')}`,
      );
    throw err;
  }
  if (!values.secret) return { key, text: stringify([entry]) };
  const manifest = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: values.secret,
      ...(values.namespace ? { namespace: values.namespace } : {}),
      labels: { 'zt-authz.io/api-keys': source },
    },
    type: 'Opaque',
    stringData: { [API_KEYS_DATA_KEY]: doc },
  };
  return { key, text: stringify(manifest) };
}

export const APIKEY_COMMAND: CliCommand = {
  name: 'apikey',
  usage: APIKEY_USAGE,
  exitCodes: { [EXIT.OK]: 'the key and its entry are on stdout', [EXIT.USAGE]: 'an unknown verb, a missing, unknown or malformed flag' },
  run: runApiKey,
};

export function runApiKey(args: string[]): number {
  const [sub, ...rest] = args;
  if (sub !== 'new')
    throw new UsageError(sub === undefined ? 'apikey: which one? (apikey new)' : `apikey: unknown verb "${sub}" (apikey new)`);
  const out = newApiKey(rest);
  process.stdout.write(`# The key, shown once (store it now; only its SHA-256 is kept below):\n${out.key}\n`);
  process.stdout.write(out.text.includes('kind: Secret') ? `---\n${out.text}` : `# Add to the keys file under keys:\n${out.text}`);
  return 0;
}
