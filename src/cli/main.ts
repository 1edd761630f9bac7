#!/usr/bin/env node
// zt-authz command line: serve | validate | demo | token | send.
import { parseArgs } from 'node:util';
import { ConfigError } from '../config/problems.js';
import { configWarnings } from '../config/warnings.js';
import { checkConfigFile, checkTlsFiles } from '../snapshot/checked-config.js';
import { App } from '../app.js';
import { send } from './send.js';
import { runUntilSignal } from './lifecycle.js';
import { runCheck } from './check.js';
import { runDemo } from './demo.js';
import { runPolicy, POLICY_USAGE } from './policy.js';
import { runRevoke, REVOKE_USAGE } from './revoke.js';
import { runApiKey, APIKEY_USAGE } from './apikey.js';
import { ManifestError } from '../migrate/crd.js';
import { serveWorkers } from './workers.js';
import { availableParallelism } from 'node:os';
import { mintToken, keyFromJwkFile, parseClaimArgs } from '../demo/token.js';
import { DEMO_ALG, DEMO_AUDIENCE, loadOrCreateDemoKey, demoDir, demoIssuerFile } from '../demo/keys.js';
import { readFileSync, existsSync } from 'node:fs';
import { VERSION } from '../version.js';
import { tuneHeap } from './heap.js';
import { InvalidArgumentError } from '../errors.js';
import type { CryptoKey } from 'jose';

const USAGE = `zt-authz ${VERSION} — zero-trust Envoy ext_authz service

Usage:
  zt-authz serve [--config FILE] [--workers N|auto]
                                        run the service (config also from $ZT_AUTHZ_CONFIG);
                                        --workers: N processes sharing the listeners
  zt-authz validate FILE                check a config file (schema + policies), or a file of ZeroTrustPolicy
                                        manifests [--config BASE] [--root-namespace NS]; exit 1 on errors
  zt-authz check --config FILE --request REQ.(json|yaml) [--token T] [--json]
                                        one offline decision with a trace of every policy
  zt-authz demo [--grpc H:P] [--http H:P] [--admin H:P]
                                        run on the built-in demo config (npm start)
  zt-authz token [--sub S] [--scope "a b"] [--aud A] [--ttl SECONDS] [--claim k=v]...
                 [--key PRIVATE_JWK_FILE --iss ISSUER]
                                        mint a token (default: the demo key and issuer)
  zt-authz send [--addr H:P] [--token T] [--method M] [--path P] [--host H]
                [--header "k: v"]... [--principal spiffe://...] [--v2] [--json]
                                        send one ext_authz Check over gRPC and print the decision
${APIKEY_USAGE}${REVOKE_USAGE}${POLICY_USAGE}`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'serve':
      return serve(rest);
    case 'validate':
      return await validate(rest);
    case 'demo':
      return runDemo(rest);
    case 'token':
      return token(rest);
    case 'send':
      return sendCmd(rest);
    case 'check':
      return checkCmd(rest);
    case 'policy':
      return runPolicy(rest);
    case 'revoke':
      return runRevoke(rest);
    case 'apikey':
      return runApiKey(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return cmd === undefined ? 2 : 0;
    case '--version':
      console.log(VERSION);
      return 0;
    default:
      process.stderr.write(`unknown command "${cmd}"\n\n${USAGE}`);
      return 2;
  }
}

async function serve(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, workers: { type: 'string' } } });
  const file = values.config ?? process.env.ZT_AUTHZ_CONFIG;
  if (!file) {
    console.error('serve: no config (use --config FILE or ZT_AUTHZ_CONFIG); `zt-authz demo` runs the built-in demo');
    return 2;
  }
  const workers = values.workers === 'auto' ? availableParallelism() : Number(values.workers ?? 1);
  if (!Number.isInteger(workers) || workers < 1) {
    console.error('serve: --workers takes a positive integer or "auto" (one per CPU)');
    return 2;
  }
  tuneHeap();
  if (workers > 1) return serveWorkers(file, workers);
  // The policies checkConfigFile compiled are the first snapshot's: compiled once at start.
  const { config, policies } = checkConfigFile(file);
  const app = await App.start({ config, policies });
  return runUntilSignal(app);
}

async function validate(args: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args,
    allowPositionals: true,
    options: { config: { type: 'string', short: 'c' }, 'root-namespace': { type: 'string' } },
  });
  const file = positionals[0] ?? values.config ?? process.env.ZT_AUTHZ_CONFIG;
  if (!file) {
    console.error('validate: give a config file or a file of ZeroTrustPolicy manifests');
    return 2;
  }
  try {
    // ZeroTrustPolicy manifests (what `kubectl apply` would get): checked by the same validator the
    // Kubernetes integration uses, on the --config file's settings (roles claim, root namespace) if given.
    const crd = await import('../migrate/crd.js');
    let text: string | undefined;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      text = undefined; // loadConfigFile reports the unreadable file
    }
    if (text !== undefined && crd.looksLikeManifests(text)) {
      const base = positionals[0] !== undefined ? values.config : undefined;
      const before = base ? checkConfigFile(base).config.policies.length : 0;
      const config = crd.loadCandidate(base, [file], values['root-namespace']);
      const n = config.policies.length - before;
      console.log(`${file}: OK (${n} ZeroTrustPolicy resource${n === 1 ? '' : 's'})`);
      return 0;
    }
    const { config, policies } = checkConfigFile(file);
    checkTlsFiles(config, file); // server.tls files as `serve` loads them
    for (const w of configWarnings(config)) console.error(`${file}: warning: ${w.path}: ${w.message}`);
    console.log(`${file}: OK (${config.issuers.length} issuer(s), ${policies.size} polic${policies.size === 1 ? 'y' : 'ies'})`);
    return 0;
  } catch (err) {
    if (err instanceof ConfigError || err instanceof ManifestError) {
      console.error(err.message);
      return 1;
    }
    throw err;
  }
}

async function token(args: string[]): Promise<number> {
  const { values } = parseArgs({
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
  return 0;
}

async function checkCmd(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      request: { type: 'string', short: 'r' },
      token: { type: 'string' },
      json: { type: 'boolean', default: false },
      wait: { type: 'string', default: '5000' },
    },
  });
  const config = values.config ?? process.env.ZT_AUTHZ_CONFIG;
  if (!config || !values.request) {
    console.error('check: needs --config FILE and --request FILE');
    return 2;
  }
  try {
    return await runCheck({
      config,
      request: values.request,
      json: values.json,
      waitMs: Number(values.wait),
      ...(values.token ? { token: values.token } : {}),
    });
  } catch (err) {
    // A script must be able to tell "this config denies" (1) from "this config is not valid" (3):
    // both used to exit 1.
    if (!(err instanceof ConfigError)) throw err;
    console.error(err.message);
    return CHECK_INVALID_CONFIG;
  }
}

/** `zt-authz check` exit codes: 0 allow, 1 deny, 2 usage or request-file error, 3 invalid configuration. */
const CHECK_INVALID_CONFIG = 3;

async function sendCmd(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      addr: { type: 'string', default: '127.0.0.1:9191' },
      token: { type: 'string' },
      method: { type: 'string', default: 'GET' },
      path: { type: 'string', default: '/' },
      host: { type: 'string', default: 'orders.demo.svc' },
      header: { type: 'string', multiple: true, default: [] },
      principal: { type: 'string' },
      v2: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      timeout: { type: 'string', default: '5000' },
    },
  });
  return send({
    addr: values.addr,
    method: values.method,
    path: values.path,
    host: values.host,
    headers: values.header ?? [],
    v2: values.v2,
    json: values.json,
    timeoutMs: Number(values.timeout),
    ...(values.token ? { token: values.token } : {}),
    ...(values.principal ? { principal: values.principal } : {}),
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Listeners are closed by now; let pino flush, then leave even if a client socket lingers.
    setTimeout(() => process.exit(code), 200).unref();
  },
  (err) => {
    console.error(err instanceof ConfigError ? err.message : `error: ${(err as Error).message}`);
    process.exit(err instanceof ConfigError ? 1 : 2);
  },
);
