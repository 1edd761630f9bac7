// `npm run bench` options (node dist/bench/run.js --help).
import { cpus } from 'node:os';
import { join } from 'node:path';
import { argMap, ROOT } from './util.js';

export const HELP = `npm run bench [-- options]      (node dist/bench/run.js [options])
  --scenario 1,2,3,4,5,6 scenarios to run (default all; 3 also runs 1, whose max it needs)
                         6: tracing off / 1 % / 100 % and internal token off / cached / minted
                         every allow, h2load, variants interleaved (about 90 s; --quick about 35 s)
  --quick                short runs (1.5 s warm-up + 3 s), smaller cache fill; writes bench/results/quick.json
  --duration S           measured seconds per load run (default 5)
  --warmup S             warm-up seconds per load run (default 2)
  --conns C --streams M  h2load/h2gen connections and streams per connection (default 4 x 16)
  --workers N            processes for the multi-process variant (default: CPUs; 1 = none)
  --unique-tokens N      distinct tokens in scenario 2 (default 3000; cache = N/3 per process)
  --cache-fill N         distinct tokens cached in scenario 5 (default 100000)
  --s4-rate R            fixed request rate for scenario 4's latency runs (default 500/s)
  --fixed-rate R         scenario 3's fixed low rate (default 1000/s: p99 < 1 ms target)
  --s6-rounds N          scenario 6's interleaved rounds, one load run per variant each (default 2; --quick 1)
  --profile              run the floors and the single-process services under --cpu-prof
                         (bench/results/profiles/) and print where each one's time goes
  --out FILE             JSON output (default bench/results/latest.json)`;

export interface BenchOptions {
  scenarios: Set<number>;
  quick: boolean;
  durationS: number;
  warmupS: number;
  conns: number;
  streams: number;
  /** Processes for the multi-process variant (`serve --workers N`); 1 disables that variant. */
  workers: number;
  profile: boolean;
  out: string;
  /** Distinct tokens replayed in scenario 2 (the service's cache is set to a third of this). */
  uniqueTokens: number;
  cacheFill: number;
  s4Rate: number;
  /** Scenario 3's fixed low rate (the rate OPA-Envoy publishes its p99 at). */
  fixedRate: number;
  /** Scenario 6: rounds of one load run per variant, interleaved. */
  s6Rounds: number;
}

/** The options, or undefined when --help was asked for (HELP is then printed). */
export function parseOptions(argv: string[]): BenchOptions | undefined {
  const args = argMap(argv);
  if (args.has('help')) {
    console.log(HELP);
    return undefined;
  }
  const quick = args.has('quick');
  const O: BenchOptions = {
    scenarios: new Set((args.get('scenario') ?? '1,2,3,4,5,6').split(',').map((s) => Number(s.trim()))),
    quick,
    durationS: Number(args.get('duration') ?? (quick ? 3 : 5)),
    warmupS: Number(args.get('warmup') ?? (quick ? 1.5 : 2)),
    conns: Number(args.get('conns') ?? 4),
    streams: Number(args.get('streams') ?? 16),
    workers: Number(args.get('workers') ?? cpus().length),
    profile: args.has('profile'),
    out: args.get('out') ?? join(ROOT, 'bench', 'results', quick ? 'quick.json' : 'latest.json'),
    uniqueTokens: Number(args.get('unique-tokens') ?? 3000),
    cacheFill: Number(args.get('cache-fill') ?? (quick ? 20000 : 100000)),
    s4Rate: Number(args.get('s4-rate') ?? 500),
    fixedRate: Number(args.get('fixed-rate') ?? 1000),
    s6Rounds: Math.max(1, Number(args.get('s6-rounds') ?? (quick ? 1 : 2))),
  };
  if (O.scenarios.has(3)) O.scenarios.add(1); // scenario 3's rate is half of scenario 1's maximum
  return O;
}
