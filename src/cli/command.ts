// What every `zt-authz` subcommand declares (usage text, what its exit codes mean, how it runs) and
// the one mapping from an outcome or a thrown error to an exit code, so scripts can tell "no"
// (deny, invalid config) from a usage mistake and from a runtime failure, whatever the command.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError } from '../config/problems.js';
import { InvalidArgumentError } from '../errors.js';
import { ManifestError } from '../migrate/crd.js';

/** The exit-code classes, the same for every command (docs/cli.md "Exit codes"). */
export const EXIT = {
  /** Allow / ok / success. */
  OK: 0,
  /** The command ran and the answer is "no": deny, invalid configuration, a failed case. */
  NO: 1,
  /** Unknown command, unknown flag, missing or malformed argument. */
  USAGE: 2,
  /** A file cannot be read, a server cannot be reached, an internal exception. */
  RUNTIME: 3,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export interface CliCommand {
  readonly name: string;
  /** Usage lines as the top-level help lists them (two-space indent, descriptions at column 41), ending in "\n". */
  readonly usage: string;
  /** What each exit code this command uses means for it (shown by `--help`). */
  readonly exitCodes: Partial<Record<ExitCode, string>>;
  /** Runs with the arguments after the command name; never sees `--help`/`-h` (main answers them). */
  readonly run: (args: string[]) => number | Promise<number>;
}

/** A usage mistake the command found itself (exit 2). */
export class UsageError extends InvalidArgumentError {}

/** node:util parseArgs (strict) whose errors become a UsageError naming the command. */
export function parseCommandArgs<T extends ParseArgsConfig>(command: string, config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (err) {
    if (isParseArgsError(err)) throw new UsageError(`${command}: ${err.message}`);
    throw err;
  }
}

/** node:util parseArgs rejects unknown options, missing values and stray positionals with these codes. */
function isParseArgsError(err: unknown): err is Error {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}

/** True when the arguments ask for help (before a `--`, which ends the options). */
export function wantsHelp(args: readonly string[]): boolean {
  for (const a of args) {
    if (a === '--') return false;
    if (a === '--help' || a === '-h') return true;
  }
  return false;
}

/** `zt-authz <command> --help`: the usage lines, then what each exit code means. */
export function commandHelp(cmd: CliCommand): string {
  const codes = Object.entries(cmd.exitCodes).map(([code, meaning]) => `  ${code}  ${meaning}\n`);
  return `Usage:\n${cmd.usage}${codes.length ? `\nExit codes:\n${codes.join('')}` : ''}`;
}

/** The exit code and the stderr message for an error a command threw. */
export function exitFor(err: unknown, command: string | undefined): { code: ExitCode; message: string } {
  const hint = command ? ` (run \`zt-authz ${command} --help\`)` : '';
  if (err instanceof InvalidArgumentError) return { code: EXIT.USAGE, message: `${err.message}${hint}` };
  if (isParseArgsError(err)) return { code: EXIT.USAGE, message: `${command ? `${command}: ` : ''}${err.message}${hint}` };
  // An unreadable file is the environment's failure, not the configuration's.
  if (err instanceof ConfigError && err.problems.every((p) => p.path === '(file)')) return { code: EXIT.RUNTIME, message: err.message };
  if (err instanceof ConfigError || err instanceof ManifestError) return { code: EXIT.NO, message: err.message };
  const message = err instanceof Error ? err.message : String(err);
  return { code: EXIT.RUNTIME, message: `error: ${command ? `${command}: ` : ''}${message}` };
}
