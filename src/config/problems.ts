// How configuration problems are reported: every problem found, each naming its field as a path
// like `issuers[0].jwksUri`, in one ConfigError (so `validate` lists them all at once).
import { ZtAuthzError, type ErrorCode } from '../errors.js';

export interface ConfigProblem {
  path: string;
  message: string;
}

export class ConfigError extends ZtAuthzError {
  static override code: ErrorCode = 'ERR_CONFIG_INVALID';

  constructor(
    readonly source: string,
    readonly problems: ConfigProblem[],
  ) {
    super(`invalid configuration (${source}):\n` + problems.map((p) => `  - ${p.path || '(root)'}: ${p.message}`).join('\n'));
  }
}

/** The same problem reported twice (ajv reports some per branch) is listed once. */
export function dedupeProblems(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const k = `${p.path}\0${p.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
