#!/usr/bin/env node
// zt-authz command line: one CliCommand per subcommand (command.ts says what each declares), the
// help for each and the one mapping from errors to exit codes.
import { ConfigError } from '../config/problems.js';
import { checkConfigFile } from '../snapshot/checked-config.js';
import { App } from '../app.js';
import { createLogger } from '../observe/log.js';
import { send } from './send.js';
import { runUntilSignal } from './lifecycle.js';
import { runCheck } from './check.js';
import { runDemo } from './demo.js';
import { POLICY_COMMAND } from './policy.js';
import { REVOKE_COMMAND } from './revoke.js';
import { APIKEY_COMMAND } from './apikey.js';
import { KEYS_COMMAND } from './keys.js';
import { VALIDATE_COMMAND } from './validate.js';
import { EXIT, UsageError, commandHelp, exitFor, parseCommandArgs, wantsHelp, type CliCommand } from './command.js';
import { serveWorkers } from './workers.js';
import { availableParallelism } from 'node:os';
import { mintToken, keyFromJwkFile, parseClaimArgs } from '../demo/token.js';
import { DEMO_ALG, DEMO_AUDIENCE, loadOrCreateDemoKey, demoDir, demoIssuerFile } from '../demo/keys.js';
import { readFileSync, existsSync } from 'node:fs';
import { VERSION } from '../version.js';
import { tuneHeap } from './heap.js';
import { TEST_COMMAND } from './policy-test/command.js';
import { InvalidArgumentError } from '../errors.js';
import type { CryptoKey } from 'jose';

const HEADER = `zt-authz ${VERSION} — zero-trust Envoy ext_authz service

Usage:
`;

const SERVE_COMMAND: CliCommand = {
  name: 'serve',
  usage: `  zt-authz serve [--config FILE] [--workers N|auto]
                                        run the service (config also from $ZT_AUTHZ_CONFIG);
                                        --workers: N processes sharing the listeners
`,
  exitCodes: {
    [EXIT.OK]: 'stopped by a signal after draining',
    [EXIT.NO]: 'the configuration is invalid (what validate reports)',
    [EXIT.USAGE]: 'no config given, unknown flag, bad --workers',
    [EXIT.RUNTIME]: 'a file cannot be read, a listener cannot be opened, an internal error',
  },
  run: serve,
};

const CHECK_COMMAND: CliCommand = {
  name: 'check',
  usage: `  zt-authz check --config FILE --request REQ.(json|yaml) [--token T] [--json]
                                        one offline decision with a trace of every policy
`,
  exitCodes: {
    [EXIT.OK]: 'allow',
    [EXIT.NO]: 'deny',
    [EXIT.USAGE]: 'missing --config/--request, unknown flag, a malformed request file',
    [EXIT.RUNTIME]: 'no decision: the configuration is invalid, a file cannot be read, an internal error',
  },
  run: checkCmd,
};

const DEMO_COMMAND: CliCommand = {
  name: 'demo',
  usage: `  zt-authz demo [--grpc H:P] [--http H:P] [--admin H:P]
                                        run on the built-in demo config (npm start)
`,
  exitCodes: { [EXIT.OK]: 'stopped by a signal', [EXIT.USAGE]: 'unknown flag', [EXIT.RUNTIME]: 'a listener cannot be opened' },
  run: runDemo,
};

const TOKEN_COMMAND: CliCommand = {
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

const SEND_COMMAND: CliCommand = {
  name: 'send',
  usage: `  zt-authz send [--addr H:P] [--token T] [--method M] [--path P] [--host H]
                [--header "k: v"]... [--principal spiffe://...] [--v2] [--json]
                                        send one ext_authz Check over gRPC and print the decision
`,
  exitCodes: {
    [EXIT.OK]: 'allow',
    [EXIT.NO]: 'deny',
    [EXIT.USAGE]: 'unknown flag',
    [EXIT.RUNTIME]: 'no answer: the server cannot be reached, the call failed or timed out',
  },
  run: sendCmd,
};

/** Every command, in the order the top-level usage lists them. Another command: one entry here. */
const COMMANDS: readonly CliCommand[] = [
  SERVE_COMMAND,
  VALIDATE_COMMAND,
  CHECK_COMMAND,
  DEMO_COMMAND,
  TOKEN_COMMAND,
  SEND_COMMAND,
  APIKEY_COMMAND,
  REVOKE_COMMAND,
  POLICY_COMMAND,
  TEST_COMMAND,
  KEYS_COMMAND,
];

const USAGE = `${HEADER}${COMMANDS.map((c) => c.usage).join('')}
Run \`zt-authz COMMAND --help\` for a command's usage and exit codes: 0 allow/ok, 1 deny/invalid,
2 usage error, 3 runtime error.
`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stderr.write(USAGE);
    return EXIT.USAGE;
  }
  if (name === '--version') {
    console.log(VERSION);
    return EXIT.OK;
  }
  if (name === 'help' || name === '--help' || name === '-h') {
    const topic = name === 'help' ? rest[0] : undefined;
    if (topic === undefined) {
      process.stdout.write(USAGE);
      return EXIT.OK;
    }
    const cmd = COMMANDS.find((c) => c.name === topic);
    if (!cmd) return unknownCommand(topic);
    process.stdout.write(commandHelp(cmd));
    return EXIT.OK;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) return unknownCommand(name);
  if (wantsHelp(rest)) {
    process.stdout.write(commandHelp(cmd));
    return EXIT.OK;
  }
  try {
    return await cmd.run(rest);
  } catch (err) {
    const { code, message } = exitFor(err, cmd.name);
    console.error(message);
    return code;
  }
}

function unknownCommand(name: string): number {
  process.stderr.write(`unknown command "${name}" (commands: ${COMMANDS.map((c) => c.name).join(', ')}; run \`zt-authz --help\`)\n`);
  return EXIT.USAGE;
}

async function serve(args: string[]): Promise<number> {
  const { values } = parseCommandArgs('serve', {
    args,
    options: { config: { type: 'string', short: 'c' }, workers: { type: 'string' } },
  });
  const file = values.config ?? process.env.ZT_AUTHZ_CONFIG;
  if (!file) throw new UsageError('serve: no config (use --config FILE or ZT_AUTHZ_CONFIG); `zt-authz demo` runs the built-in demo');
  const workers = values.workers === 'auto' ? availableParallelism() : Number(values.workers ?? 1);
  if (!Number.isInteger(workers) || workers < 1) throw new UsageError('serve: --workers takes a positive integer or "auto" (one per CPU)');
  tuneHeap();
  if (workers > 1) return serveWorkers(file, workers);
  // The policies checkConfigFile compiled are the first snapshot's: compiled once at start.
  const { config, policies } = checkConfigFile(file);
  let app: App;
  try {
    app = await App.start({ config, policies });
  } catch (err) {
    // From here on the process speaks JSON lines (log pipelines are reading): a listener that
    // cannot be opened is a fatal log line, not plain text (grpc-js's own line is routed too).
    createLogger(config.log.level).fatal({ err }, 'cannot start');
    return EXIT.RUNTIME;
  }
  return runUntilSignal(app);
}

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
  return 0;
}

async function checkCmd(args: string[]): Promise<number> {
  const { values } = parseCommandArgs('check', {
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
  if (!config || !values.request) throw new UsageError('check: needs --config FILE and --request FILE');
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
    // no decision was made, as when a file cannot be read.
    if (!(err instanceof ConfigError)) throw err;
    console.error(err.message);
    return EXIT.RUNTIME;
  }
}

async function sendCmd(args: string[]): Promise<number> {
  const { values } = parseCommandArgs('send', {
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
    // main maps a command's errors; this is a failure of main itself.
    const { code, message } = exitFor(err, undefined);
    console.error(message);
    process.exit(code);
  },
);
