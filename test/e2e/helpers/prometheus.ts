// A real Prometheus for the e2e suite: scrapes the zt-authz admin /metrics every second, stores
// into a temp dir, listens on 127.0.0.1 only. Queried through its HTTP API.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findBinary, startProc, waitForHttp, type Proc } from './procs.js';

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface PrometheusOptions {
  /** Target labels added to every scraped series (as Kubernetes service discovery adds namespace). */
  labels?: Record<string, string>;
  /** Rule files Prometheus loads and evaluates every second. */
  ruleFiles?: string[];
}

export async function startPrometheus(dir: string, port: number, adminPort: number, opts: PrometheusOptions = {}): Promise<Proc> {
  const bin = findBinary('prometheus');
  if (!bin) throw new Error('prometheus not installed');
  const conf = join(dir, 'prometheus.yml');
  writeFileSync(
    conf,
    `global: { scrape_interval: 1s, evaluation_interval: 1s }
rule_files: ${JSON.stringify(opts.ruleFiles ?? [])}
scrape_configs:
  - job_name: zt-authz
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs: [{ targets: ["127.0.0.1:${adminPort}"], labels: ${JSON.stringify(opts.labels ?? {})} }]
`,
  );
  const proc = startProc('prometheus', bin, [
    `--config.file=${conf}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ]);
  await waitForHttp(`http://127.0.0.1:${port}/-/ready`, proc, 15000);
  return proc;
}

export async function promQuery(port: number, query: string): Promise<PromSample[]> {
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(query)}`, {
    signal: AbortSignal.timeout(3000),
  });
  const body = (await res.json()) as { status: string; error?: string; data?: { result: PromSample[] } };
  if (body.status !== 'success') throw new Error(`prometheus query failed: ${body.error}`);
  return body.data?.result ?? [];
}
