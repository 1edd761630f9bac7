// Operational logging (pino, JSON lines). Audit records share the stream but carry
// `logger: "audit"`; operational lines carry `logger: "ops"`. The field was `log` until the
// log format changed: a top-level `log` string clashes with ECS's `log.*` object (log.level,
// log.logger) and OpenTelemetry's `log.*` attributes, so pipelines rejected or mis-mapped it;
// `logger` maps onto ECS `log.logger` and Datadog `logger.name` with one rename
// (docs/observability.md). Nothing here ever receives a token: callers pass reason codes and
// short hashes, and the redact paths are a second line of defence.
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

export type { Logger };

/**
 * Key names whose value is a credential wherever it appears. pino matches keys exactly
 * (case-sensitive), so the casings that occur in headers and configs are listed.
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

/** Levels below the top one a SECRET_KEYS key is redacted at (`*.token` … `*.*.*.*.token`). */
export const REDACT_DEPTH = 4;

/**
 * pino `redact` paths for the operational logger: every SECRET_KEYS key at the top level and at
 * each depth down to REDACT_DEPTH, plus the key names that were redacted at the top level before
 * (`key`, `jwks`: too generic to redact at every depth, where they name header entries and maps).
 * What pino's redaction (@pinojs/redact, fast-redact's path syntax) cannot do, and so what callers
 * must still never hand the logger:
 *  - no "any depth" wildcard: a `*` is exactly one level, so one path per depth; a credential
 *    nested deeper than REDACT_DEPTH levels below the logged object is written as is;
 *  - keys only, matched exactly: a credential inside a string (the message, an error's message or
 *    stack, a URL's query) or under another name (`{ key: 'authorization', value: ... }` header
 *    lists) is not found;
 *  - values are replaced, not inspected: the censor hides what a listed key holds, whatever it is.
 * Child-logger bindings are redacted like the logged object.
 */
export function redactPaths(keys: readonly string[] = SECRET_KEYS, depth = REDACT_DEPTH): string[] {
  const paths = ['key', 'jwks'];
  for (const k of keys) {
    // Hyphenated header names need the bracket form (`*["x-api-key"]`).
    const plain = /^[A-Za-z_$][\w$]*$/.test(k);
    for (let d = 0; d <= depth; d++) {
      const prefix = Array.from({ length: d }, () => '*').join('.');
      if (plain) paths.push(prefix ? `${prefix}.${k}` : k);
      else paths.push(`${prefix}[${JSON.stringify(k)}]`);
    }
  }
  return paths;
}

const REDACT = redactPaths();
const CENSOR = '[redacted]';

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
  return pino(
    {
      level,
      base: { logger: 'ops' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT, censor: CENSOR },
      ...(limit ? { hooks: { logMethod: rateLimited(limit, opts.onDrop) } } : {}),
    },
    dest ?? stdoutDestination(opts.onDrop ? { onDrop: opts.onDrop } : {}),
  );
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
