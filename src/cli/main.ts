#!/usr/bin/env node
// zt-authz command line: the table of commands and the dispatch. Each command's CliCommand
// (command.ts says what it declares) sits next to its code; serve's and demo's are here. Also the
// help for each and the one mapping from errors to exit codes.
import { checkConfigFile } from '../snapshot/checked-config.js';
import { App } from '../app.js';
import { createLogger } from '../observe/log.js';
import { runUntilSignal } from './lifecycle.js';
import { CHECK_COMMAND } from './check.js';
import { SEND_COMMAND } from './send.js';
import { TOKEN_COMMAND } from './token.js';
import { runDemo } from './demo.js';
import { POLICY_COMMAND } from './policy.js';
import { REVOKE_COMMAND } from './revoke.js';
import { APIKEY_COMMAND } from './apikey.js';
import { KEYS_COMMAND } from './keys.js';
import { VALIDATE_COMMAND } from './validate.js';
import { EXIT, UsageError, commandHelp, exitFor, parseCommandArgs, wantsHelp, type CliCommand } from './command.js';
import { serveWorkers } from './workers.js';
import { availableParallelism } from 'node:os';
import { VERSION } from '../version.js';
import { tuneHeap } from './heap.js';
import { TEST_COMMAND } from './policy-test/command.js';

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

const DEMO_COMMAND: CliCommand = {
  name: 'demo',
  usage: `  zt-authz demo [--grpc H:P] [--http H:P] [--admin H:P]
                                        run on the built-in demo config (npm start)
`,
  exitCodes: { [EXIT.OK]: 'stopped by a signal', [EXIT.USAGE]: 'unknown flag', [EXIT.RUNTIME]: 'a listener cannot be opened' },
  run: runDemo,
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
