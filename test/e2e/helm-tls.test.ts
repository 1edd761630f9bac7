// charts/zt-authz `tls` values (real helm, as test/e2e/helm-chart.test.ts): the Secret is mounted as
// a whole directory (no subPath, so renewals reach the pod), server.tls points at the mounted
// files, mTLS adds the client CA, the admin port and probes stay plain HTTP, and the rendered
// configuration passes zt-authz's own validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { resolveConfig } from '../../src/config/resolve.js';
import { CHART, helm, helmSkip, one, render, valuesFile, type K8sObject } from '../helpers/helm.js';

const skip = helmSkip();

function parts(objs: K8sObject[]): { spec: K8sObject; container: K8sObject; config: ReturnType<typeof resolveConfig> } {
  const deployment = one(objs, 'Deployment');
  const spec = deployment.spec.template.spec;
  const container = (spec.containers as K8sObject[]).find((c) => c.name === 'zt-authz')!;
  const cmName = (spec.volumes as K8sObject[]).find((v) => v.name === 'config')!.configMap.name;
  const cm = one(objs, 'ConfigMap', cmName);
  return { spec, container, config: resolveConfig(parse(cm.data['config.yaml'] as string), 'chart ConfigMap') };
}

test('tls disabled (default): no TLS volumes, no server.tls', { skip }, () => {
  const { spec, config } = parts(render({}));
  assert.equal(config.server.tls, undefined);
  assert.ok(!(spec.volumes as K8sObject[]).some((v) => v.name === 'authz-tls'));
});

test('tls.enabled: Secret mounted as a directory, server.tls on the mounted files, probes stay on the plain admin port', { skip }, () => {
  const objs = render({ tls: { enabled: true, secretName: 'zt-authz-serving', reloadSeconds: 30 } });
  const { spec, container, config } = parts(objs);
  assert.deepEqual(config.server.tls, { certFile: '/etc/zt-authz-tls/tls.crt', keyFile: '/etc/zt-authz-tls/tls.key', reloadSeconds: 30 });
  const vol = (spec.volumes as K8sObject[]).find((v) => v.name === 'authz-tls')!;
  assert.equal(vol.secret.secretName, 'zt-authz-serving');
  assert.deepEqual(vol.secret.items.map((i: K8sObject) => i.path).sort(), ['tls.crt', 'tls.key']);
  const mount = (container.volumeMounts as K8sObject[]).find((m) => m.name === 'authz-tls')!;
  assert.equal(mount.mountPath, '/etc/zt-authz-tls');
  assert.equal(mount.readOnly, true);
  assert.equal(mount.subPath, undefined, 'a subPath mount never sees Secret updates');
  assert.ok(!(spec.volumes as K8sObject[]).some((v) => v.name === 'authz-client-ca'), 'no client CA without clientCa.enabled');
  assert.equal(container.readinessProbe.httpGet.port, 'admin');
  assert.equal(container.readinessProbe.httpGet.scheme ?? 'HTTP', 'HTTP');
});

test('tls.clientCa: the CA bundle from the same Secret by default, or another Secret and key', { skip }, () => {
  const same = parts(render({ tls: { enabled: true, secretName: 'serving', clientCa: { enabled: true } } }));
  assert.equal(same.config.server.tls?.clientCaFile, '/etc/zt-authz-client-ca/ca.crt');
  const ca = (same.spec.volumes as K8sObject[]).find((v) => v.name === 'authz-client-ca')!;
  assert.equal(ca.secret.secretName, 'serving');
  assert.deepEqual(ca.secret.items, [{ key: 'ca.crt', path: 'ca.crt' }]);
  assert.ok(
    (same.container.volumeMounts as K8sObject[]).some(
      (m) => m.name === 'authz-client-ca' && m.mountPath === '/etc/zt-authz-client-ca' && m.readOnly === true && m.subPath === undefined,
    ),
  );

  const other = parts(
    render({
      tls: { enabled: true, secretName: 'serving', clientCa: { enabled: true, secretName: 'envoy-client-ca', key: 'bundle.pem' } },
    }),
  );
  assert.equal(other.config.server.tls?.clientCaFile, '/etc/zt-authz-client-ca/bundle.pem');
  const v = (other.spec.volumes as K8sObject[]).find((x) => x.name === 'authz-client-ca')!;
  assert.equal(v.secret.secretName, 'envoy-client-ca');
  assert.deepEqual(v.secret.items, [{ key: 'bundle.pem', path: 'bundle.pem' }]);
});

test('tls values are checked: secretName required when enabled; server.tls is not settable through config', { skip }, () => {
  const noSecret = helm(['template', 'zt-authz', CHART, '-f', valuesFile({ tls: { enabled: true } })]);
  assert.notEqual(noSecret.status, 0);
  assert.match(noSecret.stderr, /tls\.secretName is required when tls\.enabled/);
  const viaConfig = helm([
    'template',
    'zt-authz',
    CHART,
    '-f',
    valuesFile({ config: { server: { tls: { certFile: '/x', keyFile: '/y' } } } }),
  ]);
  assert.notEqual(viaConfig.status, 0, 'values.schema.json rejects config.server.tls (the chart sets it)');
  const lint = helm(['lint', CHART, '-f', valuesFile({ tls: { enabled: true, secretName: 'serving', clientCa: { enabled: true } } })]);
  assert.equal(lint.status, 0, lint.stdout + lint.stderr);
});
