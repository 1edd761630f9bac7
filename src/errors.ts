// The one base class of every error zt-authz throws on purpose, in the spirit of jose's JOSEError:
// each subclass carries a stable `code` (static and on the instance) so callers branch on the code,
// never on `message` or `name`. Messages are safe to log: they never hold a token, key or secret.
// Errors from libraries (jose, ajv, node) are checked with their own classes, never imitated here.

/** Every code a ZtAuthzError can carry. Adding one is an API change: say it in the changelog. */
export type ErrorCode =
  /** A configuration file or value is invalid (ConfigError lists every problem found). */
  | 'ERR_CONFIG_INVALID'
  /** A server.tls certificate, key or CA file cannot be read or used. */
  | 'ERR_TLS_FILE'
  /**
   * No verification keys are held for an issuer (JWKS never fetched, or every source failed).
   * ZT_ keeps it apart from jose's ERR_JWKS_* codes, which the same key resolvers throw; the value
   * is public (callers match it).
   */
  | 'ERR_ZT_JWKS_UNAVAILABLE'
  /** One JWKS fetch or validation failed; the message is safe to log. */
  | 'ERR_JWKS_FETCH'
  /** A ZeroTrustPolicy manifest stream is invalid (ManifestError lists every problem found). */
  | 'ERR_MANIFEST_INVALID'
  /** A pod cannot be given the sidecar (admission webhook). */
  | 'ERR_INJECTION'
  /** A policy cannot be compiled (a pattern, CIDR or condition that has no meaning). */
  | 'ERR_POLICY_INVALID'
  /** A command-line argument, request file or other user input is invalid. */
  | 'ERR_INVALID_ARGUMENT'
  /** A key (signing, verification, HMAC secret) is unusable. */
  | 'ERR_KEY_INVALID'
  /** A peer broke its protocol (gRPC framing, protobuf, the Kubernetes API). */
  | 'ERR_PROTOCOL'
  /** A call to a peer did not finish in time. */
  | 'ERR_TIMEOUT'
  /** An invariant of zt-authz itself does not hold: a bug. */
  | 'ERR_INTERNAL';

/** Base class: `err instanceof ZtAuthzError` and `err.code` are the supported way to tell errors apart. */
export class ZtAuthzError extends Error {
  /** The code every instance of this class carries (subclasses override it). */
  static code: ErrorCode = 'ERR_INTERNAL';
  readonly code: ErrorCode;

  constructor(message: string, options?: ErrorOptions & { code?: ErrorCode }) {
    super(message, options);
    this.name = new.target.name;
    this.code = options?.code ?? new.target.code;
  }
}

/** A command-line argument, request file or other user input is invalid. */
export class InvalidArgumentError extends ZtAuthzError {
  static override code: ErrorCode = 'ERR_INVALID_ARGUMENT';
}

/** A policy cannot be compiled. */
export class PolicyError extends ZtAuthzError {
  static override code: ErrorCode = 'ERR_POLICY_INVALID';
}

/** A key is unusable (wrong type, too weak, missing `kid`, unreadable). */
export class KeyError extends ZtAuthzError {
  static override code: ErrorCode = 'ERR_KEY_INVALID';
}

/** A peer broke its protocol. */
export class ProtocolError extends ZtAuthzError {
  static override code: ErrorCode = 'ERR_PROTOCOL';
}

/** A call to a peer did not finish in time. */
export class TimeoutError extends ZtAuthzError {
  static override code: ErrorCode = 'ERR_TIMEOUT';
}

/** An invariant of zt-authz itself does not hold. */
export class InternalError extends ZtAuthzError {
  static override code: ErrorCode = 'ERR_INTERNAL';
}

/** True when `err` is a ZtAuthzError with this code. */
export function hasCode(err: unknown, code: ErrorCode): err is ZtAuthzError {
  return err instanceof ZtAuthzError && err.code === code;
}
