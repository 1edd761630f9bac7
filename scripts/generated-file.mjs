// The generators' one "write, or with --check say whether the checked-in file is stale" step
// (gen-config-docs, gen-crd, gen-values-schema), so they all report a stale file the same way.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * With --check on the command line: exit code 1 and a message naming `regenerate` when `out`
 * differs from `text` (or is missing). Without it: write `text` to `out`.
 */
export function writeOrCheck(out, text, regenerate) {
  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(out, 'utf8');
    } catch {
      // not generated yet: stale
    }
    if (current !== text) {
      console.error(`${out} is out of date: run ${regenerate}`);
      process.exitCode = 1;
      return;
    }
    console.log(`${out}: up to date`);
  } else {
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, text);
    console.log(`wrote ${out}`);
  }
}
