// The other test files of this `node --test` run that are still running. The runner spawns each
// file as its own child process, so they are the processes sharing our parent whose argv names a
// *.test.js file. Used by tests that must run last or alone (the log-hygiene scan, the soak).
import { readFileSync, readdirSync } from 'node:fs';

/** Parent pid of a process (field 4 of /proc/PID/stat; the name in field 2 may hold spaces). */
function ppidOf(pid: string): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** "file (pid N)" for every other test file of this run still running, except those matching `except`. */
export function otherTestFiles(except?: RegExp): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid || ppidOf(pid) !== process.ppid) continue;
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const file = argv.find((a) => /\.test\.(c|m)?js$/.test(a));
      if (file && !except?.test(file)) out.push(`${file} (pid ${pid})`);
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** Resolve once no other test file (but those matching `except`) runs; throw after timeoutMs. */
export async function waitForOtherTestFiles(timeoutMs: number, except?: RegExp): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (let running = otherTestFiles(except); running.length; running = otherTestFiles(except)) {
    if (Date.now() > end) throw new Error(`other test files still running after ${timeoutMs / 1000} s: ${running.join(', ')}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
