// How `zt-authz send` and `zt-authz check` show a JWT they find in an allow's upstream headers (the
// internal token zt-authz minted): decoded header and payload, and a short hash in place of the
// token. The compact token is a bearer credential for the destination, so it is not printed; what
// it says is (`send --json` prints the whole answer, token included, for those who need it).
import { createHash } from 'node:crypto';

const BEARER_JWT = /^Bearer ([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/;

/** A header value holding "Bearer <JWT>", decoded: its JOSE header and payload, its length and a 12-hex sha256 of the token. */
export interface DecodedBearerJwt {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  bytes: number;
  sha256: string;
}

/** `value` decoded when it is "Bearer <JWT>" with JSON-object header and payload, else undefined. Never the token itself. */
export function decodeBearerJwt(value: string): DecodedBearerJwt | undefined {
  const m = BEARER_JWT.exec(value);
  if (!m) return undefined;
  const header = decodeSegment(m[1]!);
  const payload = decodeSegment(m[2]!);
  if (header === undefined || payload === undefined) return undefined;
  const token = value.slice('Bearer '.length);
  return { header, payload, bytes: token.length, sha256: createHash('sha256').update(token).digest('hex').slice(0, 12) };
}

/** The text that stands for the token: its length and hash. */
export function bearerJwtLabel(d: DecodedBearerJwt): string {
  return `Bearer <JWT, ${d.bytes} bytes, sha256 ${d.sha256}…>`;
}

/** The lines that show an upstream header value holding "Bearer <JWT>", or undefined for any other value. */
export function bearerJwtView(value: string): { value: string; decoded: string[] } | undefined {
  const d = decodeBearerJwt(value);
  if (!d) return undefined;
  return {
    value: bearerJwtLabel(d),
    decoded: [`header:  ${JSON.stringify(d.header)}`, `payload: ${JSON.stringify(d.payload)}`],
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
