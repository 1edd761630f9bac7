// The `audit` section is hot-reloaded with the snapshot: a config reload changes sampling and the
// subject form from the next decision, without a restart (the chart does not roll pods for it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestApp } from '../../helpers/app.js';
import { TestIdp } from '../../helpers/idp.js';
import { authV3Client, check, checkRequest, closeAll } from '../../helpers/grpc-client.js';

test('audit: allowSampleRate and subject follow a config reload', async () => {
  const idp = await TestIdp.start({ audience: 'orders', subject: 'alice' });
  const t = await startTestApp({
    issuers: [{ issuer: idp.issuer, jwksUri: idp.jwksUri, audiences: ['orders'] }],
    policies: [{ name: 'any', rules: [{ from: [{ source: { requestPrincipals: ['*'] } }] }] }],
    audit: { allowSampleRate: 1, subject: 'plain' },
  });
  const client = authV3Client(t.grpcPort);
  try {
    const token = await idp.sign({});
    const send = async (id: string) => {
      const res = await check(client, checkRequest({ path: '/x', requestId: id, headers: { authorization: `Bearer ${token}` } }));
      assert.equal(res.status?.code ?? 0, 0);
    };
    const rec = (id: string) => t.audit().find((a) => a.request_id === id);
    await send('before');
    assert.equal(rec('before')?.subject, 'alice');

    assert.equal(t.app.reload({ ...t.config, audit: { ...t.config.audit, subject: 'hash' } }), true);
    await send('hashed');
    assert.equal(rec('hashed')?.subject, undefined, 'no plain subject after the reload');
    assert.match(String(rec('hashed')?.subject_hash), /^sha256:[0-9a-f]{32}$/);

    assert.equal(t.app.reload({ ...t.config, audit: { ...t.config.audit, allowSampleRate: 0 } }), true);
    for (let i = 0; i < 5; i++) await send(`sampled-${i}`);
    assert.equal(t.audit().filter((a) => String(a.request_id).startsWith('sampled-')).length, 0, 'allows sampled out at rate 0');
  } finally {
    closeAll(client);
    await t.stop();
    await idp.close();
  }
});
