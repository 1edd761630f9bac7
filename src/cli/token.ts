// `zt-authz token`: mints a token for trying the service, signed with the demo key for the demo
// issuer (recorded when the demo starts) or with a private JWK file for a given issuer.
import { readFileSync, existsSync } from 'node:fs';
import type { CryptoKey } from 'jose';
import { mintToken, keyFromJwkFile, parseClaimArgs } from '../demo/token.js';
import { DEMO_ALG, DEMO_AUDIENCE, loadOrCreateDemoKey, demoDir, demoIssuerFile } from '../demo/keys.js';
import { InvalidArgumentError } from '../errors.js';
import { EXIT, parseCommandArgs, type CliCommand } from './command.js';

export const TOKEN_COMMAND: CliCommand = {
  name: 'token',
  usage: `  zt-authz token [--sub S] [--scope "a b"] [--aud A] [--ttl SECONDS] [--claim k=v]...
                 [--key PRIVATE_JWK_FILE --iss ISSUER]
                                        mint a token (default: the demo key and issuer)
`,
  exitCodes: {
    [EXIT.OK]: 'the token is on stdout',
    [EXIT.USAGE]: 'bad or missing flag (--key without --iss, no demo issuer recorded)',
    [EXIT.RUNTIME]: 'the key file cannot be read or used',
  },
  run: token,
};

async function token(args: string[]): Promise<number> {
  const { values } = parseCommandArgs('token', {
    args,
    options: {
      sub: { type: 'string', default: 'demo-user' },
      scope: { type: 'string' },
      aud: { type: 'string', multiple: true },
      ttl: { type: 'string', default: '3600' },
      claim: { type: 'string', multiple: true, default: [] },
      key: { type: 'string' },
      iss: { type: 'string' },
      typ: { type: 'string' },
    },
  });
  const ttl = Number(values.ttl);
  if (!Number.isInteger(ttl))
    throw new InvalidArgumentError('--ttl must be an integer number of seconds (negative mints an expired token)');
  let signer: { key: CryptoKey; kid: string; alg: string };
  let issuer = values.iss;
  if (values.key) {
    if (!issuer) throw new InvalidArgumentError('--key needs --iss');
    signer = await keyFromJwkFile(values.key);
  } else {
    const demo = await loadOrCreateDemoKey();
    signer = { key: demo.privateKey, kid: demo.kid, alg: DEMO_ALG };
    if (!issuer) {
      const f = demoIssuerFile();
      if (!existsSync(f))
        throw new InvalidArgumentError(`no demo issuer recorded in ${demoDir()}: start the demo first (npm start) or pass --iss`);
      issuer = readFileSync(f, 'utf8').trim();
    }
  }
  const aud = values.aud ?? (values.key ? undefined : [DEMO_AUDIENCE]);
  const jwt = await mintToken({
    issuer,
    subject: values.sub,
    ...(aud ? { audience: aud.length === 1 ? aud[0]! : aud } : {}),
    ...(values.scope ? { scope: values.scope } : {}),
    ttlSeconds: ttl,
    claims: parseClaimArgs(values.claim ?? []),
    ...signer,
    ...(values.typ ? { typ: values.typ } : {}),
  });
  console.log(jwt);
  return EXIT.OK;
}
