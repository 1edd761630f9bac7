// `npm run bench`: load harness for zt-authz. Drives the real gRPC Check endpoint of a
// `zt-authz serve` process and, in the same run and under identical load, two floors: an empty
// grpc-js Check handler on the same proto, and the same Check served straight from node:http2.
// Prints a table and the targets with met/missed, and writes JSON.
//
//   node dist/bench/run.js [--scenario 1,2,3,4,5,6] [--quick] [--duration S] [--warmup S]
//                          [--conns C] [--streams M] [--workers N] [--profile] [--out FILE]
//
// Scenarios (bench/lib/scenario-*.ts):
//   1 cached token, allow, 20 policies: max throughput vs both floors (h2load)
//   2 unique tokens (no cache hits), RS256 and ES256, vs raw node:crypto async verify and vs the
//     cached token in one process (h2gen)
//   3 latency at a fixed 1,000 req/s and at 50 % of scenario 1's max (h2load --rps)
//   4 10 vs 10,000 policies: end-to-end p50 at a fixed rate, max throughput, in-process decide()
//   5 memory: RSS after 100k distinct cached tokens with 10,000 policies; demo config ready time
//   6 tracing (off / 1 % / 100 %, OTLP/HTTP to a sink here) and the internal token (off / cached /
//     minted on every allow): the cached allow's CPU per request, req/s, p99 (h2load, interleaved)
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import { Harness } from './lib/harness.js';
import { machine } from './lib/machine.js';
import { parseOptions } from './lib/options.js';
import { SystemWindow } from './lib/procstat.js';
import { printProfiles, printReport } from './lib/report.js';
import { scenario1and3 } from './lib/scenario-cached.js';
import { scenario6 } from './lib/scenario-features.js';
import { scenario5 } from './lib/scenario-memory.js';
import { scenario4 } from './lib/scenario-policies.js';
import { scenario2 } from './lib/scenario-unique.js';
import { log, round, sleep } from './lib/util.js';
import { InternalError } from '../src/errors.js';

async function main(h: Harness): Promise<void> {
  const { O } = h;
  const started = performance.now();
  const m = machine();
  if (m.h2load === 'missing')
    throw new InternalError(
      'h2load not found: run `npm run bench` (scripts/bench.sh installs nghttp2-client) or apt-get install nghttp2-client',
    );
  log(`machine: ${m.nproc} x ${m.cpuModel}, node ${m.node}, ${m.h2load}`);
  // A shared machine makes every figure noisy: say so up front (and per run, column "other").
  const idle = new SystemWindow();
  await sleep(1000);
  m.busyCoresBeforeRun = round(idle.cores(), 2);
  if ((m.busyCoresBeforeRun as number) > 0.25)
    log(`warning: ${m.busyCoresBeforeRun} cores busy before the run started (other processes): figures will be noisy`);
  log(
    `load: ${O.conns} connections x ${O.streams} streams, ${O.warmupS} s warm-up + ${O.durationS} s measured per run; multi-process variant: --workers ${O.workers}`,
  );

  if (O.scenarios.has(1)) await scenario1and3(h);
  if (O.scenarios.has(2)) await scenario2(h);
  const big = O.scenarios.has(4) ? await scenario4(h) : undefined;
  if (O.scenarios.has(5)) await scenario5(h, big);
  if (O.scenarios.has(6)) await scenario6(h);

  const report = {
    machine: m,
    settings: { ...O, scenarios: [...O.scenarios].sort() },
    results: h.results,
    targets: h.targets,
    elapsedSeconds: round((performance.now() - started) / 1000, 1),
  };
  mkdirSync(dirname(O.out), { recursive: true });
  writeFileSync(O.out, `${JSON.stringify(report, null, 2)}\n`);
  printReport(h);
  // Every profiled process has exited by now (each scenario stops what it started), so its
  // .cpuprofile is written.
  if (O.profile) printProfiles(h);
  log(`wrote ${relative(process.cwd(), O.out)} (${report.elapsedSeconds} s)`);
  if (O.profile) log(`CPU profiles in ${relative(process.cwd(), h.profileDir)}: node dist/bench/prof-top.js FILE [N] [--busiest S]`);
}

const options = parseOptions(process.argv.slice(2));
if (options) {
  const h = new Harness(options);
  process.on('SIGINT', () => void h.cleanup().then(() => process.exit(130)));
  main(h).then(
    () => h.cleanup(),
    async (err) => {
      console.error(`bench failed: ${(err as Error).stack ?? err}`);
      await h.cleanup();
      process.exitCode = 1;
    },
  );
}
