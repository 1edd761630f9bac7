// A minimal protobuf writer for Envoy CheckRequests (fuzz tests): every string field is written
// as raw bytes, so tests can put invalid UTF-8 anywhere, which protobufjs's encoder cannot.
// Field numbers: proto/envoy/service/auth/v3/attribute_context.proto (v2 uses the same ones for
// everything here except header_map, which v2 lacks).

export type Bytes = string | Uint8Array;

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n >>> 0;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return Buffer.from(out);
}
export const bytesOf = (b: Bytes): Buffer => (typeof b === 'string' ? Buffer.from(b, 'utf8') : Buffer.from(b));
export const ld = (field: number, payload: Bytes): Buffer => {
  const p = bytesOf(payload);
  return Buffer.concat([varint((field << 3) | 2), varint(p.length), p]);
};
const uint = (field: number, n: number): Buffer => Buffer.concat([varint(field << 3), varint(n)]);
const mapEntries = (field: number, entries: ReadonlyArray<readonly [Bytes, Bytes]>): Buffer[] =>
  entries.map(([k, v]) => ld(field, Buffer.concat([ld(1, k), ld(2, v)])));

interface PeerSpec {
  address?: Bytes;
  port?: number;
  principal?: Bytes;
  labels?: Array<[Bytes, Bytes]>;
}

/** The parts of an Envoy CheckRequest zt-authz reads, every string as arbitrary bytes. */
export interface RequestSpec {
  method?: Bytes;
  path?: Bytes;
  host?: Bytes;
  id?: Bytes;
  protocol?: Bytes;
  /** `headers` map (field 3). */
  headers?: Array<[Bytes, Bytes]>;
  /**
   * Send the headers as `header_map` (field 13, encode_raw_headers) instead of the map, with
   * each value in `value` or in `raw_value`; `repeated` entries are appended to it.
   */
  headerMap?: 'value' | 'raw';
  repeated?: Array<[Bytes, Bytes]>;
  source?: PeerSpec;
  destination?: PeerSpec;
  contextExtensions?: Array<[Bytes, Bytes]>;
  sni?: Bytes;
}

function encodePeer(p: PeerSpec): Buffer {
  const sock = Buffer.concat([...(p.address !== undefined ? [ld(2, p.address)] : []), ...(p.port !== undefined ? [uint(3, p.port)] : [])]);
  return Buffer.concat([ld(1, ld(1, sock)), ...mapEntries(3, p.labels ?? []), ...(p.principal !== undefined ? [ld(4, p.principal)] : [])]);
}

export function encodeCheckRequest(s: RequestSpec): Buffer {
  const raw = s.headerMap !== undefined || (s.repeated?.length ?? 0) > 0;
  const entries = [...(s.headers ?? []), ...(s.repeated ?? [])];
  const headerValue = ([k, v]: [Bytes, Bytes]) => ld(1, Buffer.concat([ld(1, k), s.headerMap === 'raw' ? ld(3, v) : ld(2, v)]));
  const http = Buffer.concat([
    ...(s.id !== undefined ? [ld(1, s.id)] : []),
    ...(s.method !== undefined ? [ld(2, s.method)] : []),
    ...(raw ? [] : mapEntries(3, s.headers ?? [])),
    ...(s.host !== undefined ? [ld(5, s.host)] : []),
    ...(s.protocol !== undefined ? [ld(10, s.protocol)] : []),
    ...(raw && entries.length ? [ld(13, Buffer.concat(entries.map(headerValue)))] : []),
    // path last: a truncated copy of the allowed request can never still carry the whole path
    ...(s.path !== undefined ? [ld(4, s.path)] : []),
  ]);
  const attrs = Buffer.concat([
    ...(s.source ? [ld(1, encodePeer(s.source))] : []),
    ...(s.destination ? [ld(2, encodePeer(s.destination))] : []),
    ...mapEntries(10, s.contextExtensions ?? []),
    ...(s.sni !== undefined ? [ld(12, ld(1, s.sni))] : []),
    ld(4, ld(2, http)),
  ]);
  return ld(1, attrs);
}
