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
  const denyAll = denyEverything(config);
  if (denyAll) out.push({ path: 'policies', message: `${denyAll}: every request is denied (default deny)` });
  return out;
}

/**
 * Why no request can be allowed, or undefined. Precisely: with no Kubernetes policy source
 * (whose ZeroTrustPolicy resources could add ALLOW policies at run time), the configuration has
 * no policy that is ALLOW (the default action) and not dryRun (a dry-run policy never changes the
 * outcome). Observe mode still denies nothing, so it gets the warning too: enforcing it would.
 */
function denyEverything(config: Config): string | undefined {
  if (config.kubernetes.enabled) return undefined;
  const policies = config.policies;
  if (policies.length === 0) return 'no policies';
  const allow = policies.filter((p) => (p.action ?? 'ALLOW') === 'ALLOW');
  if (allow.length === 0) return 'no ALLOW policy';
  if (allow.every((p) => p.dryRun === true)) return 'every ALLOW policy is dryRun';
  return undefined;
}
