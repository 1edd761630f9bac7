#!/usr/bin/env node
// Real helm for the chart tests, built from helm's own Go module with the machine's Go (only the
// Go module proxy is needed; no prebuilt binary is downloaded). Helm 3 is what the tests use by
// default; Helm 4 is built beside it so the chart is checked with both. Each version is built
// once into a cache outside the repository, keyed by version:
// ${XDG_CACHE_HOME:-~/.cache}/zt-authz/helm/v<version>/helm.
//
//   node scripts/helm.mjs                   prints the Helm 3 binary's path (building it on first use)
//   node scripts/helm.mjs --helm 4          the same for Helm 4
//   node scripts/helm.mjs [--helm 3|4] ARGS runs that helm with ARGS (e.g. lint charts/zt-authz)
//   node scripts/helm.mjs --build-all       builds both (CI does this before the tests); prints both paths
//
// Environment:
//   ZT_HELM3_VERSION, ZT_HELM4_VERSION  the pinned releases (defaults below)
//   ZT_HELM_CACHE                       cache root (default ${XDG_CACHE_HOME:-~/.cache}/zt-authz/helm)
//
// Exit codes: 0 ok, 1 the build failed (the reason on stderr), 3 no Go toolchain on PATH (the caller
// decides whether that is a skip; under CI=true the tests treat it as a failure). With ARGS, helm's
// own exit code.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const HELM_VERSIONS = {
  3: process.env.ZT_HELM3_VERSION || '3.21.4',
  4: process.env.ZT_HELM4_VERSION || '4.3.2',
};

const cacheRoot = () => process.env.ZT_HELM_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'zt-authz', 'helm');

/** An error whose exitCode the CLI uses (3: no Go). */
class HelmBuildError extends Error {
  constructor(message, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

const log = (msg) => process.stderr.write(`[helm] ${msg}\n`);

/** Where helm `major` lives once built (whether or not it is built yet). */
export function helmPath(major = 3) {
  const version = HELM_VERSIONS[major];
  if (!version) throw new HelmBuildError(`unknown helm major version ${major} (3 or 4)`);
  return join(cacheRoot(), `v${version}`, 'helm');
}

// The cache entry is complete only once the binary ran and printed its version (an interrupted
// build never leaves a half-written binary that is used).
const complete = (dir) => existsSync(join(dir, '.complete')) && existsSync(join(dir, 'helm'));

const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/**
 * One builder at a time (parallel test files may all ask on a cold cache): a lock file created
 * exclusively, holding the builder's pid. A lock whose process is gone (a killed build) is taken over.
 */
function withLock(lock, fn) {
  const deadline = Date.now() + 3600_000;
  let said = false;
  for (;;) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      const owner = Number.parseInt(readFileSync(lock, 'utf8'), 10);
      // An empty file is a lock being written right now; leave it to its owner for a moment.
      const age = Date.now() - statSync(lock).mtimeMs;
      if ((Number.isInteger(owner) && !pidAlive(owner)) || (!Number.isInteger(owner) && age > 10_000)) {
        rmSync(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new HelmBuildError(`timed out waiting for another helm build (${lock})`);
      if (!said) log(`waiting for another process building helm (${lock}, pid ${owner})`);
      said = true;
      sleep(1000);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

function go(args, opts) {
  return spawnSync('go', args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
}

/** Builds helm `major` into its cache directory if it is not there; returns the binary's path. */
export function ensureHelm(major = 3) {
  const bin = helmPath(major);
  const dir = join(bin, '..');
  if (complete(dir)) return bin;
  const version = HELM_VERSIONS[major];
  if (go(['version']).error) {
    throw new HelmBuildError(`no Go toolchain (go) on PATH: cannot build helm v${version} from helm.sh/helm/v${major}`, 3);
  }
  mkdirSync(dir, { recursive: true });
  return withLock(join(dir, '.build.lock'), () => {
    if (complete(dir)) return bin;
    const started = Date.now();
    const mod = `helm.sh/helm/v${major}`;
    const env = {
      ...process.env,
      CGO_ENABLED: '0',
      // Keep go from fetching a newer toolchain on its own: a too-new go.mod must fail here, visibly.
      GOTOOLCHAIN: 'local',
      GOFLAGS: `${process.env.GOFLAGS ?? ''} -mod=mod`.trim(),
      GOBIN: join(dir, 'bin.tmp'),
    };
    log(`building helm v${version} from ${mod}/cmd/helm into ${dir} (first time only; a few minutes on 2 cores)...`);
    // Helm's Makefile stamps the version, and for Helm 3 the Kubernetes version its templates and
    // lint default to (.Capabilities.KubeVersion) from its client-go; a plain `go install` would
    // say "v3.21" and Kubernetes 1.20, which the chart's kubeVersion (>= 1.25) refuses.
    const dl = go(['mod', 'download', '-json', `${mod}@v${version}`], { env, cwd: dir });
    if (dl.status !== 0) throw new HelmBuildError(`go mod download ${mod}@v${version} failed: ${lastLines(dl.stdout + dl.stderr)}`);
    const goMod = readFileSync(JSON.parse(dl.stdout).GoMod, 'utf8');
    const clientGo = /^\s*k8s\.io\/client-go v0\.(\d+)\./m.exec(goMod);
    if (!clientGo) throw new HelmBuildError(`no k8s.io/client-go in ${mod}@v${version}'s go.mod`);
    const x = (name, value) => ['-X', `${mod}/${name}=${value}`];
    const ldflags = ['-s', '-w', ...x('internal/version.version', `v${version}`), ...x('internal/version.metadata', '')];
    if (major === 3) {
      for (const pkg of ['pkg/chartutil', 'pkg/lint/rules']) {
        ldflags.push(...x(`${pkg}.k8sVersionMajor`, '1'), ...x(`${pkg}.k8sVersionMinor`, clientGo[1]));
      }
    }
    rmSync(env.GOBIN, { recursive: true, force: true });
    // A progress line every minute: a cold build is quiet for minutes otherwise.
    const ticker = spawn(
      process.execPath,
      ['-e', `let s=0;setInterval(()=>process.stderr.write('[helm]   still compiling helm v${version} ('+(s+=60)+' s)\\n'),60000)`],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    let r;
    try {
      r = go(['install', '-trimpath', '-ldflags', ldflags.join(' '), `${mod}/cmd/helm@v${version}`], { env, cwd: dir });
    } finally {
      ticker.kill();
    }
    if (r.status !== 0) {
      throw new HelmBuildError(`go install ${mod}/cmd/helm@v${version} failed: ${lastLines(r.stdout + r.stderr)}`);
    }
    const built = join(env.GOBIN, 'helm');
    const v = spawnSync(built, ['version', '--template', '{{.Version}}'], { encoding: 'utf8' });
    if (v.stdout?.trim() !== `v${version}`) {
      throw new HelmBuildError(`the built helm says "${v.stdout?.trim() ?? v.error?.message}", expected v${version}`);
    }
    renameSync(built, bin);
    rmSync(env.GOBIN, { recursive: true, force: true });
    writeFileSync(join(dir, '.complete'), `${new Date().toISOString()} ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
    log(`built helm v${version} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    return bin;
  });
}

function lastLines(text, n = 15) {
  return text.trim().split('\n').slice(-n).join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    let args = process.argv.slice(2);
    if (args[0] === '--build-all') {
      for (const major of [3, 4]) process.stdout.write(`${ensureHelm(major)}\n`);
      process.exit(0);
    }
    let major = 3;
    if (args[0] === '--helm' || args[0]?.startsWith('--helm=')) {
      const value = args[0] === '--helm' ? args[1] : args[0].slice('--helm='.length);
      major = Number(value);
      if (major !== 3 && major !== 4) throw new HelmBuildError(`--helm takes 3 or 4, not ${String(value)}`, 2);
      args = args.slice(args[0] === '--helm' ? 2 : 1);
    }
    const bin = ensureHelm(major);
    if (!args.length) {
      process.stdout.write(`${bin}\n`);
    } else {
      const r = spawnSync(bin, args, { stdio: 'inherit' });
      process.exit(r.status ?? 1);
    }
  } catch (err) {
    process.stderr.write(`helm.mjs: ${err.message}\n`);
    process.exit(err.exitCode ?? 1);
  }
}
