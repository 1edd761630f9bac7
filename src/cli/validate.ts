// `zt-authz validate FILE`: a config file (schema, issuers, policies: checked-config.ts, what
// `serve` runs at start) or a file of ZeroTrustPolicy manifests (the Kubernetes integration's
// validator). Exit 0 valid, 1 invalid, 2 usage, 3 the file cannot be read. The server.tls files
// are read too (serve refuses to start without them) unless --skip-tls-files says they are not here.
import { readFileSync } from 'node:fs';
import { configWarnings } from '../config/warnings.js';
import { ConfigError } from '../config/problems.js';
import type { Config } from '../config/types.js';
import { checkConfigFile, checkTlsFiles } from '../snapshot/checked-config.js';
import { EXIT, UsageError, parseCommandArgs, type CliCommand } from './command.js';

export const VALIDATE_COMMAND: CliCommand = {
  name: 'validate',
  usage: `  zt-authz validate FILE                check a config file (schema + policies), or a file of ZeroTrustPolicy
                                        manifests [--config BASE] [--root-namespace NS]; exit 1 on errors;
                                        --skip-tls-files: do not read the server.tls files (not mounted here)
`,
  exitCodes: {
    [EXIT.OK]: 'valid (warnings, if any, on stderr)',
    [EXIT.NO]: 'invalid: every problem listed on stderr',
    [EXIT.USAGE]: 'no file given, unknown flag',
    [EXIT.RUNTIME]: 'the file cannot be read',
  },
  run: validate,
};

async function validate(args: string[]): Promise<number> {
  const { positionals, values } = parseCommandArgs('validate', {
    args,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      'root-namespace': { type: 'string' },
      'skip-tls-files': { type: 'boolean', default: false },
    },
  });
  const file = positionals[0] ?? values.config ?? process.env.ZT_AUTHZ_CONFIG;
  if (!file) throw new UsageError('validate: give a config file or a file of ZeroTrustPolicy manifests');
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
    return EXIT.OK;
  }
  const { config, policies } = checkConfigFile(file);
  const tlsSkipped = values['skip-tls-files'] && config.server.tls !== undefined;
  if (!tlsSkipped) checkTlsFilesAsServeWould(config, file);
  for (const w of configWarnings(config)) console.error(`${file}: warning: ${w.path}: ${w.message}`);
  console.log(
    `${file}: OK (${config.issuers.length} issuer(s), ${policies.size} polic${policies.size === 1 ? 'y' : 'ies'}${tlsSkipped ? '; server.tls files not read' : ''})`,
  );
  return EXIT.OK;
}

/**
 * The server.tls files read as `serve` reads them at start. Still an error when they are absent
 * (serve would refuse to start), but validation often runs where the Secret holding them is not
 * mounted (CI, chart rendering): the message says how to validate the rest there.
 */
function checkTlsFilesAsServeWould(config: Config, file: string): void {
  try {
    checkTlsFiles(config, file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    throw new ConfigError(file, [
      ...err.problems,
      {
        path: 'server.tls',
        message: 'serve reads these files at start; where they are not mounted (CI, chart rendering), run validate --skip-tls-files',
      },
    ]);
  }
}
