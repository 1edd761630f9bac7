// `zt-authz validate` on ZeroTrustPolicy manifests (what `kubectl apply` would get): the
// Kubernetes integration's validator, with field paths per resource, and exit codes for CI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';

const GOOD = `apiVersion: zt-authz.io/v1alpha1
kind: ZeroTrustPolicy
metadata: { name: orders-read, namespace: shop }
spec:
  selector: { matchLabels: { app: orders } }
  rules:
    - from: [{ source: { principals: ["cluster.local/ns/shop/sa/frontend"] } }]
      to: [{ operation: { methods: [GET], paths: ["/orders/{*}"] } }]
      when: [{ key: request.auth.roles, values: [reader] }]
---
apiVersion: zt-authz.io/v1alpha1
kind: ZeroTrustPolicy
metadata: { name: block-admin, namespace: mesh }
spec:
  action: DENY
  rules:
    - to: [{ operation: { paths: ["/admin/{**}"] } }]
`;

test('validate: ZeroTrustPolicy manifests are checked like the cluster would; errors name resource and field', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'zt-validate-'));
  const good = join(dir, 'good.yaml');
  writeFileSync(good, GOOD);
  let r = await runCli(['validate', good]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /OK \(2 ZeroTrustPolicy resources\)/);

  // With a base config: its settings apply; its own policies are not counted as resources.
  const base = join(dir, 'base.yaml');
  writeFileSync(
    base,
    'kubernetes: { rootNamespace: mesh }\npolicies:\n  - name: health\n    rules: [{ to: [{ operation: { paths: [/healthz] } }] }]\n',
  );
  r = await runCli(['validate', good, '--config', base]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /OK \(2 ZeroTrustPolicy resources\)/);

  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, GOOD.replace('/orders/{*}', '/orders/{*}x').replace('action: DENY', 'action: DENNY'));
  r = await runCli(['validate', bad]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /ZeroTrustPolicy shop\/orders-read: spec\.rules\[0\]\.to\[0\]\.operation\.paths\[0\]/);
  assert.match(r.stderr, /ZeroTrustPolicy mesh\/block-admin: spec\.action/);

  const noNs = join(dir, 'no-ns.yaml');
  writeFileSync(noNs, GOOD.replace('namespace: shop', 'labels: {}'));
  r = await runCli(['validate', noNs]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /metadata\.namespace must be set/);

  const other = join(dir, 'other.yaml');
  writeFileSync(other, 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x, namespace: y }\n');
  r = await runCli(['validate', other]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /expected apiVersion zt-authz\.io\/v1alpha1, kind ZeroTrustPolicy/);
});
