// The Keycloak tier: one real Keycloak (scripts/keycloak-testenv.sh, realm
// scripts/keycloak/zt-test-realm.json) for all its suites, started once because a start costs about
// 30 s of both cores. The suites run in this order: the token suite reads the realm as imported;
// the rotation suite changes the realm's signing keys.
//
// Without Java 21+ or Maven, or when the download fails, the tier is skipped with a message;
// under CI=true that fails instead (startKeycloak throws).
import { after, it } from 'node:test';
import { startKeycloak } from './helpers/keycloak.js';
import { tokensSuite } from './keycloak-tokens.js';
import { rotationSuite } from './keycloak-rotation.js';

const started = await startKeycloak();
const skip = 'skip' in started ? started.skip : false;
const kc = 'skip' in started ? undefined! : started;
after(() => kc?.stop());

if (skip) {
  console.error(`\n${'!'.repeat(100)}\n!! ${skip}\n${'!'.repeat(100)}\n`);
  // A skipped describe is not counted in node's summary; this is, so a run without Keycloak says so.
  it('Keycloak tier', { skip }, () => {});
} else {
  console.log(`# Keycloak ${kc.version} up with realm zt-test in ${kc.startSeconds.toFixed(1)} s`);
}

tokensSuite(kc, skip);
rotationSuite(kc, skip);
