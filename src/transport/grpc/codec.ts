// Lean protobuf codec for the Check hot path, where profiles showed the stock codec's cost.
//
// The stock proto-loader codec turns every CheckRequest into a plain object with
// `Type.toObject(decode(buf), {defaults, oneofs, longs: String, enums: String})` and every
// CheckResponse back with `encode(Type.fromObject(obj))`. Both conversions walk the whole
// message and allocate a second copy of it. On the cached-token path they cost about 7 % of
// the server's CPU (CheckRequest$toObject + *$fromObject in `node --cpu-prof`).
//
// Here the request is the protobufjs message instance itself: the same parse of the same bytes
// (so the same trust boundary), with unset fields read from the prototype defaults: strings '',
// maps and repeated fields empty, singular messages null. The fields normalizeCheckRequest reads
// have the same names and types as in the proto-loader shape; the differences (int64 as Long,
// enums as numbers, no oneof virtual properties) are in fields it does not read. The response
// is encoded straight from the object the handler returns; the only conversion a plain object
// needs is enum names to numbers, done here for the enum fields a CheckResponse can carry.
// (A hand-written encoder for the allow response was tried and measured no faster than
// protobufjs's generated encode, ~5.8 µs each on this machine: the cost was fromObject.)
import type * as grpc from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { protoRoot } from './protos.js';
import { InternalError } from '../../errors.js';
import { PRE_ENCODED, type PreEncoded } from './response.js';

type Version = 'v3' | 'v2';

const PKG: Record<Version, { service: string; types: string; status: string; appendAction?: string }> = {
  v3: {
    service: 'envoy.service.auth.v3',
    types: 'envoy.service.auth.v3',
    status: 'envoy.type.v3.StatusCode',
    appendAction: 'envoy.config.core.v3.HeaderValueOption.HeaderAppendAction',
  },
  v2: { service: 'envoy.service.auth.v2', types: 'envoy.service.auth.v2', status: 'envoy.type.StatusCode' },
};

export interface CheckCodec {
  // Function properties (not methods): grpc-js calls them detached from the codec object.
  deserialize: (buf: Buffer) => unknown;
  serialize: (msg: unknown) => Buffer;
}

interface HeaderOptionLike {
  appendAction?: string | number;
}
interface DeniedLike {
  status?: { code?: string | number } | null;
  headers?: HeaderOptionLike[] | null;
}
interface ResponseLike {
  okResponse?: { headers?: HeaderOptionLike[] | null; responseHeadersToAdd?: HeaderOptionLike[] | null } | null;
  deniedResponse?: DeniedLike | null;
  errorResponse?: DeniedLike | null;
}

const codecs = new Map<Version, CheckCodec>();

export function checkCodec(version: Version): CheckCodec {
  let c = codecs.get(version);
  if (!c) {
    c = buildCodec(version);
    codecs.set(version, c);
  }
  return c;
}

function buildCodec(version: Version): CheckCodec {
  const root = protoRoot();
  const pkg = PKG[version];
  const Req: protobuf.Type = root.lookupType(`${pkg.types}.CheckRequest`);
  const Res: protobuf.Type = root.lookupType(`${pkg.types}.CheckResponse`);
  const statusCodes = root.lookupEnum(pkg.status).values;
  const appendActions = pkg.appendAction ? root.lookupEnum(pkg.appendAction).values : undefined;

  const enumValue = (values: Record<string, number>, v: string | number, what: string): number => {
    if (typeof v === 'number') return v;
    const n = values[v];
    if (n === undefined) throw new TypeError(`unknown ${what} ${JSON.stringify(v)}`);
    return n;
  };
  const fixHeaders = (list: HeaderOptionLike[] | null | undefined): void => {
    if (!list) return;
    // v2 has no append_action: the encoder skips fields its type does not declare.
    if (!appendActions) return;
    for (const h of list) {
      if (typeof h.appendAction === 'string') h.appendAction = enumValue(appendActions, h.appendAction, 'append_action');
    }
  };
  const fixDenied = (d: DeniedLike | null | undefined): void => {
    if (!d) return;
    if (d.status && typeof d.status.code === 'string') d.status.code = enumValue(statusCodes, d.status.code, 'HTTP status code');
    fixHeaders(d.headers);
  };

  return {
    deserialize: (buf) => Req.decode(buf),
    serialize: (msg) => {
      // A cached allow (response.ts): encoded once from a fresh copy, the bytes reused after.
      const pre = (msg as { [PRE_ENCODED]?: PreEncoded })[PRE_ENCODED];
      if (pre) {
        if (version !== 'v3') return encode(pre.fresh());
        return (pre.v3 ??= encode(pre.fresh()));
      }
      return encode(msg);
    },
  };

  function encode(msg: unknown): Buffer {
    const r = msg as ResponseLike;
    if (r.okResponse) {
      fixHeaders(r.okResponse.headers);
      fixHeaders(r.okResponse.responseHeadersToAdd);
    }
    fixDenied(r.deniedResponse);
    fixDenied(r.errorResponse);
    const out = Res.encode(msg as protobuf.Message).finish();
    return Buffer.isBuffer(out) ? out : Buffer.from(out.buffer, out.byteOffset, out.byteLength);
  }
}

/** A copy of a proto-loader service definition whose Check method uses the lean codec. */
export function withLeanCheckCodec(def: grpc.ServiceDefinition, version: Version): grpc.ServiceDefinition {
  const check = def.Check;
  if (!check) throw new InternalError('service definition has no Check method');
  const codec = checkCodec(version);
  return {
    ...def,
    Check: {
      ...check,
      requestDeserialize: codec.deserialize,
      responseSerialize: codec.serialize,
    },
  };
}
