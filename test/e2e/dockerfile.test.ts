// The Dockerfile, without a Docker engine:
//  1. its invariants, read from the parsed instructions (multi-stage, distroless/slim runtime
//     without RUN, numeric non-root USER, no HEALTHCHECK, ports, exec-form ENTRYPOINT);
//  2. the .dockerignore allow-list keeps node_modules, dist, .git, .tools and demo keys out;
//  3. an emulation of the build: the `build` stage's compile RUN (dev dependencies from the
//     repository's node_modules, which `npm ci` made from the same lockfile), the `deps` stage's
//     RUN as written (`npm ci --omit=dev`), then the runtime stage's COPYs into a fresh
//     directory; that tree, made read-only (readOnlyRootFilesystem) and run as the image's USER
//     when the tests run as root, is started with the image's ENTRYPOINT and answers a gRPC Check.
//     So no dev dependency is needed at run time, and the COPY set is complete.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { authV3Client, check, checkRequest, closeAll } from '../helpers/grpc-client.js';
import { freePort, waitUntil } from '../helpers/app.js';
import { captureChild, captureChildOutput } from '../helpers/capture.js';

const ROOT = new URL('../../../', import.meta.url).pathname;

interface Instr {
  cmd: string;
  /** Text after the instruction keyword, flags included. */
  text: string;
  line: number;
}
interface Stage {
  base: string;
  name: string;
  instrs: Instr[];
}

/** Dockerfile → global ARGs + stages (continuations joined, comments dropped, ${ARG} resolved in FROM). */
export function parseDockerfile(src: string): { args: Record<string, string>; stages: Stage[]; all: Instr[] } {
  const all: Instr[] = [];
  const lines = src.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let text = lines[i]!.trim();
    if (!text || text.startsWith('#')) continue;
    while (text.endsWith('\\') && i + 1 < lines.length) {
      text = text.slice(0, -1);
      let next = lines[++i]!.trim();
      while (next.startsWith('#') && i + 1 < lines.length) next = lines[++i]!.trim();
      text += ' ' + next;
    }
    const m = /^(\S+)\s*(.*)$/s.exec(text)!;
    all.push({ cmd: m[1]!.toUpperCase(), text: m[2]!.trim(), line: start + 1 });
  }
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const ins of all) {
    if (ins.cmd === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.text)!;
      const base = m[1]!.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string, b: string) => args[a ?? b] ?? '');
      stages.push({ base, name: m[2] ?? String(stages.length), instrs: [] });
    } else if (stages.length === 0) {
      if (ins.cmd === 'ARG') {
        const [k, v] = ins.text.split('=');
        args[k!] = v ?? '';
      }
    } else {
      stages.at(-1)!.instrs.push(ins);
    }
  }
  return { args, stages, all };
}

/** COPY [--from=X] [--chown=..] src... dest */
function parseCopy(text: string): { from?: string; srcs: string[]; dest: string } {
  const words = text.split(/\s+/);
  let from: string | undefined;
  while (words[0]?.startsWith('--')) {
    const flag = words.shift()!;
    if (flag.startsWith('--from=')) from = flag.slice('--from='.length);
  }
  const dest = words.pop()!;
  return { ...(from ? { from } : {}), srcs: words, dest };
}

/** .dockerignore matching (patterns in order, last match wins, `!` re-includes, a match covers a directory's contents). */
function dockerIgnored(patterns: string[], rel: string): boolean {
  const toRe = (p: string) =>
    new RegExp(
      '^' +
        p
          .replace(/[.+^${}()|[\]\\]/g, '\\$&')
          .replace(/\*\*/g, '\0')
          .replace(/\*/g, '[^/]*')
          .replace(/\?/g, '[^/]')
          .replace(/\0/g, '.*') +
        '$',
    );
  const parts = rel.split('/');
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const raw of patterns) {
    const neg = raw.startsWith('!');
    const p = (neg ? raw.slice(1) : raw).replace(/^\/+|\/+$/g, '');
    if (prefixes.some((x) => toRe(p).test(x))) ignored = !neg;
  }
  return ignored;
}

const dockerfile = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const ignorePatterns = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));
const runtime = dockerfile.stages.at(-1)!;
const stageByName = (name: string) => dockerfile.stages.find((s) => s.name === name);
const jsonArray = (text: string): string[] => {
  const v = JSON.parse(text) as unknown;
  assert.ok(Array.isArray(v) && v.every((x) => typeof x === 'string'), `exec form (JSON array) expected: ${text}`);
  return v;
};

test('Dockerfile invariants: multi-stage, small non-root runtime without a shell, no HEALTHCHECK, ports, ENTRYPOINT', () => {
  const { stages, all } = dockerfile;
  assert.ok(stages.length >= 2, 'multi-stage');
  assert.match(
    runtime.base,
    /^(gcr\.io\/distroless\/nodejs24-debian\d+(:nonroot)?|node:24[\w.-]*-slim)(@sha256:[0-9a-f]{64})?$/,
    `small Node 24 runtime image (the production target), got ${runtime.base}`,
  );
  assert.equal(all.filter((i) => i.cmd === 'HEALTHCHECK').length, 0, 'no HEALTHCHECK: Kubernetes probes instead');

  // No RUN in the runtime stage: a distroless image has no shell, so nothing may need one.
  assert.deepEqual(
    runtime.instrs.filter((i) => i.cmd === 'RUN').map((i) => i.text),
    [],
  );
  // Non-root, numeric (so the kubelet can verify runAsNonRoot).
  const user = runtime.instrs.filter((i) => i.cmd === 'USER').at(-1)?.text;
  assert.ok(user, 'USER set in the runtime stage');
  const [uid, gid] = user.split(':');
  assert.match(uid!, /^\d+$/, 'numeric UID');
  assert.notEqual(Number(uid), 0);
  if (gid !== undefined) assert.notEqual(Number(gid), 0);
  // Ports.
  const exposed = runtime.instrs
    .filter((i) => i.cmd === 'EXPOSE')
    .flatMap((i) => i.text.split(/\s+/))
    .map((p) => p.replace(/\/tcp$/, ''));
  for (const p of ['9191', '9192', '9090']) assert.ok(exposed.includes(p), `EXPOSE ${p}`);
  // ENTRYPOINT: exec form, node running the compiled CLI's serve command.
  const ep = jsonArray(runtime.instrs.filter((i) => i.cmd === 'ENTRYPOINT').at(-1)!.text);
  assert.match(ep[0]!, /(^|\/)node$/);
  assert.deepEqual(ep.slice(1), ['dist/src/cli/main.js', 'serve']);
  // Nothing in the runtime stage declares a VOLUME or writes: read-only root filesystem friendly.
  assert.equal(runtime.instrs.filter((i) => i.cmd === 'VOLUME').length, 0);

  // node_modules in the runtime come from a stage that installed production dependencies only.
  const nm = runtime.instrs
    .filter((i) => i.cmd === 'COPY')
    .map((i) => parseCopy(i.text))
    .find((c) => c.srcs.some((s) => s.endsWith('node_modules')));
  assert.ok(nm?.from, 'node_modules copied from another stage');
  const deps = stageByName(nm.from)!;
  assert.ok(
    deps.instrs.some((i) => i.cmd === 'RUN' && /\bnpm ci\b/.test(i.text) && /--omit=dev\b/.test(i.text)),
    `stage ${nm.from} runs npm ci --omit=dev`,
  );
  // The compiled code comes from a stage that installed dev dependencies (plain npm ci) and compiled.
  const dist = runtime.instrs
    .filter((i) => i.cmd === 'COPY')
    .map((i) => parseCopy(i.text))
    .find((c) => c.srcs.some((s) => /dist\/src$/.test(s)));
  assert.ok(dist?.from, 'dist/src copied from the build stage');
  const build = stageByName(dist.from)!;
  assert.ok(
    build.instrs.some((i) => i.cmd === 'RUN' && /\bnpm ci\b/.test(i.text) && !/--omit=dev/.test(i.text)),
    'build stage installs dev dependencies',
  );
  assert.ok(
    build.instrs.some((i) => i.cmd === 'RUN' && /\btsc\b/.test(i.text)),
    'build stage compiles',
  );
});

/** The Node.js major an image reference names (node:24-…, gcr.io/distroless/nodejs24-…), or undefined. */
const nodeMajorOf = (image: string): number | undefined => {
  const m = /^(?:node:|gcr\.io\/distroless\/nodejs)(\d+)\b/.exec(image);
  return m ? Number(m[1]) : undefined;
};

test('Dockerfile: every stage runs Node 24, the major package.json engines admits', () => {
  // The build and deps stages install and compile with the runtime's Node: npm ci's engine checks
  // and any install script then see the Node the code will run on.
  const majors = dockerfile.stages.map((s) => nodeMajorOf(s.base));
  assert.deepEqual(
    majors,
    dockerfile.stages.map(() => 24),
    `stage images: ${dockerfile.stages.map((s) => s.base).join(', ')}`,
  );
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines?: { node?: string } };
  const range = /^>=\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(pkg.engines?.node ?? '');
  assert.ok(range, `engines.node is a plain lower bound: ${pkg.engines?.node}`);
  assert.ok(Number(range[1]) <= 24, `engines.node ${pkg.engines?.node} admits Node 24`);
});

test('.dockerignore: the build context holds what the Dockerfile copies and nothing local', () => {
  for (const p of [
    'node_modules',
    'node_modules/jose/package.json',
    'dist',
    'dist/src/app.js',
    '.git',
    '.tools',
    '.zt-authz-demo',
    'bench',
    'test',
    'charts',
    '.env',
  ]) {
    assert.ok(dockerIgnored(ignorePatterns, p), `${p} is ignored`);
  }
  for (const s of dockerfile.stages) {
    for (const i of s.instrs.filter((x) => x.cmd === 'COPY')) {
      const c = parseCopy(i.text);
      if (c.from) continue;
      for (const src of c.srcs) {
        assert.ok(existsSync(join(ROOT, src)), `COPY source ${src} exists`);
        assert.ok(!dockerIgnored(ignorePatterns, src.replace(/\/$/, '')), `COPY source ${src} is in the context`);
      }
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Emulated build + production-only run.

const work = mkdtempSync(join(tmpdir(), 'zt-docker-'));
let child: ChildProcess | undefined;
/** The runtime tree while it is read-only (made writable again before it is removed). */
let readOnlyRoot: string | undefined;
after(() => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  if (readOnlyRoot) setTreeWritable(readOnlyRoot, true);
  rmSync(work, { recursive: true, force: true });
});

/**
 * chmod a-w (or back to u+w) over a tree, like a read-only root filesystem. Symlinks are left
 * alone: chmod would follow them (npm's node_modules/.bin links point inside the tree anyway).
 */
function setTreeWritable(root: string, writable: boolean): void {
  const st = lstatSync(root);
  if (st.isSymbolicLink()) return;
  const mode = st.mode & 0o7777;
  chmodSync(root, writable ? mode | 0o200 : mode & ~0o222);
  if (st.isDirectory()) for (const name of readdirSync(root)) setTreeWritable(join(root, name), writable);
}

/** `execPath` hard-linked (a copy across file systems) to `<work>/nodejs/bin/node`, mode 0755. */
function imageNode(execPath: string): string {
  const dir = join(work, 'nodejs', 'bin');
  mkdirSync(dir, { recursive: true });
  chmodSync(join(work, 'nodejs'), 0o755);
  chmodSync(dir, 0o755);
  const to = join(dir, 'node');
  try {
    linkSync(execPath, to);
  } catch {
    copyFileSync(execPath, to);
    chmodSync(to, 0o755);
  }
  return to;
}

/** Copy `src` (file or directory) to `dest` with Docker COPY semantics for our simple cases. */
function dockerCopy(src: string, dest: string, contextRel?: string): void {
  const isDir = statSync(src).isDirectory();
  const target = !isDir && dest.endsWith('/') ? join(dest, src.split('/').at(-1)!) : dest;
  mkdirSync(isDir ? target : dirname(target), { recursive: true });
  cpSync(src, target, {
    recursive: true,
    dereference: true,
    filter: (p) =>
      contextRel === undefined ? true : !dockerIgnored(ignorePatterns, join(contextRel, relative(src, p)).replace(/\/$/, '') || contextRel),
  });
}

async function sh(script: string, cwd: string, env: Record<string, string>, where: string): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)('sh', ['-c', script], {
      cwd,
      timeout: 120_000,
      maxBuffer: 16 << 20,
      env: {
        ...process.env,
        ...env,
        npm_config_prefer_offline: 'true',
        npm_config_update_notifier: 'false',
        npm_config_fund: 'false',
        npm_config_audit: 'false',
      },
    });
    captureChildOutput(`dockerfile ${where}`, stdout); // log hygiene
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${where}: RUN ${script}\n${e.stderr ?? e.message}`, { cause: err });
  }
}

/**
 * Runs one stage in `<work>/<stage name>` as its root: WORKDIR, ENV, COPY from the context or an
 * earlier stage, RUN through sh. `runFilter` may replace a RUN (return true when handled).
 */
async function emulateStage(
  stage: Stage,
  runFilter: (run: string, cwd: string) => boolean | Promise<boolean>,
): Promise<{ root: string; cwd: string; env: Record<string, string> }> {
  const root = join(work, stage.name);
  let cwd = root;
  const env: Record<string, string> = {};
  mkdirSync(root, { recursive: true });
  const inRoot = (base: string, p: string) => (isAbsolute(p) ? join(base, p) : join(cwd, p));
  for (const i of stage.instrs) {
    if (i.cmd === 'WORKDIR') {
      cwd = inRoot(root, i.text);
      mkdirSync(cwd, { recursive: true });
    } else if (i.cmd === 'ENV') {
      const [k, v] = i.text.split('=');
      env[k!] = v!;
    } else if (i.cmd === 'COPY') {
      const c = parseCopy(i.text);
      for (const src of c.srcs) {
        // From an earlier stage (a scratch directory used once): move instead of copying.
        if (c.from) {
          const to = inRoot(root, c.dest).replace(/\/$/, '');
          mkdirSync(dirname(to), { recursive: true });
          renameSync(join(work, c.from, src), to);
        } else dockerCopy(join(ROOT, src), inRoot(root, c.dest), src.replace(/\/$/, ''));
      }
    } else if (i.cmd === 'RUN') {
      if (await runFilter(i.text, cwd)) continue;
      await sh(i.text, cwd, env, `stage ${stage.name}, line ${i.line}`);
    }
  }
  return { root, cwd, env };
}

test(
  'emulated image build: compile, production-only npm ci, then the read-only runtime tree serves a real gRPC Check',
  { timeout: 150_000 },
  async () => {
    // build stage, with two stand-ins that keep this test fast: `npm ci` (dev dependencies) is the
    // repository's node_modules (made by `npm ci` from the same lockfile), and the compiler output
    // is the repository's dist/src (compiled by `npm test`'s pretest from the same sources). The
    // compile RUN still runs, with --listFilesOnly: its generated tsconfig must select src/ only.
    // The other stages (deps) run their RUNs as written, at the same time, like BuildKit.
    const build = dockerfile.stages.find((s) => s.instrs.some((i) => i.cmd === 'RUN' && /\btsc\b/.test(i.text)))!;
    await Promise.all([
      emulateStage(build, async (run, cwd) => {
        if (/^npm ci\b/.test(run)) {
          assert.doesNotMatch(run, /--omit=dev/);
          symlinkSync(join(ROOT, 'node_modules'), join(cwd, 'node_modules'), 'dir');
          return true;
        }
        if (!/\btsc\b/.test(run)) return false;
        const listed = (await sh(run.replace(/(\bnpx tsc\b[^&|;]*)/, '$1 --listFilesOnly'), cwd, {}, 'build stage compile'))
          .split('\n')
          .filter((f) => f && !f.includes('/node_modules/'))
          .map((f) => relative(cwd, f));
        assert.ok(
          listed.includes('src/cli/main.ts') && listed.includes('src/webhook/server.ts'),
          `compiles src/: ${listed.slice(0, 5).join(', ')}`,
        );
        assert.deepEqual(
          listed.filter((f) => !f.startsWith('src/')),
          [],
          'compiles nothing but src/',
        );
        cpSync(join(ROOT, 'dist', 'src'), join(cwd, 'dist', 'src'), { recursive: true });
        return true;
      }),
      ...dockerfile.stages
        .slice(0, -1)
        .filter((s) => s !== build)
        .map((s) => emulateStage(s, () => false)),
    ]);
    // runtime stage: COPYs only (it has no RUN).
    const rt = await emulateStage(runtime, () => assert.fail('RUN in the runtime stage'));

    // Production-only: no dev dependency made it in.
    const nm = join(rt.cwd, 'node_modules');
    for (const dev of ['typescript', 'oidc-provider', '@bitnami/readme-generator-for-helm', 'fast-json-patch']) {
      assert.ok(!existsSync(join(nm, dev)), `dev dependency ${dev} absent from the image`);
    }
    for (const dep of ['@grpc/grpc-js', 'jose', 'prom-client']) assert.ok(existsSync(join(nm, dep)), `${dep} present`);
    assert.ok(
      !existsSync(join(rt.cwd, 'test')) && !existsSync(join(rt.cwd, 'dist', 'test')) && !existsSync(join(rt.cwd, 'src')),
      'only dist/src, no sources or tests',
    );

    // Configuration: one issuer (inline JWKS), one ALLOW policy for its tokens.
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'img', alg: 'ES256', use: 'sig' };
    const [grpcPort, httpPort, adminPort] = [await freePort(), await freePort(), await freePort()];
    const configFile = join(work, 'config.yaml');
    writeFileSync(
      configFile,
      JSON.stringify({
        server: { grpc: `127.0.0.1:${grpcPort}`, http: `127.0.0.1:${httpPort}`, admin: `127.0.0.1:${adminPort}`, drainSeconds: 1 },
        issuers: [{ issuer: 'https://idp.image.test', jwks: { keys: [jwk] }, audiences: ['orders'] }],
        policies: [
          {
            name: 'orders-read',
            action: 'ALLOW',
            rules: [{ from: [{ source: { requestPrincipals: ['https://idp.image.test/*'] } }], to: [{ operation: { methods: ['GET'] } }] }],
          },
        ],
        log: { level: 'warn' },
      }),
    );

    // readOnlyRootFilesystem: the whole runtime tree loses its write bits. Root ignores them, so
    // under root the process runs as the image's USER, as in the cluster.
    readOnlyRoot = rt.root;
    setTreeWritable(rt.root, false);
    chmodSync(work, 0o755); // mkdtemp's 0700 would keep that user from the tree and the config
    const [uid, gid] = runtime.instrs
      .filter((i) => i.cmd === 'USER')
      .at(-1)!
      .text.split(':')
      .map(Number);
    const asImageUser = process.getuid?.() === 0 ? { uid: uid!, gid: gid ?? uid! } : {};
    // The image's own node binary (/nodejs/bin/node) is readable by its USER; ours may sit where that
    // user cannot reach it (Node 24 from scripts/node24.sh lives under root's 0700 home). So under
    // root the image user runs a link (or copy) of this node outside the read-only tree.
    const node = asImageUser.uid === undefined ? process.execPath : imageNode(process.execPath);
    const write = spawnSync(
      node,
      ['-e', 'require("node:fs").writeFileSync(process.argv[1], "x")', join(rt.cwd, 'dist', 'written-at-run-time')],
      { ...asImageUser, encoding: 'utf8', timeout: 60_000 },
    );
    assert.equal(write.error, undefined, `the write attempt started (${String(write.error ?? '')})`);
    assert.equal(write.signal, null, 'the write attempt ran to its end');
    assert.notEqual(write.status, 0, 'the emulated root filesystem is really read-only for the process');
    assert.match(write.stderr, /EACCES|EROFS|EPERM/);

    // Start it the way the image does: ENTRYPOINT (node → this node binary) + our args for CMD.
    const ep = jsonArray(runtime.instrs.filter((i) => i.cmd === 'ENTRYPOINT').at(-1)!.text);
    const stderr: string[] = [];
    child = spawn(node, [...ep.slice(1), '--config', configFile], {
      ...asImageUser,
      cwd: rt.cwd,
      env: { PATH: process.env.PATH ?? '', ...rt.env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    captureChild('zt-authz serve (image)', child); // log hygiene
    child.stderr!.on('data', (d: Buffer) => stderr.push(d.toString()));
    const exited = new Promise<number | null>((resolve) => child!.on('exit', (code) => resolve(code)));
    await waitUntil(
      async () => {
        if (child!.exitCode !== null) throw new Error(`serve exited ${child!.exitCode}: ${stderr.join('')}`);
        try {
          return (await fetch(`http://127.0.0.1:${adminPort}/readyz`, { signal: AbortSignal.timeout(1000) })).status === 200;
        } catch {
          return false;
        }
      },
      20_000,
      'the runtime tree to be ready',
    );

    const token = await new SignJWT({ scope: 'orders:read' })
      .setProtectedHeader({ alg: 'ES256', kid: 'img' })
      .setIssuer('https://idp.image.test')
      .setSubject('alice')
      .setAudience('orders')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
    const client = authV3Client(grpcPort);
    try {
      const allow = await check(client, checkRequest({ token }));
      assert.equal(allow.status?.code ?? 0, 0, 'allowed');
      const deny = await check(client, checkRequest({}));
      assert.notEqual(deny.status?.code ?? 0, 0, 'no token: denied');
    } finally {
      closeAll(client);
    }
    child.kill('SIGTERM');
    assert.equal(await exited, 0, 'drains and exits 0 on SIGTERM');
  },
);
