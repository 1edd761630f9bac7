// Reports of a policy test run: the text summary `zt-authz test` prints (in the manner of
// `opa test`) and JUnit XML for CI systems.
import type { Actual, CaseResult } from './runner.js';

function actualText(a: Actual): string {
  const by = a.policy !== undefined ? ` by policy ${a.policy}${a.rule !== undefined ? ` rule ${a.rule}` : ''}` : '';
  return `${a.decision} (${a.reason}, status ${a.status})${by}${a.detail ? ` — ${a.detail}` : ''}`;
}

/** The expected decision in one line. */
function expectedText(r: CaseResult): string {
  const e = r.case.expect;
  return `${e.decision}${e.reason ? ` (${e.reason})` : ''}${e.policy ? ` by policy ${e.policy}` : ''}`;
}

/** What a failed case prints: expected, actual, then each expectation that does not hold. */
export function failureText(r: CaseResult): string {
  return [`expected: ${expectedText(r)}`, `actual:   ${actualText(r.actual)}`, ...r.failures.map((f) => `- ${f}`)].join('\n');
}

/** The summary: failures in full, PASS lines too when verbose, then the counts. */
export function textReport(results: CaseResult[], verbose: boolean): string {
  const lines: string[] = [];
  let file: string | undefined;
  for (const r of results) {
    if (!verbose && r.pass) continue;
    if (r.file !== file) {
      file = r.file;
      lines.push(`${lines.length ? '\n' : ''}${file}:`);
    }
    const ms = verbose ? ` (${(r.seconds * 1000).toFixed(1)}ms)` : '';
    lines.push(`${r.pass ? 'PASS' : 'FAIL'}: ${r.case.name}${ms}`);
    if (!r.pass) for (const l of failureText(r).split('\n')) lines.push(`    ${l}`);
  }
  const failed = results.filter((r) => !r.pass).length;
  if (lines.length) lines.push('-'.repeat(80));
  lines.push(
    failed
      ? `PASS: ${results.length - failed}/${results.length}\nFAIL: ${failed}/${results.length}`
      : `PASS: ${results.length}/${results.length}`,
  );
  return `${lines.join('\n')}\n`;
}

/** Characters XML 1.0 cannot carry at all (control characters other than tab, LF, CR; lone surrogates, U+FFFE/U+FFFF). */
const NOT_XML =
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Text for an XML attribute or element: escaped, characters XML cannot carry replaced by U+FFFD. */
export function xmlText(s: string): string {
  return s
    .replace(NOT_XML, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    .replace(/\r/g, '&#13;')
    .replace(/\n/g, '&#10;')
    .replace(/\t/g, '&#9;');
}

/** JUnit XML: one testsuite per case file, one testcase per case, a failure element per failed case. */
export function junitReport(results: CaseResult[], name = 'zt-authz policy tests'): string {
  const files = new Map<string, CaseResult[]>();
  for (const r of results) files.set(r.file, [...(files.get(r.file) ?? []), r]);
  const secs = (rs: CaseResult[]) => rs.reduce((t, r) => t + r.seconds, 0).toFixed(6);
  const failures = (rs: CaseResult[]) => rs.filter((r) => !r.pass).length;
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${xmlText(name)}" tests="${results.length}" failures="${failures(results)}" errors="0" time="${secs(results)}">`,
  ];
  for (const [file, rs] of files) {
    out.push(
      `  <testsuite name="${xmlText(file)}" tests="${rs.length}" failures="${failures(rs)}" errors="0" skipped="0" time="${secs(rs)}">`,
    );
    for (const r of rs) {
      const open = `    <testcase classname="${xmlText(file)}" name="${xmlText(r.case.name)}" time="${r.seconds.toFixed(6)}"`;
      if (r.pass) {
        out.push(`${open}/>`);
        continue;
      }
      const message = `expected ${expectedText(r)}, got ${actualText(r.actual)}`;
      // Element text keeps its line breaks (escaped only where XML needs it).
      const body = failureText(r).replace(NOT_XML, '\uFFFD').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
      out.push(`${open}>`, `      <failure message="${xmlText(message)}" type="PolicyTestFailure">${body}</failure>`, '    </testcase>');
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return `${out.join('\n')}\n`;
}
