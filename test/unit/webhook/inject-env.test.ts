// webhook.inject.env (the chart's sidecar.extraEnv): variables of the injected container, e.g. a
// proxy for the JWKS fetches of sidecars in locked-down namespaces. They come after the webhook's
// own (POD_NAME, POD_NAMESPACE, POD_IP), which they may not redefine: Kubernetes would let the
// last entry win, silently changing the pod identity the sidecar reports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sidecarContainer } from '../../../src/webhook/inject.js';
import { checkConfig } from '../../../src/snapshot/checked-config.js';
import { ConfigError } from '../../../src/config/problems.js';

const base = { enabled: true, certFile: '/x/tls.crt', keyFile: '/x/tls.key' };
const inject = (env: unknown) => checkConfig({ webhook: { ...base, inject: { image: 'zt-authz:1', env } } }).config.webhook.inject;

test('the injected container gets the configured variables after its own; none by default', () => {
  const names = (c: ReturnType<typeof sidecarContainer>): string[] => (c.env ?? []).map((e) => e.name!);
  assert.deepEqual(names(sidecarContainer(checkConfig({ webhook: { ...base, inject: { image: 'zt-authz:1' } } }).config.webhook.inject)), [
    'POD_NAME',
    'POD_NAMESPACE',
    'POD_IP',
  ]);
  const c = sidecarContainer(
    inject([
      { name: 'HTTPS_PROXY', value: 'http://proxy.corp.example:3128' },
      { name: 'NODE_USE_ENV_PROXY', value: '1' },
    ]),
  );
  assert.deepEqual(names(c), ['POD_NAME', 'POD_NAMESPACE', 'POD_IP', 'HTTPS_PROXY', 'NODE_USE_ENV_PROXY']);
  assert.deepEqual(c.env!.slice(3), [
    { name: 'HTTPS_PROXY', value: 'http://proxy.corp.example:3128' },
    { name: 'NODE_USE_ENV_PROXY', value: '1' },
  ]);
});

test("refused: redefining the webhook's own variables, a name listed twice, a valueFrom, a bad name", () => {
  const problems = (env: unknown): string[] => {
    try {
      inject(env);
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      return err.problems.map((p) => `${p.path}: ${p.message}`);
    }
    return [];
  };
  assert.deepEqual(problems([{ name: 'POD_IP', value: '1.2.3.4' }]), ['webhook.inject.env[0].name: POD_IP is set by the webhook']);
  assert.deepEqual(
    problems([
      { name: 'NO_PROXY', value: '.svc' },
      { name: 'NO_PROXY', value: '.local' },
    ]),
    ['webhook.inject.env[1].name: NO_PROXY is listed twice'],
  );
  assert.ok(problems([{ name: 'X', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }]).length > 0, 'valueFrom is not accepted');
  assert.ok(problems([{ name: '1BAD', value: 'x' }]).length > 0);
  assert.deepEqual(problems([{ name: 'HTTPS_PROXY', value: 'http://p:3128' }]), []);
});
