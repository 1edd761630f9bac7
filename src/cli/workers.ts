// `zt-authz serve --workers N`: N copies of the service behind the same listeners (node:cluster).
//
// Why: one Node process saturates one core on the Check path (grpc-js framing,
// protobuf, decide, metrics, audit all run on the main thread) while the machine's other cores
// stay idle. The cluster primary owns the listening sockets and hands each new connection to the
// next worker (round-robin); Envoy keeps long-lived HTTP/2 connections (one or more per Envoy
// worker thread), so load spreads per connection.
//
// The primary runs no request path. It:
//  - validates the configuration before forking (a bad config exits 1, like `serve`);
//  - serves the admin port: /metrics aggregated over the workers (prom-client
//    AggregatorRegistry: counters and histograms summed), /healthz, and /readyz (200 only when
//    every worker is ready);
//  - restarts a worker that dies unexpectedly (after a short back-off), but exits 1 when a
//    worker fails before any worker was ever ready (a start-up error such as a port in use);
//  - on SIGTERM/SIGINT asks every worker to drain (health NOT_SERVING, in-flight Checks
//    finish, as in single-process mode) and exits when they have; a second signal makes the
//    workers exit at once.
// Each worker is a complete App (own JWKS managers, token cache, metrics, audit log on stdout)
// whose own admin listener is moved to an unused loopback port.
import cluster, { type Worker } from 'node:cluster';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AggregatorRegistry } from 'prom-client';
import type { Config } from '../config/types.js';
import { checkConfigFile } from '../snapshot/checked-config.js';
import { App } from '../app.js';
import { createLogger } from '../observe/log.js';
import { send, startAdminServer } from '../transport/admin/server.js';
import { installCrashGuards } from './lifecycle.js';

const MSG_READY = 'zt-authz:ready';
const MSG_SHUTDOWN = 'zt-authz:shutdown';

interface ReadyMessage {
  type: typeof MSG_READY;
  ready: boolean;
}

export function isClusterWorker(): boolean {
  return cluster.isWorker;
}

/** Entry for `serve --workers N`: the primary forks, a worker runs the App. */
export function serveWorkers(file: string, workers: number): Promise<number> {
  return cluster.isWorker ? runWorker(file) : runPrimary(file, workers);
}

// ------------------------------------------------------------------------------------- primary

async function runPrimary(file: string, count: number): Promise<number> {
  const { config } = checkConfigFile(file); // fail fast: ConfigError is reported by main
  const logger = createLogger(config.log.level);
  const registry = new AggregatorRegistry<'text/plain; version=0.0.4; charset=utf-8'>();
  const ready = new Map<number, boolean>();
  let stopping = false;
  let restarts = 0;
  let everReady = false;
  let failStartup: (code: number) => void = () => undefined;

  const fork = (index: number): Worker => {
    const w = cluster.fork({ ZT_AUTHZ_WORKER_INDEX: String(index) });
    ready.set(w.id, false);
    w.on('message', (m: unknown) => {
      if (!isReadyMessage(m)) return;
      ready.set(w.id, m.ready);
      if (m.ready) everReady = true;
    });
    w.on('exit', (code, signal) => {
      ready.delete(w.id);
      if (stopping) return;
      if (!everReady) {
        // No worker has ever been ready: a start-up failure (listen error, unreadable file),
        // not a crash to ride out. Fail like single-process `serve` would.
        logger.error({ worker: index, pid: w.process.pid, code, signal }, 'worker failed to start; stopping');
        failStartup(1);
        return;
      }
      restarts++;
      const delay = Math.min(30_000, 500 * 2 ** Math.min(restarts, 6));
      logger.error({ worker: index, pid: w.process.pid, code, signal, restartInMs: delay }, 'worker exited unexpectedly; restarting');
      setTimeout(() => {
        if (!stopping) fork(index);
      }, delay).unref();
    });
    return w;
  };

  const allReady = (): boolean => !stopping && ready.size === count && [...ready.values()].every(Boolean);
  const admin = await startAdminServer(config.server.admin, registry, allReady, {
    '/metrics': (_req: IncomingMessage, res: ServerResponse) => {
      registry.clusterMetrics().then(
        (body) => send(res, 200, registry.contentType, body),
        () => send(res, 500, 'text/plain', 'metrics unavailable\n'),
      );
    },
  });
  for (let i = 0; i < count; i++) fork(i);
  logger.info({ workers: count, admin: admin.port, pid: process.pid }, 'zt-authz primary started');

  return new Promise<number>((resolve) => {
    failStartup = (code) => {
      if (stopping) return;
      stopping = true;
      for (const w of Object.values(cluster.workers ?? {})) if (w && !w.isDead()) w.process.kill('SIGKILL');
      void admin.close().then(() => resolve(code));
    };
    const onSignal = (sig: NodeJS.Signals): void => {
      const live = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
      if (stopping) {
        logger.warn({ signal: sig }, 'second signal: exiting without drain');
        for (const w of live) if (!w.isDead()) w.process.kill('SIGKILL');
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal: sig, workers: live.length }, 'shutting down: workers drain in-flight Checks');
      let failed = false;
      let remaining = live.length;
      const finish = (): void => {
        clearTimeout(force);
        void admin.close().then(() => resolve(failed ? 1 : 0));
      };
      // Workers drain within server.drainSeconds; anything left after that plus a margin is killed.
      const force = setTimeout(
        () => {
          for (const w of live) if (!w.isDead()) w.process.kill('SIGKILL');
          failed = true;
        },
        (config.server.drainSeconds + 5) * 1000,
      );
      if (remaining === 0) return finish();
      for (const w of live) {
        w.once('exit', (code) => {
          if (code !== 0) failed = true;
          if (--remaining === 0) finish();
        });
        sendSafe(w, { type: MSG_SHUTDOWN });
      }
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

function isReadyMessage(m: unknown): m is ReadyMessage {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === MSG_READY;
}

function sendSafe(w: Worker, msg: unknown): void {
  try {
    if (w.isConnected()) w.send(msg as never);
  } catch {
    /* worker already gone */
  }
}

// -------------------------------------------------------------------------------------- worker

async function runWorker(file: string): Promise<number> {
  const { config: loaded, policies } = checkConfigFile(file);
  // The primary owns the admin port; a worker's own admin listener goes to an unused loopback port.
  const config: Config = { ...loaded, server: { ...loaded.server, admin: '127.0.0.1:0' } };
  const app = await App.start({ config, policies }); // policies compiled once, by the check
  // Answer the primary's metric requests with this App's registry.
  AggregatorRegistry.setRegistries([app.metrics.registry]);
  new AggregatorRegistry();
  installCrashGuards(app.logger);

  let last: boolean | undefined;
  const report = (): void => {
    const now = app.ready;
    if (now !== last && process.connected) {
      last = now;
      process.send?.({ type: MSG_READY, ready: now } satisfies ReadyMessage);
    }
  };
  report();
  const poll = setInterval(report, 50);
  poll.unref();

  return new Promise<number>((resolve) => {
    let stopping = false;
    const shutdown = (why: string): void => {
      if (stopping) {
        app.logger.warn({ why }, 'second shutdown request: exiting without drain');
        process.exit(1);
      }
      stopping = true;
      clearInterval(poll);
      app.logger.info({ why }, 'worker draining in-flight Checks');
      app.shutdown().then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    process.on('message', (m: unknown) => {
      if (typeof m === 'object' && m !== null && (m as { type?: unknown }).type === MSG_SHUTDOWN) shutdown('primary');
    });
    // The primary coordinates shutdown: a terminal's Ctrl-C reaches the whole process group,
    // and the primary's request arrives over IPC; signals sent to a worker alone are ignored.
    process.on('SIGTERM', () => undefined);
    process.on('SIGINT', () => undefined);
    // Primary gone (crashed or killed): drain and leave rather than serve unsupervised.
    process.on('disconnect', () => {
      if (!stopping) shutdown('primary disconnected');
    });
  });
}
