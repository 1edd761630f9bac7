// grpc-timeout: "an ASCII integer of at most 8 digits followed by a unit" (H, M, S, m, u, n), per
// gRPC's HTTP/2 protocol description. The deadline bounds the whole call here: reading the
// request and deciding it.

const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000_001 };

/** setTimeout's largest delay; a longer timeout (up to 99,999,999 hours) is as good as none. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Milliseconds from a grpc-timeout value (at least 1: a sub-millisecond deadline still expires);
 * undefined when the value is not valid, which the server answers with INTERNAL as grpc-js does.
 */
export function parseGrpcTimeout(value: string): number | undefined {
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (!m) return undefined;
  const ms = Number(m[1]) * UNIT_MS[m[2]!]!;
  return Math.min(MAX_TIMER_MS, Math.max(1, Math.ceil(ms)));
}
