// `serve` checks the configuration (checkConfigFile compiles every policy to report problems) and
// hands the compiled policies to the App, whose first snapshot uses them as they are: compiling
// 10,000 policies takes a noticeable part of start-up, so it happens once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { App } from '../../../src/app.js';
import { checkConfig } from '../../../src/snapshot/checked-config.js';
import { createAuditLogger, createLogger } from '../../../src/observe/log.js';
import { captureStream } from '../../helpers/app.js';

const raw = {
  server: { grpc: '127.0.0.1:0', http: '127.0.0.1:0', admin: '127.0.0.1:0', drainSeconds: 1 },
  policies: Array.from({ length: 50 }, (_, i) => ({
    name: `p${i}`,
    action: 'ALLOW',
    rules: [{ to: [{ operation: { paths: [`/api/${i}/*`] } }] }],
  })),
};

async function start(withPolicies: boolean): Promise<{ app: App; compiled: ReturnType<typeof checkConfig>['policies'] }> {
  const { config, policies } = checkConfig(raw, 'test');
  const dest = captureStream([]);
  const app = await App.start({
    config,
    ...(withPolicies ? { policies } : {}),
    logger: createLogger('warn', dest),
    auditLogger: createAuditLogger(dest),
  });
  return { app, compiled: policies };
}

test('start-up: the first snapshot holds the policies the configuration check compiled (not compiled again)', async () => {
  const { app, compiled } = await start(true);
  try {
    assert.equal(app.currentSnapshot.policies, compiled, 'the very index checkConfig compiled');
    assert.equal(app.currentSnapshot.policies.size, 50);
  } finally {
    await app.shutdown();
  }
});

test('start-up without precompiled policies compiles them (embedding code, tests)', async () => {
  const { app, compiled } = await start(false);
  try {
    assert.notEqual(app.currentSnapshot.policies, compiled);
    assert.equal(app.currentSnapshot.policies.size, 50);
  } finally {
    await app.shutdown();
  }
});

test('a reload of the same configuration compiles afresh (the start-up copy is used once)', async () => {
  const { app, compiled } = await start(true);
  try {
    assert.equal(app.reload(app.currentSnapshot.config), true);
    assert.notEqual(app.currentSnapshot.policies, compiled);
    assert.equal(app.currentSnapshot.policies.size, 50);
  } finally {
    await app.shutdown();
  }
});
