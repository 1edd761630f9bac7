// A served process speaks JSON lines only: grpc-js's own log lines (a port conflict makes the
// grpc-js server log "No address added…") go through pino, and a listener that cannot be opened
// ends `serve` with a fatal JSON line and exit 3, not plain text next to the JSON log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';

for (const impl of ['grpc-js', 'node-http2'] as const) {
  test(`serve (${impl}) on a port already in use: every stdout and stderr line is JSON, exit 3`, async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    try {
      const port = (blocker.address() as AddressInfo).port;
      const dir = mkdtempSync(join(tmpdir(), 'zt-grpc-log-'));
      const config = join(dir, 'config.yaml');
      writeFileSync(
        config,
        `server: { grpc: "127.0.0.1:${port}", http: "127.0.0.1:0", admin: "127.0.0.1:0", grpcImplementation: ${impl} }\nissuers: []\npolicies: []\n`,
      );
      const env = { ...process.env };
      delete env.GRPC_VERBOSITY;
      delete env.GRPC_NODE_VERBOSITY;
      const r = await runCli(['serve', '--config', config], { env });
      assert.equal(r.code, 3, r.stdout + r.stderr);
      const lines = [...r.stdout.split('\n'), ...r.stderr.split('\n')].filter((l) => l.trim() !== '');
      const parsed = lines.map((l) => {
        try {
          return JSON.parse(l) as Record<string, unknown>;
        } catch {
          assert.fail(`not a JSON line: ${l}`);
        }
      });
      const fatal = parsed.find((p) => p.level === 'fatal');
      assert.ok(fatal, lines.join('\n'));
      assert.equal(fatal.logger, 'ops');
      assert.match(JSON.stringify(fatal.err), /EADDRINUSE|No address added/);
      if (impl === 'grpc-js') {
        const own = parsed.find((p) => p.component === 'grpc-js');
        assert.ok(own, `grpc-js's own line is routed: ${lines.join('\n')}`);
        assert.equal(own.level, 'error');
        assert.match(String(own.msg), /No address added/);
      }
    } finally {
      blocker.close();
    }
  });
}
