// `zt-authz test DIR`: run the policy test cases under DIR (docs/policy-tests.md), like `opa test`.
import { writeFileSync } from 'node:fs';
import { EXIT, UsageError, parseCommandArgs, type CliCommand } from '../command.js';
import { ConfigError } from '../../config/problems.js';
import { ManifestError } from '../../migrate/crd.js';
import { CaseFileError, discoverCaseFiles, displayPath, loadCaseFile } from './cases.js';
import { runSuites } from './runner.js';
import { junitReport, textReport } from './report.js';

export const TEST_COMMAND: CliCommand = {
  name: 'test',
  usage: `  zt-authz test DIR|FILE [--config FILE] [--manifests FILE]... [--root-namespace NS]
                [--junit FILE] [--run REGEX] [-v]
                                        run the policy test cases (*_test.yaml, *.test.yaml) under DIR
                                        against a config and/or ZeroTrustPolicy manifests
`,
  exitCodes: {
    0: 'every case passed',
    1: 'a case failed',
    2: 'usage error',
    3: 'no verdict: a case file cannot be read or is not valid, the configuration or manifests are invalid',
  },
  run: runTest,
};

export async function runTest(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('test', {
    args,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      manifests: { type: 'string', multiple: true },
      'root-namespace': { type: 'string' },
      junit: { type: 'string' },
      run: { type: 'string' },
      verbose: { type: 'boolean', short: 'v', default: false },
      wait: { type: 'string', default: '5000' },
    },
  });
  if (positionals.length !== 1) throw new UsageError('test: give one folder (or case file) to run');
  const root = positionals[0]!;
  let filter: RegExp | undefined;
  try {
    filter = values.run !== undefined ? new RegExp(values.run) : undefined;
  } catch (err) {
    throw new UsageError(`test: --run: ${(err as Error).message}`);
  }
  const waitMs = Number(values.wait);
  if (!Number.isInteger(waitMs) || waitMs < 0) throw new UsageError('test: --wait takes milliseconds');
  try {
    const files = discoverCaseFiles(root);
    if (!files.length) {
      console.error(`test: no case files (*_test.yaml, *.test.yaml) under ${root}`);
      return EXIT.RUNTIME;
    }
    const suites = files.flatMap((f) => loadCaseFile(f));
    const results = await runSuites(suites, {
      ...(values.config !== undefined ? { config: values.config } : {}),
      ...(values.manifests ? { manifests: values.manifests } : {}),
      ...(values['root-namespace'] !== undefined ? { rootNamespace: values['root-namespace'] } : {}),
      ...(filter ? { filter } : {}),
      waitMs,
      display: (f) => displayPath(f, root),
    });
    process.stdout.write(textReport(results, values.verbose));
    if (values.junit !== undefined) writeFileSync(values.junit, junitReport(results));
    if (!results.length) {
      console.error(`test: no case matches --run ${values.run ?? ''}`);
      return EXIT.RUNTIME;
    }
    return results.every((r) => r.pass) ? EXIT.OK : EXIT.NO;
  } catch (err) {
    // A bad case file is the run's failure, not a usage mistake (CaseFileError is an InvalidArgumentError);
    // as for `check`, an invalid configuration is no verdict (3), so 1 keeps meaning "a case failed".
    if (!(err instanceof CaseFileError || err instanceof ConfigError || err instanceof ManifestError)) throw err;
    console.error(`test: ${err.message}`);
    return EXIT.RUNTIME;
  }
}
