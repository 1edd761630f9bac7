// How `zt-authz send` shows a JWT it finds in an allow's upstream headers (the internal token
// zt-authz minted): decoded header and payload, and a short hash in place of the token. The
// compact token is a bearer credential for the destination, so it is not printed; what it says
// is (`--json` prints the whole answer, token included, for those who need it).
import { createHash } from 'node:crypto';

const BEARER_JWT = /^Bearer ([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/;

/** The lines that show an upstream header value holding "Bearer <JWT>", or undefined for any other value. */
export function bearerJwtView(value: string): { value: string; decoded: string[] } | undefined {
  const m = BEARER_JWT.exec(value);
  if (!m) return undefined;
  const header = decodeSegment(m[1]!);
  const payload = decodeSegment(m[2]!);
  if (header === undefined || payload === undefined) return undefined;
  const hash = createHash('sha256').update(value.slice('Bearer '.length)).digest('hex').slice(0, 12);
  return {
    value: `Bearer <JWT, ${value.length - 'Bearer '.length} bytes, sha256 ${hash}…>`,
    decoded: [`header:  ${JSON.stringify(header)}`, `payload: ${JSON.stringify(payload)}`],
  };
}

/** A base64url segment holding a JSON object, parsed; undefined when it is not one. */
function decodeSegment(segment: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
