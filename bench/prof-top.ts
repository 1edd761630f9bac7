// Summarize a V8 .cpuprofile (node --cpu-prof): top functions by self time and by inclusive
// time, as percentages of busy (non-idle) time.
// Usage: node dist/bench/prof-top.js FILE [N] [--filter S] [--last S | --busiest S | --from S --to S]
import { readFileSync } from 'node:fs';
import { argMap } from './lib/util.js';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  startTime: number;
  endTime: number;
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

const file = process.argv[2];
if (!file) {
  console.error('usage: prof-top FILE [N] [--filter substring]');
  process.exit(2);
}
const top = Number(process.argv[3] && !process.argv[3].startsWith('--') ? process.argv[3] : 30);
const opts = argMap(process.argv.slice(2));
const filter = opts.get('filter');
/** Only samples from the last S seconds of the profile. */
const lastS = opts.has('last') ? Number(opts.get('last')) : undefined;
/** Only samples from the busiest S-second window (the load run, wherever it was). */
const busiestS = opts.has('busiest') ? Number(opts.get('busiest')) : undefined;
const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const label = (n: Node): string => {
  const url = n.callFrame.url
    .replace(/^file:\/\//, '')
    .replace(/.*\/node_modules\//, 'nm:')
    .replace(/.*\/dist\//, '');
  return `${n.callFrame.functionName || '(anonymous)'} ${url}:${n.callFrame.lineNumber + 1}`;
};
const self = new Map<string, number>();
const incl = new Map<string, number>();
const times: number[] = [];
const isIdle: boolean[] = [];
{
  let acc = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    acc += p.timeDeltas[i] ?? 0;
    times.push(acc);
    isIdle.push(byId.get(p.samples[i]!)?.callFrame.functionName === '(idle)');
  }
}
let from = lastS === undefined ? -Infinity : p.endTime - lastS * 1e6;
let to = Infinity;
// --from/--to: seconds since the profile started.
if (opts.has('from')) from = p.startTime + Number(opts.get('from')) * 1e6;
if (opts.has('to')) to = p.startTime + Number(opts.get('to')) * 1e6;
if (busiestS !== undefined) {
  // Sliding window over sample times: the one with the most non-idle time.
  let best = -1;
  let busyInWindow = 0;
  let j = 0;
  for (let i = 0; i < times.length; i++) {
    if (!isIdle[i]) busyInWindow += p.timeDeltas[i] ?? 0;
    while (times[i]! - times[j]! > busiestS * 1e6) {
      if (!isIdle[j]) busyInWindow -= p.timeDeltas[j] ?? 0;
      j++;
    }
    if (busyInWindow > best) {
      best = busyInWindow;
      from = times[j]!;
      to = times[i]!;
    }
  }
}
let total = 0;
let idle = 0;
for (let i = 0; i < p.samples.length; i++) {
  const dt = p.timeDeltas[i] ?? 0;
  const t = times[i]!;
  if (t < from || t > to) continue;
  total += dt;
  let n = byId.get(p.samples[i]!);
  if (!n) continue;
  if (n.callFrame.functionName === '(idle)') idle += dt;
  self.set(label(n), (self.get(label(n)) ?? 0) + dt);
  const seen = new Set<string>();
  while (n) {
    const l = label(n);
    if (!seen.has(l)) {
      seen.add(l);
      incl.set(l, (incl.get(l) ?? 0) + dt);
    }
    const pid = parent.get(n.id);
    n = pid === undefined ? undefined : byId.get(pid);
  }
}
const busy = total - idle;
const print = (title: string, m: Map<string, number>): void => {
  console.log(`\n== ${title}: % of busy time (${(busy / 1e6).toFixed(2)} s busy of ${(total / 1e6).toFixed(2)} s sampled)`);
  [...m.entries()]
    .filter(([l]) => (!filter || l.includes(filter)) && !l.startsWith('(idle)') && !l.startsWith('(root)'))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .forEach(([l, t]) => console.log(`${((100 * t) / busy).toFixed(1).padStart(6)} %  ${l}`));
};
print('self', self);
print('inclusive', incl);
