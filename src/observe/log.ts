// Operational logging (pino, JSON lines). Audit records share the stream but carry
// `logger: "audit"`; operational lines carry `logger: "ops"`. The field was `log` until the
// log format changed: a top-level `log` string clashes with ECS's `log.*` object (log.level,
// log.logger) and OpenTelemetry's `log.*` attributes, so pipelines rejected or mis-mapped it;
// `logger` maps onto ECS `log.logger` and Datadog `logger.name` with one rename
// (docs/observability.md). Nothing here ever receives a token: callers pass reason codes and
// short hashes, and the key censoring (log-censor.ts, redact paths) is a second line of defence.
//
// Bounded under load: logging must never be what takes the service down:
//  - stdout is written asynchronously (sonic-boom) with at most `log.maxBufferBytes` waiting in
//    memory. When the reader of stdout stalls (a log collector stops reading the pipe), lines
//    beyond that bound are dropped and counted (zt_authz_log_dropped_total{reason="buffer_full"})
//    instead of growing the heap until the process dies; Checks keep being answered.
//  - repeated operational warnings and errors (the ones a bad request or a failing dependency
//    can trigger on every request) are rate-limited per message: after `perMessage` lines in a
//    window the rest are counted (reason="rate_limited") and summarised in one line at the
//    window's end. Audit records are never rate-limited: every deny is recorded, allows are
//    sampled by audit.allowSampleRate (src/observe/audit.ts); only the buffer bound drops them.
import { pino, type Logger, type DestinationStream, type LogFn } from 'pino';
import { DEFAULT_MAX_BUFFER_BYTES } from '../config/defaults.js';
import { keyCensor } from './log-censor.js';

export type { Logger };

/**
 * Key names whose value is a credential wherever it appears. The any-depth pass matches them in
 * any letter case; pino's top-level paths match exactly, hence the casings that occur in headers
 * and configs.
 */
export const SECRET_KEYS: readonly string[] = [
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'accessToken',
  'refreshToken',
  'idToken',
  'authorization',
  'Authorization',
  'proxy-authorization',
  'cookie',
  'Cookie',
  'set-cookie',
  'password',
  'passwd',
  'secret',
  'client_secret',
  'clientSecret',
  'apiKey',
  'api_key',
  'x-api-key',
  'X-Api-Key',
  'privateKey',
  'private_key',
  'hmacSecret',
];

/**
 * pino `redact` paths for the operational logger: the top level only. `key` and `jwks` are
 * redacted there and nowhere else (too generic for every depth, where they name header entries
 * and maps); the SECRET_KEYS are censored at every depth, in any letter case, by CENSOR_KEYS
 * (log-censor.ts) before pino sees the object, and listed here too so a top-level credential is
 * censored even in what a serializer returns.
 * No wildcard paths: each one made @pinojs/redact clone and walk every top-level value of every
 * line (the figures next to createLogger), and a `*` is one level, so they could never reach
 * "any depth" anyway.
 * What neither can do, and so what callers must still never hand the logger: a credential inside
 * a string (the message, an error's message or stack, a URL's query) or under another name
 * (`{ key: 'authorization', value: ... }` header lists) is not found; values are replaced, not
 * inspected.
 */
export function redactPaths(keys: readonly string[] = SECRET_KEYS): string[] {
  // Hyphenated header names need the bracket form (`["x-api-key"]`).
  return ['key', 'jwks', ...keys.map((k) => (/^[A-Za-z_$][\w$]*$/.test(k) ? k : `[${JSON.stringify(k)}]`))];
}

const REDACT = redactPaths();
const CENSOR = '[redacted]';
/** SECRET_KEYS censored at any depth, case-insensitively, in logged objects and child bindings. */
const CENSOR_KEYS = keyCensor(SECRET_KEYS, CENSOR);

/**
 * The audit logger keeps the exact top-level list: audit records have fixed fields
 * (audit-record.ts) that never carry a credential, and `api_key` there is the key entry's
 * *name*; audit-line.ts writes the same bytes without pino, which holds only while no audit
 * field is redacted.
 */
const AUDIT_REDACT = ['token', 'authorization', 'headers.authorization', 'req.headers.authorization', 'secret', 'key', 'jwks'];

export type LogKind = 'ops' | 'audit';
export type DropReason = 'buffer_full' | 'rate_limited';
/** Told about every line that was not written. */
export type DropListener = (log: LogKind, reason: DropReason) => void;

export interface RateLimit {
  /** Lines of one message (same level and text) per window; the rest are suppressed. */
  perMessage: number;
  windowMs: number;
  /** Clock (tests). */
  now?: () => number;
}

export const DEFAULT_RATE_LIMIT: RateLimit = { perMessage: 20, windowMs: 10_000 };

/** Distinct messages tracked per window; more share one budget (messages can embed values). */
const MAX_TRACKED = 1000;

/**
 * Asynchronous stdout with a bounded buffer. sonic-boom's `maxLength` drops (and reports) a
 * write that would take the buffered bytes past the bound; buffering resumes once the reader
 * catches up.
 */
export function stdoutDestination(opts: { maxBufferBytes?: number; onDrop?: DropListener; fd?: number } = {}): DestinationStream {
  const dest = pino.destination({ dest: opts.fd ?? 1, sync: false, maxLength: opts.maxBufferBytes ?? DEFAULT_MAX_BUFFER_BYTES });
  const onDrop = opts.onDrop;
  if (onDrop) dest.on('drop', (data: unknown) => onDrop(kindOf(data), 'buffer_full'));
  return dest;
}

/** pino writes one line per write; `logger` comes right after level and time. */
function kindOf(line: unknown): LogKind {
  return String(line).slice(0, 128).includes('"logger":"audit"') ? 'audit' : 'ops';
}

export interface LoggerOptions {
  onDrop?: DropListener;
  /** Rate limit for warn/error/fatal lines; `false` turns it off. Default DEFAULT_RATE_LIMIT. */
  rateLimit?: RateLimit | false;
}

export function createLogger(level: string, dest?: DestinationStream, opts: LoggerOptions = {}): Logger {
  const limit = opts.rateLimit === undefined ? DEFAULT_RATE_LIMIT : opts.rateLimit;
  const logger = pino(
    {
      level,
      base: { logger: 'ops' },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Every line's object goes through CENSOR_KEYS (child bindings: censorBindings). One log
      // call to a no-op stream, median of 7 loops, Node 20.20, shared 2-core machine; previous
      // config (127 redact paths, `*` down to 4 levels) / no redaction at all / this config:
      //   4 scalar fields + msg        125 µs / 3.0 µs / 3.0 µs
      //   3-level object + 1 field     209 µs / 2.5 µs / 2.9 µs
      //   message only                  20 µs / 0.9 µs / 1.2 µs
      //   6-level object                61 µs / 1.7 µs / 2.6 µs
      // The wildcard paths were the cost (@pinojs/redact clones and walks each top-level value
      // once per line through all of them); the any-depth walk is a key lookup per key.
      formatters: { level: (label) => ({ level: label }), log: CENSOR_KEYS },
      redact: { paths: REDACT, censor: CENSOR },
      ...(limit ? { hooks: { logMethod: rateLimited(limit, opts.onDrop) } } : {}),
    },
    dest ?? stdoutDestination(opts.onDrop ? { onDrop: opts.onDrop } : {}),
  );
  censorBindings(logger);
  return logger;
}

/**
 * pino applies `formatters.bindings` to the root logger's base only (children get an identity
 * formatter), so the bindings of child() and setBindings() are censored here. Children are
 * created with Object.create(parent) and so inherit these wrappers, at every generation.
 */
function censorBindings(logger: Logger): void {
  // pino's generic child() signature does not survive a wrapper; the arguments pass through as is.
  type Child = (this: Logger, bindings: pino.Bindings, options?: pino.ChildLoggerOptions) => Logger;
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called with .call(this, ...)
  const child = logger.child as unknown as Child;
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called with .call(this, ...)
  const setBindings = logger.setBindings;
  const censored: Child = function (bindings, options) {
    return child.call(this, CENSOR_KEYS(bindings), options);
  };
  logger.child = censored as unknown as Logger['child'];
  logger.setBindings = function (this: Logger, bindings: pino.Bindings) {
    setBindings.call(this, CENSOR_KEYS(bindings));
  };
}

/** Audit logger: always at info so operators' log level never hides decisions. Never rate-limited. */
export function createAuditLogger(dest?: DestinationStream, opts: { onDrop?: DropListener } = {}): Logger {
  const stream = dest ?? stdoutDestination(opts.onDrop ? { onDrop: opts.onDrop } : {});
  const logger = pino(
    {
      level: 'info',
      base: { logger: 'audit' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: AUDIT_REDACT, censor: CENSOR },
    },
    stream,
  );
  auditStreams.set(logger, stream);
  return logger;
}

/** The streams of the loggers createAuditLogger made, whose line format audit-line.ts reproduces. */
const auditStreams = new WeakMap<Logger, DestinationStream>();

/**
 * The stream an audit logger writes to, when it is one createAuditLogger made (audit.ts writes
 * the same lines to it directly, observe/audit-line.ts); undefined for any other logger, which is
 * then called as usual.
 */
export function auditStreamOf(logger: Logger): DestinationStream | undefined {
  return auditStreams.get(logger);
}

const WARN = 40;

interface Window {
  start: number;
  count: number;
  suppressed: number;
  timer?: NodeJS.Timeout;
}

/**
 * pino logMethod hook: lets at most `perMessage` warn-or-worse lines of one message through per
 * window. When a window in which lines were suppressed ends, one line says how many.
 */
function rateLimited(
  limit: RateLimit,
  onDrop: DropListener | undefined,
): (this: Logger, args: Parameters<LogFn>, method: LogFn, level: number) => void {
  const now = limit.now ?? Date.now;
  const windows = new Map<string, Window>();

  const summarise = (key: string, logger: Logger, method: LogFn, msg: string): void => {
    const w = windows.get(key);
    windows.delete(key);
    if (w?.suppressed)
      method.call(
        logger,
        { suppressed: w.suppressed, windowSeconds: limit.windowMs / 1000 },
        `repeated log line suppressed ${w.suppressed} time(s): ${msg}`,
      );
  };

  return function (this: Logger, args, method, level) {
    if (level < WARN) return method.apply(this, args);
    const msg = typeof args[0] === 'string' ? args[0] : typeof args[1] === 'string' ? args[1] : '';
    let key = `${level}:${msg}`;
    const t = now();
    let w = windows.get(key);
    if (w && t - w.start >= limit.windowMs) {
      if (w.timer) clearTimeout(w.timer);
      summarise(key, this, method, msg);
      w = undefined;
    }
    if (!w) {
      if (windows.size >= MAX_TRACKED) {
        for (const [k, old] of windows) if (!old.suppressed && t - old.start >= limit.windowMs) windows.delete(k);
        if (windows.size >= MAX_TRACKED) key = `${level}:*`;
      }
      w = windows.get(key);
      if (!w) windows.set(key, (w = { start: t, count: 0, suppressed: 0 }));
    }
    if (++w.count <= limit.perMessage) return method.apply(this, args);
    w.suppressed++;
    onDrop?.('ops', 'rate_limited');
    if (!w.timer) {
      w.timer = setTimeout(
        () => summarise(key, this, method, key.endsWith(':*') ? '(several messages)' : msg),
        Math.max(0, w.start + limit.windowMs - t),
      );
      w.timer.unref();
    }
  };
}
