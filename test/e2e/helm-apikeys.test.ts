// The chart's RBAC for API keys in Secrets (apiKeys[].keysSecretSelector): Secrets are found by
// label, which RBAC cannot express, so the grant is get/list/watch on Secrets in each source's
// namespace only (a Role and RoleBinding of their own, never a ClusterRole), and nothing at all
// without such a source.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { helmSkip, ofKind, render, type K8sObject } from '../helpers/helm.js';

const secretRules = (objs: K8sObject[], kind: string): K8sObject[] =>
  ofKind(objs, kind).filter((r) => (r.rules as K8sObject[]).some((x) => (x.resources as string[]).includes('secrets')));

test('chart: API-key Secrets get a namespaced Role per source namespace, nothing cluster-wide', { skip: helmSkip() }, () => {
  const base = { kubernetes: { enabled: true } };
  let objs = render({ config: { ...base, apiKeys: [{ name: 'files', keysFile: '/etc/zt-authz/apikeys.yaml' }] } });
  assert.deepEqual(
    secretRules(objs, 'Role').length + secretRules(objs, 'ClusterRole').length,
    0,
    'no Secret access without keysSecretSelector',
  );

  objs = render({
    config: {
      ...base,
      apiKeys: [
        { name: 'partners', keysSecretSelector: { matchLabels: { 'zt-authz.io/api-keys': 'partners' } } },
        { name: 'others', keysSecretSelector: { matchLabels: { 'zt-authz.io/api-keys': 'others' }, namespace: 'keys' } },
        { name: 'more', keysSecretSelector: { matchLabels: { team: 'x' }, namespace: 'keys' } },
      ],
    },
  });
  assert.equal(secretRules(objs, 'ClusterRole').length, 0, 'never cluster-wide');
  const roles = secretRules(objs, 'Role').filter((r) => (r.metadata.name as string).endsWith('-apikey-secrets'));
  const release = ofKind(objs, 'Deployment')[0]!.metadata.namespace as string | undefined;
  assert.deepEqual(
    roles.map((r) => r.metadata.namespace as string).sort(),
    ['keys', release ?? 'default'].sort(),
    'one Role per namespace holding API-key Secrets',
  );
  for (const r of roles) assert.deepEqual(r.rules, [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch'] }]);
  const bindings = ofKind(objs, 'RoleBinding').filter((b) => (b.metadata.name as string).endsWith('-apikey-secrets'));
  assert.equal(bindings.length, 2);
  for (const b of bindings) assert.equal(b.roleRef.kind, 'Role');
});
