// `zt-authz policy generate|replay`: the migration to zero trust (observe → generate → replay →
// enforce). Both read audit JSON lines from a file or stdin ("-") and skip everything else.
import { parseArgs } from 'node:util';
import { readFileSync, writeFileSync } from 'node:fs';
import { ConfigError } from '../config/problems.js';
import { checkConfigFile } from '../snapshot/checked-config.js';
import { readAuditRecords, type ReadStats } from '../migrate/record.js';
import { PolicyGenerator } from '../migrate/generate.js';
import { Replayer } from '../migrate/replay.js';
import { formatReport } from '../migrate/replay-report.js';
import { ManifestError, loadCandidate } from '../migrate/crd.js';
import { InvalidArgumentError } from '../errors.js';
import { EXIT, UsageError, type CliCommand } from './command.js';

export const POLICY_USAGE = `  zt-authz policy generate --from AUDIT.jsonl|- [--namespace N] [--min-count K] [--generalise]
                           [--namespace-threshold N] [--base CONFIG] [--out FILE]
                           [--format config|crd] [--root-namespace NS]
                                        least-privilege ALLOW policies (config YAML, or
                                        ZeroTrustPolicy manifests) from audit records
  zt-authz policy replay --config FILE [--policies MANIFESTS]... [--root-namespace NS]
                         --from AUDIT.jsonl|- [--namespace N] [--strict]
                         [--ignore-rejected-credentials] [--all] [--json]
                                        re-evaluate recorded requests against a candidate config
                                        (plus ZeroTrustPolicy manifests); exit 1 when a request
                                        that went through would be denied
`;

export const POLICY_COMMAND: CliCommand = {
  name: 'policy',
  usage: POLICY_USAGE,
  exitCodes: {
    [EXIT.OK]: 'generate: policies written; replay: no request that went through would be denied',
    [EXIT.NO]: 'replay: a request that went through would be denied',
    [EXIT.USAGE]: 'an unknown verb, a missing, unknown or malformed flag',
    [EXIT.RUNTIME]: 'no answer: an audit, config or manifest file cannot be read or is invalid',
  },
  run: runPolicy,
};

export async function runPolicy(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'generate' && sub !== 'replay')
    throw new UsageError(
      sub === undefined ? 'policy: which one? (policy generate|replay)' : `policy: unknown verb "${sub}" (generate|replay)`,
    );
  try {
    return sub === 'generate' ? await generate(rest) : await replay(rest);
  } catch (err) {
    // The candidate config and manifests are this command's input, not its subject: an invalid
    // one means no answer (3), which a script must not read as "would break" (1).
    if (err instanceof ConfigError || err instanceof ManifestError) {
      console.error(err.message);
      return EXIT.RUNTIME;
    }
    throw err;
  }
}

function count(v: string | undefined, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} takes a non-negative integer, got "${v}"`);
  return n;
}

async function generate(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      from: { type: 'string', short: 'f' },
      namespace: { type: 'string', short: 'n' },
      'min-count': { type: 'string' },
      generalise: { type: 'boolean', default: false },
      generalize: { type: 'boolean', default: false },
      'namespace-threshold': { type: 'string' },
      base: { type: 'string' },
      out: { type: 'string', short: 'o' },
      format: { type: 'string', default: 'config' },
      'root-namespace': { type: 'string' },
    },
  });
  if (!values.from) throw new UsageError('policy generate: needs --from AUDIT.jsonl (or --from - for stdin)');
  const format = values.format;
  if (format !== 'config' && format !== 'crd') throw new UsageError(`policy generate: --format takes config or crd, got "${format}"`);
  let base: { text: string; source: string } | undefined;
  if (values.base) {
    checkConfigFile(values.base); // the base must be valid on its own
    base = { text: readFileSync(values.base, 'utf8'), source: values.base };
  }
  const gen = new PolicyGenerator({
    minCount: Math.max(1, count(values['min-count'], '--min-count', 1)),
    generalise: values.generalise || values.generalize,
    namespaceThreshold: count(values['namespace-threshold'], '--namespace-threshold', 3),
    ...(values.namespace ? { namespace: values.namespace } : {}),
    ...(base ? { base } : {}),
    format,
    ...(values['root-namespace'] !== undefined ? { rootNamespace: values['root-namespace'] } : {}),
  });
  const stats = await readAuditRecords(values.from, (r) => gen.add(r));
  const { yaml, summary } = gen.finish();
  if (values.out) writeFileSync(values.out, yaml);
  else process.stdout.write(yaml);
  const left = Object.entries(summary.leftOut);
  process.stderr.write(
    `policy generate: ${describeInput(stats)}; ${summary.used} served request(s) → ${summary.policies} polic${summary.policies === 1 ? 'y' : 'ies'}, ${summary.rules} rule(s)${values.out ? ` written to ${values.out}` : ''}\n` +
      left.map(([why, n]) => `  left out ${n}: ${why}\n`).join('') +
      summary.warnings.map((w) => `  warning: ${w}\n`).join(''),
  );
  if (summary.used === 0) process.stderr.write('  no served requests found: is this an audit log (JSON lines with "logger":"audit")?\n');
  return 0;
}

async function replay(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      policies: { type: 'string', short: 'p', multiple: true },
      'root-namespace': { type: 'string' },
      from: { type: 'string', short: 'f' },
      namespace: { type: 'string', short: 'n' },
      'ignore-rejected-credentials': { type: 'boolean', default: false },
      strict: { type: 'boolean', default: false },
      all: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const manifests = values.policies ?? [];
  if ((!values.config && !manifests.length) || !values.from)
    throw new UsageError(
      'policy replay: needs --config CANDIDATE.yaml (and/or --policies MANIFESTS.yaml) and --from AUDIT.jsonl (or --from - for stdin)',
    );
  const config = loadCandidate(values.config, manifests, values['root-namespace']);
  const opts = {
    ignoreRejectedCredentials: values['ignore-rejected-credentials'],
    strict: values.strict,
    ...(values.namespace ? { namespace: values.namespace } : {}),
  };
  const replayer = new Replayer(config, opts);
  const stats = await readAuditRecords(values.from, (r) => replayer.add(r));
  const report = replayer.finish();
  if (values.json) process.stdout.write(JSON.stringify({ input: stats, ...report }, null, 2) + '\n');
  else {
    const what = [values.config, ...manifests].filter(Boolean).join(' + ');
    process.stdout.write(formatReport(report, { configFile: what, all: values.all, ...opts }));
    process.stderr.write(`policy replay: ${describeInput(stats)}\n`);
  }
  if (report.summary.records === 0)
    process.stderr.write('  no recorded requests found: is this an audit log (JSON lines with "logger":"audit")?\n');
  return report.summary.failing > 0 ? 1 : 0;
}

function describeInput(s: ReadStats): string {
  return `read ${s.lines} line(s): ${s.audit} audit record(s)${s.unusable ? ` (${s.unusable} without a request, skipped)` : ''}, ${s.other} other line(s) skipped`;
}
