// CPU time and memory of a process tree from /proc (Linux only; loopback bench on this box).
import { readFileSync, readdirSync } from 'node:fs';

const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) on Linux x86_64/arm64

interface Stat {
  pid: number;
  ppid: number;
  /** utime + stime, seconds. */
  cpu: number;
}

function readStat(pid: number): Stat | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may contain spaces and parentheses: fields start after the last ')'.
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // f[0] = state (field 3), so field N is f[N - 3].
    return { pid, ppid: Number(f[1]), cpu: (Number(f[11]) + Number(f[12])) / CLK_TCK };
  } catch {
    return undefined;
  }
}

/** The pid and all its descendants (cluster workers). */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const st = readStat(pid);
    if (!st) continue;
    const list = children.get(st.ppid) ?? [];
    list.push(pid);
    children.set(st.ppid, list);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length) {
    const p = stack.pop()!;
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

/** Total CPU seconds (user + system) of the process tree. */
export function treeCpuSeconds(root: number): number {
  let sum = 0;
  for (const pid of processTree(root)) sum += readStat(pid)?.cpu ?? 0;
  return sum;
}

function statusKb(pid: number, field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Resident set size of the tree in MB (current), and the largest per-process peak (VmHWM). */
export function treeMemoryMb(root: number): { rssMb: number; peakRssMb: number } {
  let rss = 0;
  let peak = 0;
  for (const pid of processTree(root)) {
    rss += statusKb(pid, 'VmRSS');
    peak += statusKb(pid, 'VmHWM');
  }
  return { rssMb: Math.round(rss / 102.4) / 10, peakRssMb: Math.round(peak / 102.4) / 10 };
}

/** CPU usage over a window, in cores (1.0 = one core busy the whole time). */
export class CpuWindow {
  private readonly t0 = process.hrtime.bigint();
  private readonly c0: number;
  constructor(private readonly pid: number) {
    this.c0 = treeCpuSeconds(pid);
  }
  cores(): number {
    const secs = Number(process.hrtime.bigint() - this.t0) / 1e9;
    return secs > 0 ? (treeCpuSeconds(this.pid) - this.c0) / secs : 0;
  }
}

/** Busy CPU seconds of the whole machine (all cores) from /proc/stat. */
export function systemBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
  return busy / CLK_TCK;
}

/**
 * Polls a (short-lived) process's CPU time, so the load generator's CPU is known after it exited
 * (loses at most one poll interval).
 */
export class ProcSampler {
  private last = 0;
  private first: number | undefined;
  private readonly timer: NodeJS.Timeout;
  constructor(
    private readonly pid: number,
    intervalMs = 200,
  ) {
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.sample();
  }
  private sample(): void {
    const c = treeCpuSeconds(this.pid);
    if (c > 0) {
      this.first ??= c;
      this.last = c;
    }
  }
  /** Stop polling; CPU seconds used since construction (approximately). */
  stop(): number {
    this.sample();
    clearInterval(this.timer);
    return this.last - (this.first ?? this.last);
  }
}

/** Machine-wide CPU over a window, to tell how much of it was neither server nor load generator. */
export class SystemWindow {
  private readonly t0 = process.hrtime.bigint();
  private readonly c0 = systemBusySeconds();
  cores(): number {
    const secs = Number(process.hrtime.bigint() - this.t0) / 1e9;
    return secs > 0 ? (systemBusySeconds() - this.c0) / secs : 0;
  }
}

/**
 * Scheduler accounting of a process's main thread (for Node, the event-loop thread), from
 * /proc/PID/task/PID/schedstat: time on a CPU, and time runnable but waiting for one (what a busy
 * machine costs the event loop), in ms.
 */
export function mainThreadSched(pid: number): { runMs: number; waitMs: number } | undefined {
  try {
    const [run, wait] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number);
    return { runMs: (run ?? 0) / 1e6, waitMs: (wait ?? 0) / 1e6 };
  } catch {
    return undefined;
  }
}
