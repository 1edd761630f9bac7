// Whole-suite output capture for the log-hygiene check (test/final/log-hygiene.test.ts).
//
// `npm test` (scripts/test.mjs) creates a fresh directory, exports it as ZT_TEST_CAPTURE_DIR and
// tees node's test-runner output into it. Everything else a test produces that never reaches the
// runner's output is written there by these helpers:
//  - in-process apps' log lines (test/helpers/app.ts captureStream) → app-<pid>.log;
//  - output of child processes (runCli, spawned `zt-authz serve`/demo, helm, …) → child-*.log;
//  - every token, private key and HMAC secret the test helpers mint → secrets/<pid>.jsonl, so the
//    scan can look for them (or fragments of them) verbatim, not only for their usual shapes.
// The last test file of the run scans the directory (scanCaptureDir) and fails on any token,
// private key or registered secret. Output that prints a token on purpose (`zt-authz token`, the
// demo banner) is declared at the capture call (`Printed`): the printed values are replaced by a
// placeholder in that one capture file and counted as an exemption, so the same token anywhere
// else still fails the scan.
//
// Without ZT_TEST_CAPTURE_DIR (a single file run with `node --test`) every function is a no-op.
import { appendFileSync, closeSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { createHash, createPrivateKey, KeyObject, type webcrypto } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import type { ChildProcess } from 'node:child_process';

export const CAPTURE_DIR: string | undefined = process.env.ZT_TEST_CAPTURE_DIR || undefined;
/** Sub-directories holding registered secrets and exemption records: never scanned themselves. */
export const SECRETS_DIR = 'secrets';
export const EXEMPTIONS_DIR = 'exemptions';

/** Fragment length for registered secrets, and the shortest registered value searched verbatim. */
const FRAG = 24;
const STEP = 12;
const MIN_SHORT = 12;

export type Kind = 'jwt' | 'pem' | 'jwk' | 'secret';

/** Output that contains sensitive values by design (declared where it is captured). */
export interface Printed {
  /** Why this output may hold them; listed by the hygiene test. */
  reason: string;
  /** Shapes allowed in this one output. Default ['jwt']. */
  kinds?: Kind[];
  /** Exact values allowed in this one output (in addition to `kinds`). */
  values?: string[];
}

// ---------------------------------------------------------------------------------- writing

/** Writers for one capture directory (the run's, or a scratch one in the scanner's self-check). */
export class Capture {
  private readonly fds = new Map<string, number>();
  private readonly registered = new Set<string>();
  private readonly sinks = new Set<LineSink>();
  private seq = 0;

  constructor(readonly dir: string | undefined) {
    if (dir) process.on('exit', () => this.close());
  }

  /** Append to a file; `keepOpen` for the few files written all the time (app log, records). */
  append(rel: string, text: string, keepOpen = false): void {
    if (!this.dir || !text) return;
    if (!keepOpen) {
      const path = join(this.dir, rel);
      mkdirSync(dirname(path), { recursive: true });
      appendFileSync(path, text);
      return;
    }
    let f = this.fds.get(rel);
    if (f === undefined) {
      const path = join(this.dir, rel);
      mkdirSync(dirname(path), { recursive: true });
      f = openSync(path, 'a');
      this.fds.set(rel, f);
    }
    writeSync(f, text);
  }

  /** A log chunk from an in-process app (one or more '\n'-terminated JSON lines). */
  log(chunk: string): void {
    this.append(`app-${process.pid}.log`, chunk.endsWith('\n') ? chunk : `${chunk}\n`, true);
  }

  /** Output of a child process that has finished (e.g. execFile's stdout or stderr). */
  childOutput(name: string, text: string | Buffer | undefined | null, printed?: Printed): void {
    if (!this.dir || text === undefined || text === null) return;
    const s = String(text);
    if (s) this.append(`child-${process.pid}-${++this.seq}-${slug(name)}.log`, this.exempt(s, printed, name));
  }

  child(name: string, child: ChildProcess, printed: { stdout?: Printed; stderr?: Printed } = {}): void {
    if (!this.dir) return;
    const n = ++this.seq;
    for (const which of ['stdout', 'stderr'] as const) {
      const stream = child[which];
      if (!stream) continue;
      const sink = new LineSink((text) =>
        this.append(`child-${process.pid}-${n}-${slug(name)}.${which}.log`, this.exempt(text, printed[which], name)),
      );
      this.sinks.add(sink);
      stream.on('data', (d: Buffer | string) => sink.push(d));
      stream.on('close', () => {
        sink.end();
        this.sinks.delete(sink);
      });
    }
  }

  /** Record a secret's searchable forms (values shorter than MIN_SHORT are not searchable). */
  register(kind: string, label: string, values: Array<string | undefined>): void {
    if (!this.dir) return;
    // A value of one repeated character (an all-zero signature in an attack test) holds no secret,
    // and fuzzers print such runs ("AAAA…") on purpose: searching for it only finds false leaks.
    const vals = [...new Set(values.filter((v): v is string => typeof v === 'string' && v.length >= MIN_SHORT && !/^(.)\1*$/s.test(v)))];
    if (!vals.length) return;
    const id = sha12(vals.join('\n'));
    if (this.registered.has(id)) return;
    this.registered.add(id);
    this.append(join(SECRETS_DIR, `${process.pid}.jsonl`), `${JSON.stringify({ kind, label: `${label} ${id}`, values: vals })}\n`, true);
  }

  token<T extends string>(token: T, key?: unknown): T {
    if (!this.dir) return token;
    const parts = token.split('.');
    if (parts.length === 3) this.register('token', 'token signature', [parts[2]]);
    if (key instanceof Uint8Array) this.hmacSecret(key);
    return token;
  }

  hmacSecret(secret: Uint8Array | string): void {
    if (!this.dir) return;
    const buf = Buffer.from(secret);
    const text = buf.toString('utf8');
    // Alg-confusion tests "sign" with a public key PEM as the HMAC secret: public, not a secret.
    if (/-----BEGIN (RSA )?PUBLIC KEY-----/.test(text)) return;
    const printable = /^[\x20-\x7e]+$/.test(text);
    this.register('hmac', 'HMAC secret', [
      printable ? text : undefined,
      buf.toString('base64url'),
      buf.toString('base64').replace(/=+$/, ''),
      buf.toString('hex'),
    ]);
  }

  privateKey(key: unknown): void {
    if (!this.dir || !key) return;
    let obj: KeyObject | undefined;
    let jwk: Record<string, unknown>;
    try {
      if (isJwk(key)) {
        jwk = key;
        if (key.kty !== 'oct') obj = createPrivateKey({ key, format: 'jwk' });
      } else {
        obj = key instanceof KeyObject ? key : KeyObject.from(key as webcrypto.CryptoKey);
        jwk = obj.export({ format: 'jwk' });
      }
    } catch {
      return; // not an exportable key: nothing we could search for
    }
    const members = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'].map((m) => (typeof jwk[m] === 'string' ? jwk[m] : undefined));
    const b64 = members.map((m) => (m ? Buffer.from(m, 'base64url').toString('base64').replace(/=+$/, '') : undefined));
    let pkcs8: string | undefined;
    if (obj?.type === 'private' && obj.asymmetricKeyType === 'rsa') {
      // The first half holds the DER prefix (the same for every RSA key) and the public modulus;
      // the second half only private values. (An EC key's PKCS#8 ends with its public point.)
      const body = (obj.export({ type: 'pkcs8', format: 'pem' }) as string).replace(/-----[^-]+-----|\s/g, '');
      pkcs8 = body.slice(Math.floor(body.length / 2));
    }
    this.register('private-key', 'private key', [...members, ...b64, pkcs8]);
  }

  /** Replace what `printed` allows in `text` by placeholders; record how many. */
  exempt(text: string, printed: Printed | undefined, name: string): string {
    if (!printed) return text;
    const kinds = new Set(printed.kinds ?? ['jwt']);
    let count = 0;
    let out = text;
    for (const v of printed.values ?? []) {
      if (!v) continue;
      const parts = out.split(v);
      count += parts.length - 1;
      out = parts.join(`[printed on purpose: ${sha12(v)}]`);
    }
    const lines = out.split('\n').map((line) => {
      const hits = detect(line).filter((h) => kinds.has(h.kind));
      if (!hits.length) return line;
      hits.sort((a, b) => b.index - a.index);
      let s = line;
      let lastStart = Infinity;
      for (const h of hits) {
        if (h.index + h.length > lastStart) continue; // overlaps a hit already replaced
        const value = s.slice(h.index, h.index + h.length);
        // A token printed on purpose is still registered: its signature anywhere else is a leak.
        if (h.kind === 'jwt') this.token(value);
        s = `${s.slice(0, h.index)}[printed on purpose: ${h.kind} ${sha12(value)}]${s.slice(h.index + h.length)}`;
        lastStart = h.index;
        count++;
      }
      return s;
    });
    if (count) this.append(join(EXEMPTIONS_DIR, `${process.pid}.jsonl`), `${JSON.stringify({ name, reason: printed.reason, count })}\n`);
    return lines.join('\n');
  }

  /** Flush streamed child output and close every file (also done at process exit). */
  close(): void {
    for (const s of this.sinks) s.end();
    this.sinks.clear();
    for (const f of this.fds.values()) closeSync(f);
    this.fds.clear();
  }
}

/** Passes on whole lines (exemptions apply per line; a token never spans lines). */
class LineSink {
  private pending = '';
  private ended = false;
  private readonly decoder = new StringDecoder('utf8');
  constructor(private readonly write: (text: string) => void) {}
  push(d: Buffer | string): void {
    if (this.ended) return;
    this.pending += typeof d === 'string' ? d : this.decoder.write(d);
    const cut = this.pending.lastIndexOf('\n');
    if (cut < 0 && this.pending.length < 1 << 20) return;
    const upTo = cut < 0 ? this.pending.length : cut + 1;
    this.write(this.pending.slice(0, upTo));
    this.pending = this.pending.slice(upTo);
  }
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.pending += this.decoder.end();
    if (this.pending) this.write(this.pending);
    this.pending = '';
  }
}

const slug = (name: string): string =>
  name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 40) || 'output';
const sha12 = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 12);

function isJwk(k: unknown): k is Record<string, unknown> {
  return typeof k === 'object' && k !== null && !(k instanceof KeyObject) && typeof (k as { kty?: unknown }).kty === 'string';
}

/** This run's capture (no-op without ZT_TEST_CAPTURE_DIR). */
export const capture = new Capture(CAPTURE_DIR);

/** A log chunk from an in-process app. */
export const captureLog = (chunk: string): void => capture.log(chunk);
/** Output of a finished child process (stdout or stderr text); `printed` declares intended tokens. */
export const captureChildOutput = (name: string, text: string | Buffer | undefined | null, printed?: Printed): void =>
  capture.childOutput(name, text, printed);
/**
 * Stream a spawned child's piped stdout/stderr into the capture directory while it runs. Adds
 * 'data' listeners only: the caller's own reading is unaffected, and pausing the stream (as
 * test/log-bounds does) still stops the flow.
 */
export const captureChild = (name: string, child: ChildProcess, printed?: { stdout?: Printed; stderr?: Printed }): void =>
  capture.child(name, child, printed);
/**
 * A minted JWT: its signature (and payload.signature) are searched for anywhere in the output, so
 * a truncated or partial print is found too. Returns the token. An HMAC key in `key` is registered.
 */
export const registerToken = <T extends string>(token: T, key?: unknown): T => capture.token(token, key);
/** HMAC secret bytes: raw text (when printable), base64url, base64 and hex forms. */
export const registerHmacSecret = (secret: Uint8Array | string): void => capture.hmacSecret(secret);
/** A private key (CryptoKey, KeyObject or private JWK): its private JWK members and PKCS#8 body. */
export const registerPrivateKey = (key: unknown): void => capture.privateKey(key);

// ------------------------------------------------------------------------------- detecting

const RE_JWT = /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g;
const RE_PEM = /-----BEGIN ((?:RSA |EC |DSA |ENCRYPTED |OPENSSH )?PRIVATE KEY)-----/g;
// base64 of "-----BEGIN" (a PEM inside a Kubernetes Secret's data, a base64 env value, …)
const RE_PEM_B64 = /LS0tLS1CRUdJTi[A-Za-z0-9+/]{20,}={0,2}/g;
// Private JWK members as JSON (possibly escaped inside another JSON string) or util.inspect output.
const RE_JWK_JSON = /\\?"(d|p|q|dp|dq|qi|k)\\?"\s*:\s*\\?"([A-Za-z0-9_-]{20,})/g;
const RE_JWK_INSPECT = /\b(d|p|q|dp|dq|qi|k): '([A-Za-z0-9_-]{40,})'/g;
const RE_RUN = /[A-Za-z0-9+/_-]{24,}/g;

export interface Hit {
  kind: Kind;
  index: number;
  length: number;
  what: string;
}

/** Registered secrets, prepared for scanning: fragments of long values, short values verbatim. */
export interface Needles {
  frags: Map<string, string>;
  short: Array<{ value: string; label: string }>;
  count: number;
}

export function needlesFrom(records: Array<{ label: string; values: string[] }>): Needles {
  const n: Needles = { frags: new Map(), short: [], count: records.length };
  for (const r of records) {
    for (const v of r.values) {
      if (v.length >= FRAG && /^[A-Za-z0-9+/_-]+$/.test(v)) {
        // Every STEP chars: any printed piece of FRAG + STEP - 1 chars or more holds one.
        for (let at = 0; at + FRAG <= v.length; at += STEP) n.frags.set(v.slice(at, at + FRAG), r.label);
        n.frags.set(v.slice(-FRAG), r.label);
      } else if (v.length >= MIN_SHORT) n.short.push({ value: v, label: r.label });
    }
  }
  return n;
}

/** Every sensitive value in one line of text. */
export function detect(line: string, needles?: Needles): Hit[] {
  const hits: Hit[] = [];
  for (const m of line.matchAll(RE_JWT)) hits.push({ kind: 'jwt', index: m.index, length: m[0].length, what: 'JWT' });
  for (const m of line.matchAll(RE_PEM)) hits.push({ kind: 'pem', index: m.index, length: m[0].length, what: `PEM ${m[1]}` });
  for (const m of line.matchAll(RE_PEM_B64)) {
    const decoded = Buffer.from(m[0], 'base64').toString('latin1');
    if (/PRIVATE KEY-----/.test(decoded))
      hits.push({ kind: 'pem', index: m.index, length: m[0].length, what: 'base64-encoded PEM private key' });
  }
  for (const re of [RE_JWK_JSON, RE_JWK_INSPECT]) {
    for (const m of line.matchAll(re)) {
      // An oct key's "k"; RSA/EC private members otherwise.
      hits.push({ kind: 'jwk', index: m.index, length: m[0].length, what: `private JWK member "${m[1]}"` });
    }
  }
  if (needles) {
    if (needles.frags.size) {
      for (const m of line.matchAll(RE_RUN)) {
        const run = m[0];
        for (let i = 0; i + FRAG <= run.length; i++) {
          const label = needles.frags.get(run.slice(i, i + FRAG));
          if (label) {
            hits.push({ kind: 'secret', index: m.index + i, length: FRAG, what: `registered ${label}` });
            break;
          }
        }
      }
    }
    for (const s of needles.short) {
      const at = line.indexOf(s.value);
      if (at >= 0) hits.push({ kind: 'secret', index: at, length: s.value.length, what: `registered ${s.label}` });
    }
  }
  return hits;
}

// -------------------------------------------------------------------------------- scanning

export interface Finding {
  file: string;
  line: number;
  kind: Kind;
  what: string;
  /** The line around the hit, with the hit and any other long base64-ish run redacted. */
  excerpt: string;
}

export interface ScanReport {
  files: number;
  bytes: number;
  /** Lines captured from in-process apps, child processes and the test runner. */
  appLines: number;
  childFiles: number;
  childLines: number;
  runnerLines: number;
  secretsRegistered: number;
  exemptions: Array<{ name: string; reason: string; count: number }>;
  findings: Finding[];
}

/** `abcdef…[342 chars, sha256 0123456789ab]`: enough to find the value again, not to use it. */
export function redact(value: string): string {
  return `${value.slice(0, 6)}…[${value.length} chars, sha256 ${sha12(value)}]`;
}

function excerpt(line: string, h: Hit): string {
  const before = line.slice(Math.max(0, h.index - 60), h.index);
  const after = line.slice(h.index + h.length, h.index + h.length + 60);
  const mask = (s: string): string => s.replace(/[A-Za-z0-9+/_-]{16,}/g, (r) => `${r.slice(0, 4)}…`);
  return `${mask(before)}«${redact(line.slice(h.index, h.index + h.length))}»${mask(after)}`;
}

function walk(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.isFile()) out.push(p);
  }
  return out;
}

function readJsonl<T>(dir: string): T[] {
  let files: string[];
  try {
    files = walk(dir);
  } catch {
    return [];
  }
  const out: T[] = [];
  for (const f of files) {
    for (const l of readFileSync(f, 'utf8').split('\n')) {
      if (!l.trim()) continue;
      try {
        out.push(JSON.parse(l) as T);
      } catch {
        // a record cut by a process killed mid-write: ignore
      }
    }
  }
  return out;
}

/** Scan every capture file (not the secrets/exemptions records) for tokens, keys and secrets. */
export function scanCaptureDir(dir: string): ScanReport {
  const secrets = readJsonl<{ label: string; values: string[] }>(join(dir, SECRETS_DIR));
  const needles = needlesFrom(secrets);
  const exemptions = new Map<string, { name: string; reason: string; count: number }>();
  for (const e of readJsonl<{ name: string; reason: string; count: number }>(join(dir, EXEMPTIONS_DIR))) {
    const k = `${e.name}\0${e.reason}`;
    const cur = exemptions.get(k) ?? { name: e.name, reason: e.reason, count: 0 };
    cur.count += e.count;
    exemptions.set(k, cur);
  }
  const report: ScanReport = {
    files: 0,
    bytes: 0,
    appLines: 0,
    childFiles: 0,
    childLines: 0,
    runnerLines: 0,
    secretsRegistered: needles.count,
    exemptions: [...exemptions.values()],
    findings: [],
  };
  const meta = [join(dir, SECRETS_DIR), join(dir, EXEMPTIONS_DIR)];
  for (const file of walk(dir).sort()) {
    if (meta.some((m) => file.startsWith(m + '/'))) continue;
    const rel = relative(dir, file);
    const text = readFileSync(file, 'utf8');
    report.files++;
    report.bytes += statSync(file).size;
    const lines = text.split('\n');
    const n = lines.length - (text.endsWith('\n') ? 1 : 0);
    if (rel.startsWith('app-')) report.appLines += n;
    else if (rel.startsWith('child-')) {
      report.childFiles++;
      report.childLines += n;
    } else if (rel.startsWith('runner')) report.runnerLines += n;
    lines.forEach((line, i) => {
      for (const h of detect(line, needles))
        report.findings.push({ file: rel, line: i + 1, kind: h.kind, what: h.what, excerpt: excerpt(line, h) });
    });
  }
  return report;
}
