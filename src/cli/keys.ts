// `zt-authz keys new`: creates the next token-issuer signing key, into the keys directory or the
// keys Secret. Running services publish it as soon as they read it and sign with it
// publishLeadSeconds after its creation time (the `created` member written here), so every replica
// switches at the same moment without talking to the others. The private key is never printed.
import type { CoreV1Api } from '@kubernetes/client-node';
import { MINT_ALGORITHMS } from '../config/token-issuer-schema.js';
import { addToJwkSet, newPrivateJwk, writeKeyFile, type PrivateJwk } from '../mint/keys/new-key.js';
import type { MintAlgorithm } from '../mint/keys/signing-key.js';
import { EXIT, UsageError, parseCommandArgs, type CliCommand } from './command.js';

export const KEYS_USAGE = `  zt-authz keys new [--dir DIR | --secret NAME [--namespace NS] [--key K] [--kubeconfig F]]
                 [--algorithm ES256|EdDSA|RS256]
                                        create the next token-issuer signing key (tokenIssuer.keysDir,
                                        or the JWK Set in tokenIssuer.keysSecret); published at once,
                                        signing after publishLeadSeconds
`;

const DNS_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const DATA_KEY = /^[-._a-zA-Z0-9]+$/;

export const KEYS_COMMAND: CliCommand = {
  name: 'keys',
  usage: KEYS_USAGE,
  exitCodes: {
    [EXIT.OK]: 'the key was written; its kid is on stdout',
    [EXIT.USAGE]: 'an unknown verb, a missing, unknown or malformed flag',
    [EXIT.RUNTIME]: 'the directory or the Secret could not be written',
  },
  run: runKeys,
};

export async function runKeys(args: string[]): Promise<number> {
  const [verb, ...rest] = args;
  if (verb !== 'new') throw new UsageError(verb === undefined ? 'keys: which one? (keys new)' : `keys: unknown verb "${verb}" (keys new)`);
  const { values, positionals } = parseCommandArgs('keys new', {
    args: rest,
    allowPositionals: true,
    options: {
      dir: { type: 'string' },
      secret: { type: 'string' },
      namespace: { type: 'string', short: 'n' },
      key: { type: 'string' },
      kubeconfig: { type: 'string' },
      algorithm: { type: 'string', default: 'ES256' },
    },
  });
  if (positionals.length) throw new UsageError(`keys new: unexpected argument ${positionals[0]}`);
  const alg = values.algorithm;
  if (!(MINT_ALGORITHMS as readonly string[]).includes(alg))
    throw new UsageError(`keys new: --algorithm must be one of ${MINT_ALGORITHMS.join(', ')}`);
  if ((values.dir === undefined) === (values.secret === undefined))
    throw new UsageError('keys new: give exactly one of --dir and --secret');
  if (values.dir === undefined) {
    const secret = values.secret!;
    if (!DNS_NAME.test(secret)) throw new UsageError('keys new: --secret must be a Secret name');
    const key = values.key ?? 'signing-keys.json';
    if (!DATA_KEY.test(key)) throw new UsageError('keys new: --key must be a Secret data key');
    const jwk = newPrivateJwk(alg as MintAlgorithm);
    const { core, namespace } = await kubeClient(values.kubeconfig, values.namespace);
    const how = await addKeyToSecret(core, { namespace, name: secret, key }, jwk);
    process.stdout.write(`${String(jwk.kid)}\n`);
    process.stderr.write(`keys new: ${how} Secret ${namespace}/${secret} (data key ${key}): ${summary(jwk)}\n`);
    return EXIT.OK;
  }
  if (values.secret === undefined && (values.namespace || values.key || values.kubeconfig))
    throw new UsageError('keys new: --namespace, --key and --kubeconfig go with --secret');
  const jwk = newPrivateJwk(alg as MintAlgorithm);
  const file = writeKeyFile(values.dir, jwk);
  process.stdout.write(`${String(jwk.kid)}\n`);
  process.stderr.write(`keys new: wrote ${file} (mode 0600): ${summary(jwk)}\n`);
  return EXIT.OK;
}

function summary(jwk: PrivateJwk): string {
  return `kid ${String(jwk.kid)}, ${String(jwk.alg)}, created ${new Date(Number(jwk.created) * 1000).toISOString()}; published as soon as zt-authz reads it, signing publishLeadSeconds after its creation`;
}

/**
 * Add `jwk` to the JWK Set in data[key] of the Secret: read, add, replace with the
 * resourceVersion read (a concurrent writer makes the API answer 409: read again and retry), or
 * create the Secret when it does not exist.
 */
export async function addKeyToSecret(
  core: CoreV1Api,
  ref: { namespace: string; name: string; key: string },
  jwk: PrivateJwk,
  attempts = 5,
): Promise<'created' | 'updated'> {
  for (let i = 1; ; i++) {
    let current: { data?: Record<string, string>; metadata?: { resourceVersion?: string } } | undefined;
    try {
      current = await core.readNamespacedSecret({ namespace: ref.namespace, name: ref.name });
    } catch (err) {
      if (statusOf(err) !== 404) throw new Error(`cannot read Secret ${ref.namespace}/${ref.name}: ${apiReason(err)}`, { cause: err });
    }
    try {
      if (!current) {
        const value = Buffer.from(addToJwkSet(undefined, jwk)).toString('base64');
        await core.createNamespacedSecret({
          namespace: ref.namespace,
          body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: ref.name }, type: 'Opaque', data: { [ref.key]: value } },
        });
        return 'created';
      }
      const raw = current.data?.[ref.key];
      const text = raw === undefined ? undefined : Buffer.from(raw, 'base64').toString('utf8');
      const value = Buffer.from(addToJwkSet(text, jwk)).toString('base64');
      await core.replaceNamespacedSecret({
        namespace: ref.namespace,
        name: ref.name,
        body: { ...current, data: { ...current.data, [ref.key]: value } },
      });
      return 'updated';
    } catch (err) {
      // Someone else wrote (or created) the Secret between our read and write: start again from theirs.
      if (statusOf(err) === 409 && i < attempts) continue;
      if (statusOf(err) === undefined) throw err;
      throw new Error(`cannot write Secret ${ref.namespace}/${ref.name}: ${apiReason(err)}`, { cause: err });
    }
  }
}

function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** The API's status reason, never the body (it could echo the Secret). */
function apiReason(err: unknown): string {
  const code = statusOf(err);
  return code === undefined ? (err instanceof Error ? err.message : 'unknown error') : `HTTP ${code}`;
}

/** client-node is loaded only for --secret (importing it costs most of a second). */
async function kubeClient(kubeconfig: string | undefined, namespace: string | undefined): Promise<{ core: CoreV1Api; namespace: string }> {
  const { KubeConfig, CoreV1Api } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  if (kubeconfig) kc.loadFromFile(kubeconfig);
  else kc.loadFromDefault();
  const ns = namespace ?? process.env.POD_NAMESPACE ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
  return { core: kc.makeApiClient(CoreV1Api), namespace: ns };
}
