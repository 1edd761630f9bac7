// Settings that are valid but weaken a check on purpose; `validate` prints them and the service
// logs them at start-up and on every reload, so the choice stays visible.
import type { ConfigProblem } from './problems.js';
import type { Config } from './types.js';

export function configWarnings(config: Config): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  config.issuers.forEach((iss, i) => {
    if (iss.anyAudience) {
      out.push({
        path: `issuers[${i}].anyAudience`,
        message: `tokens of ${iss.issuer} minted for any service (any aud) are accepted; list this service's audiences instead`,
      });
    }
  });
  return out;
}
