/**
 * Wire-compatibility tests for the proto subset in proto/.
 *
 * The FIELD_TABLE below is transcribed from the upstream definitions
 * (envoyproxy/envoy api/envoy/..., googleapis google/rpc/status.proto,
 * grpc-proto grpc/health/v1/health.proto) and checked against the loaded
 * protobufjs reflection, so renumbering, renaming, retyping, adding or dropping
 * a field fails this test.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import protobuf from 'protobufjs';

import {
  AUTH_V2_CHECK_PATH,
  AUTH_V3_CHECK_PATH,
  AuthV2Client,
  AuthV3Client,
  HEALTH_CHECK_PATH,
  HEALTH_WATCH_PATH,
  HealthClient,
  PROTO_DIR,
  authV2Service,
  authV3Service,
  grpcObject,
  healthService,
  packageDefinition,
  protoRoot,
} from '../../../src/transport/grpc/protos.js';
import type { CheckRequest, CheckResponse, HealthCheckResponse } from '../../../src/transport/grpc/messages.js';

/** [fully-qualified message, upstream field name, field number, type, oneof?] */
type FieldRow = readonly [string, string, number, string, string?];

const A3 = 'envoy.service.auth.v3';
const AC3 = `${A3}.AttributeContext`;
const C3 = 'envoy.config.core.v3';
const A2 = 'envoy.service.auth.v2';
const AC2 = `${A2}.AttributeContext`;
const C2 = 'envoy.api.v2.core';

// Types: scalar name, ".fq.Name" for messages/enums, "repeated X", "map<K,V>".
const FIELD_TABLE: readonly FieldRow[] = [
  // envoy/service/auth/v3/external_auth.proto
  [`${A3}.CheckRequest`, 'attributes', 1, `.${AC3}`],

  [`${A3}.DeniedHttpResponse`, 'status', 1, '.envoy.type.v3.HttpStatus'],
  [`${A3}.DeniedHttpResponse`, 'headers', 2, `repeated .${C3}.HeaderValueOption`],
  [`${A3}.DeniedHttpResponse`, 'body', 3, 'string'],

  [`${A3}.OkHttpResponse`, 'headers', 2, `repeated .${C3}.HeaderValueOption`],
  [`${A3}.OkHttpResponse`, 'headers_to_remove', 5, 'repeated string'],
  [`${A3}.OkHttpResponse`, 'dynamic_metadata', 3, '.google.protobuf.Struct'],
  [`${A3}.OkHttpResponse`, 'response_headers_to_add', 6, `repeated .${C3}.HeaderValueOption`],
  [`${A3}.OkHttpResponse`, 'query_parameters_to_set', 7, `repeated .${C3}.QueryParameter`],
  [`${A3}.OkHttpResponse`, 'query_parameters_to_remove', 8, 'repeated string'],

  [`${A3}.CheckResponse`, 'status', 1, '.google.rpc.Status'],
  [`${A3}.CheckResponse`, 'denied_response', 2, `.${A3}.DeniedHttpResponse`, 'http_response'],
  [`${A3}.CheckResponse`, 'ok_response', 3, `.${A3}.OkHttpResponse`, 'http_response'],
  [`${A3}.CheckResponse`, 'error_response', 5, `.${A3}.DeniedHttpResponse`, 'http_response'],
  [`${A3}.CheckResponse`, 'dynamic_metadata', 4, '.google.protobuf.Struct'],

  // envoy/service/auth/v3/attribute_context.proto
  [AC3, 'source', 1, `.${AC3}.Peer`],
  [AC3, 'destination', 2, `.${AC3}.Peer`],
  [AC3, 'request', 4, `.${AC3}.Request`],
  [AC3, 'context_extensions', 10, 'map<string,string>'],
  [AC3, 'metadata_context', 11, `.${C3}.Metadata`],
  [AC3, 'route_metadata_context', 13, `.${C3}.Metadata`],
  [AC3, 'tls_session', 12, `.${AC3}.TLSSession`],

  [`${AC3}.Peer`, 'address', 1, `.${C3}.Address`],
  [`${AC3}.Peer`, 'service', 2, 'string'],
  [`${AC3}.Peer`, 'labels', 3, 'map<string,string>'],
  [`${AC3}.Peer`, 'principal', 4, 'string'],
  [`${AC3}.Peer`, 'certificate', 5, 'string'],

  [`${AC3}.Request`, 'time', 1, '.google.protobuf.Timestamp'],
  [`${AC3}.Request`, 'http', 2, `.${AC3}.HttpRequest`],

  [`${AC3}.HttpRequest`, 'id', 1, 'string'],
  [`${AC3}.HttpRequest`, 'method', 2, 'string'],
  [`${AC3}.HttpRequest`, 'headers', 3, 'map<string,string>'],
  [`${AC3}.HttpRequest`, 'header_map', 13, `.${C3}.HeaderMap`],
  [`${AC3}.HttpRequest`, 'path', 4, 'string'],
  [`${AC3}.HttpRequest`, 'host', 5, 'string'],
  [`${AC3}.HttpRequest`, 'scheme', 6, 'string'],
  [`${AC3}.HttpRequest`, 'query', 7, 'string'],
  [`${AC3}.HttpRequest`, 'fragment', 8, 'string'],
  [`${AC3}.HttpRequest`, 'size', 9, 'int64'],
  [`${AC3}.HttpRequest`, 'protocol', 10, 'string'],
  [`${AC3}.HttpRequest`, 'body', 11, 'string'],
  [`${AC3}.HttpRequest`, 'raw_body', 12, 'bytes'],

  [`${AC3}.TLSSession`, 'sni', 1, 'string'],

  // envoy/config/core/v3/base.proto
  [`${C3}.Metadata`, 'filter_metadata', 1, 'map<string,.google.protobuf.Struct>'],
  [`${C3}.Metadata`, 'typed_filter_metadata', 2, 'map<string,.google.protobuf.Any>'],

  [`${C3}.QueryParameter`, 'key', 1, 'string'],
  [`${C3}.QueryParameter`, 'value', 2, 'string'],

  [`${C3}.HeaderValue`, 'key', 1, 'string'],
  [`${C3}.HeaderValue`, 'value', 2, 'string'],
  [`${C3}.HeaderValue`, 'raw_value', 3, 'bytes'],

  [`${C3}.HeaderValueOption`, 'header', 1, `.${C3}.HeaderValue`],
  [`${C3}.HeaderValueOption`, 'append', 2, '.google.protobuf.BoolValue'],
  [`${C3}.HeaderValueOption`, 'append_action', 3, `.${C3}.HeaderValueOption.HeaderAppendAction`],
  [`${C3}.HeaderValueOption`, 'keep_empty_value', 4, 'bool'],

  [`${C3}.HeaderMap`, 'headers', 1, `repeated .${C3}.HeaderValue`],

  // envoy/config/core/v3/address.proto
  [`${C3}.Pipe`, 'path', 1, 'string'],
  [`${C3}.Pipe`, 'mode', 2, 'uint32'],

  [`${C3}.EnvoyInternalAddress`, 'server_listener_name', 1, 'string', 'address_name_specifier'],
  [`${C3}.EnvoyInternalAddress`, 'endpoint_id', 2, 'string'],

  [`${C3}.SocketAddress`, 'protocol', 1, `.${C3}.SocketAddress.Protocol`],
  [`${C3}.SocketAddress`, 'address', 2, 'string'],
  [`${C3}.SocketAddress`, 'port_value', 3, 'uint32', 'port_specifier'],
  [`${C3}.SocketAddress`, 'named_port', 4, 'string', 'port_specifier'],
  [`${C3}.SocketAddress`, 'resolver_name', 5, 'string'],
  [`${C3}.SocketAddress`, 'ipv4_compat', 6, 'bool'],
  [`${C3}.SocketAddress`, 'network_namespace_filepath', 7, 'string'],

  [`${C3}.Address`, 'socket_address', 1, `.${C3}.SocketAddress`, 'address'],
  [`${C3}.Address`, 'pipe', 2, `.${C3}.Pipe`, 'address'],
  [`${C3}.Address`, 'envoy_internal_address', 3, `.${C3}.EnvoyInternalAddress`, 'address'],

  // envoy/type/v3/http_status.proto
  ['envoy.type.v3.HttpStatus', 'code', 1, '.envoy.type.v3.StatusCode'],

  // google/rpc/status.proto
  ['google.rpc.Status', 'code', 1, 'int32'],
  ['google.rpc.Status', 'message', 2, 'string'],
  ['google.rpc.Status', 'details', 3, 'repeated .google.protobuf.Any'],

  // grpc/health/v1/health.proto
  ['grpc.health.v1.HealthCheckRequest', 'service', 1, 'string'],
  ['grpc.health.v1.HealthCheckResponse', 'status', 1, '.grpc.health.v1.HealthCheckResponse.ServingStatus'],

  // envoy/service/auth/v2/external_auth.proto (frozen)
  [`${A2}.CheckRequest`, 'attributes', 1, `.${AC2}`],

  [`${A2}.DeniedHttpResponse`, 'status', 1, '.envoy.type.HttpStatus'],
  [`${A2}.DeniedHttpResponse`, 'headers', 2, `repeated .${C2}.HeaderValueOption`],
  [`${A2}.DeniedHttpResponse`, 'body', 3, 'string'],

  [`${A2}.OkHttpResponse`, 'headers', 2, `repeated .${C2}.HeaderValueOption`],

  [`${A2}.CheckResponse`, 'status', 1, '.google.rpc.Status'],
  [`${A2}.CheckResponse`, 'denied_response', 2, `.${A2}.DeniedHttpResponse`, 'http_response'],
  [`${A2}.CheckResponse`, 'ok_response', 3, `.${A2}.OkHttpResponse`, 'http_response'],

  // envoy/service/auth/v2/attribute_context.proto (frozen)
  [AC2, 'source', 1, `.${AC2}.Peer`],
  [AC2, 'destination', 2, `.${AC2}.Peer`],
  [AC2, 'request', 4, `.${AC2}.Request`],
  [AC2, 'context_extensions', 10, 'map<string,string>'],
  [AC2, 'metadata_context', 11, `.${C2}.Metadata`],

  [`${AC2}.Peer`, 'address', 1, `.${C2}.Address`],
  [`${AC2}.Peer`, 'service', 2, 'string'],
  [`${AC2}.Peer`, 'labels', 3, 'map<string,string>'],
  [`${AC2}.Peer`, 'principal', 4, 'string'],
  [`${AC2}.Peer`, 'certificate', 5, 'string'],

  [`${AC2}.Request`, 'time', 1, '.google.protobuf.Timestamp'],
  [`${AC2}.Request`, 'http', 2, `.${AC2}.HttpRequest`],

  [`${AC2}.HttpRequest`, 'id', 1, 'string'],
  [`${AC2}.HttpRequest`, 'method', 2, 'string'],
  [`${AC2}.HttpRequest`, 'headers', 3, 'map<string,string>'],
  [`${AC2}.HttpRequest`, 'path', 4, 'string'],
  [`${AC2}.HttpRequest`, 'host', 5, 'string'],
  [`${AC2}.HttpRequest`, 'scheme', 6, 'string'],
  [`${AC2}.HttpRequest`, 'query', 7, 'string'],
  [`${AC2}.HttpRequest`, 'fragment', 8, 'string'],
  [`${AC2}.HttpRequest`, 'size', 9, 'int64'],
  [`${AC2}.HttpRequest`, 'protocol', 10, 'string'],
  [`${AC2}.HttpRequest`, 'body', 11, 'string'],

  // envoy/api/v2/core/{base,address}.proto (frozen)
  [`${C2}.Metadata`, 'filter_metadata', 1, 'map<string,.google.protobuf.Struct>'],
  [`${C2}.HeaderValue`, 'key', 1, 'string'],
  [`${C2}.HeaderValue`, 'value', 2, 'string'],
  [`${C2}.HeaderValueOption`, 'header', 1, `.${C2}.HeaderValue`],
  [`${C2}.HeaderValueOption`, 'append', 2, '.google.protobuf.BoolValue'],
  [`${C2}.Pipe`, 'path', 1, 'string'],
  [`${C2}.Pipe`, 'mode', 2, 'uint32'],
  [`${C2}.SocketAddress`, 'protocol', 1, `.${C2}.SocketAddress.Protocol`],
  [`${C2}.SocketAddress`, 'address', 2, 'string'],
  [`${C2}.SocketAddress`, 'port_value', 3, 'uint32', 'port_specifier'],
  [`${C2}.SocketAddress`, 'named_port', 4, 'string', 'port_specifier'],
  [`${C2}.SocketAddress`, 'resolver_name', 5, 'string'],
  [`${C2}.SocketAddress`, 'ipv4_compat', 6, 'bool'],
  [`${C2}.Address`, 'socket_address', 1, `.${C2}.SocketAddress`, 'address'],
  [`${C2}.Address`, 'pipe', 2, `.${C2}.Pipe`, 'address'],
  ['envoy.type.HttpStatus', 'code', 1, '.envoy.type.StatusCode'],
];

/** Enum values transcribed from upstream. */
const ENUM_TABLE: ReadonlyArray<readonly [string, Readonly<Record<string, number>>]> = [
  [
    `${C3}.HeaderValueOption.HeaderAppendAction`,
    { APPEND_IF_EXISTS_OR_ADD: 0, ADD_IF_ABSENT: 1, OVERWRITE_IF_EXISTS_OR_ADD: 2, OVERWRITE_IF_EXISTS: 3 },
  ],
  [`${C3}.SocketAddress.Protocol`, { TCP: 0, UDP: 1 }],
  [`${C2}.SocketAddress.Protocol`, { TCP: 0, UDP: 1 }],
  ['grpc.health.v1.HealthCheckResponse.ServingStatus', { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 }],
];

const STATUS_CODES: Readonly<Record<string, number>> = {
  Empty: 0,
  Continue: 100,
  OK: 200,
  Created: 201,
  Accepted: 202,
  NonAuthoritativeInformation: 203,
  NoContent: 204,
  ResetContent: 205,
  PartialContent: 206,
  MultiStatus: 207,
  AlreadyReported: 208,
  IMUsed: 226,
  MultipleChoices: 300,
  MovedPermanently: 301,
  Found: 302,
  SeeOther: 303,
  NotModified: 304,
  UseProxy: 305,
  TemporaryRedirect: 307,
  PermanentRedirect: 308,
  BadRequest: 400,
  Unauthorized: 401,
  PaymentRequired: 402,
  Forbidden: 403,
  NotFound: 404,
  MethodNotAllowed: 405,
  NotAcceptable: 406,
  ProxyAuthenticationRequired: 407,
  RequestTimeout: 408,
  Conflict: 409,
  Gone: 410,
  LengthRequired: 411,
  PreconditionFailed: 412,
  PayloadTooLarge: 413,
  URITooLong: 414,
  UnsupportedMediaType: 415,
  RangeNotSatisfiable: 416,
  ExpectationFailed: 417,
  MisdirectedRequest: 421,
  UnprocessableEntity: 422,
  Locked: 423,
  FailedDependency: 424,
  UpgradeRequired: 426,
  PreconditionRequired: 428,
  TooManyRequests: 429,
  RequestHeaderFieldsTooLarge: 431,
  InternalServerError: 500,
  NotImplemented: 501,
  BadGateway: 502,
  ServiceUnavailable: 503,
  GatewayTimeout: 504,
  HTTPVersionNotSupported: 505,
  VariantAlsoNegotiates: 506,
  InsufficientStorage: 507,
  LoopDetected: 508,
  NotExtended: 510,
  NetworkAuthenticationRequired: 511,
};

function describeField(f: protobuf.Field): string {
  const valueType = f.resolvedType ? f.resolvedType.fullName : f.type;
  if (f instanceof protobuf.MapField) return `map<${f.keyType},${valueType}>`;
  return f.repeated ? `repeated ${valueType}` : valueType;
}

// ---------------------------------------------------------------------------
// Minimal independent wire reader (does not use the generated codec).
// ---------------------------------------------------------------------------

interface WireField {
  no: number;
  wireType: number;
  /** varint value (wire type 0) */
  varint?: number;
  /** payload (wire type 2) */
  bytes?: Uint8Array;
}

function readVarint(buf: Uint8Array, pos: { i: number }): number {
  let result = 0;
  let shift = 0;
  for (;;) {
    const b = buf[pos.i++];
    if (b === undefined) throw new Error('truncated varint');
    result += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return result;
    shift += 7;
  }
}

function parseWire(buf: Uint8Array): WireField[] {
  const out: WireField[] = [];
  const pos = { i: 0 };
  while (pos.i < buf.length) {
    const tag = readVarint(buf, pos);
    const no = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (wireType === 0) {
      out.push({ no, wireType, varint: readVarint(buf, pos) });
    } else if (wireType === 2) {
      const len = readVarint(buf, pos);
      out.push({ no, wireType, bytes: buf.subarray(pos.i, pos.i + len) });
      pos.i += len;
    } else if (wireType === 1) {
      pos.i += 8;
      out.push({ no, wireType });
    } else if (wireType === 5) {
      pos.i += 4;
      out.push({ no, wireType });
    } else {
      throw new Error(`unsupported wire type ${wireType}`);
    }
  }
  return out;
}

function only(fields: WireField[], no: number): WireField {
  const matching = fields.filter((f) => f.no === no);
  assert.equal(matching.length, 1, `expected exactly one field #${no}`);
  const [first] = matching;
  assert.ok(first);
  return first;
}

function containsSubsequence(haystack: Uint8Array, needle: readonly number[]): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return true;
  }
  return false;
}

// ---------------------------------------------------------------------------

describe('proto directory and loader', () => {
  it('PROTO_DIR points at the repository proto/ directory', () => {
    assert.ok(existsSync(join(PROTO_DIR, 'envoy/service/auth/v3/external_auth.proto')), PROTO_DIR);
    assert.ok(existsSync(join(PROTO_DIR, 'grpc/health/v1/health.proto')), PROTO_DIR);
  });

  it('memoises the package definition, grpc object and roots', () => {
    assert.equal(packageDefinition(), packageDefinition());
    assert.equal(grpcObject(), grpcObject());
    assert.equal(protoRoot(), protoRoot());
    assert.equal(protoRoot({ keepCase: true }), protoRoot({ keepCase: true }));
    assert.notEqual(protoRoot({ keepCase: true }), protoRoot());
  });
});

describe('field numbers match upstream', () => {
  const root = protoRoot({ keepCase: true });

  for (const [msg, name, id, type, oneof] of FIELD_TABLE) {
    it(`${msg}.${name} = ${id} (${type})`, () => {
      const t = root.lookupType(msg);
      const f = t.fields[name];
      assert.ok(f, `field ${name} missing from ${msg}`);
      assert.equal(f.id, id, `${msg}.${name} field number`);
      assert.equal(describeField(f), type, `${msg}.${name} type`);
      assert.equal(f.partOf?.name, oneof, `${msg}.${name} oneof membership`);
    });
  }

  it('the table lists every field of every message it covers (nothing extra, nothing missing)', () => {
    const byMessage = new Map<string, Set<string>>();
    for (const [msg, name] of FIELD_TABLE) {
      const set = byMessage.get(msg) ?? new Set<string>();
      set.add(name);
      byMessage.set(msg, set);
    }
    for (const [msg, names] of byMessage) {
      const actual = new Set(root.lookupType(msg).fieldsArray.map((f) => f.name));
      assert.deepEqual([...actual].sort(), [...names].sort(), `fields of ${msg}`);
    }
  });

  it('field numbers are unique per message', () => {
    for (const msg of new Set(FIELD_TABLE.map(([m]) => m))) {
      const ids = root.lookupType(msg).fieldsArray.map((f) => f.id);
      assert.equal(new Set(ids).size, ids.length, `duplicate ids in ${msg}`);
    }
  });

  for (const [name, values] of ENUM_TABLE) {
    it(`enum ${name} values`, () => {
      assert.deepEqual({ ...root.lookupEnum(name).values }, values);
    });
  }

  it('envoy.type.v3.StatusCode and envoy.type.StatusCode have all upstream values', () => {
    assert.deepEqual({ ...root.lookupEnum('envoy.type.v3.StatusCode').values }, STATUS_CODES);
    assert.deepEqual({ ...root.lookupEnum('envoy.type.StatusCode').values }, STATUS_CODES);
  });

  it('v3 CheckResponse has no separate ErrorResponse message (error_response reuses DeniedHttpResponse)', () => {
    assert.equal(root.lookup('envoy.service.auth.v3.ErrorResponse'), null);
  });
});

describe('services and method paths', () => {
  it('envoy.service.auth.v3.Authorization/Check is unary', () => {
    const m = authV3Service()['Check'];
    assert.ok(m);
    assert.equal(m.path, AUTH_V3_CHECK_PATH);
    assert.equal(m.path, '/envoy.service.auth.v3.Authorization/Check');
    assert.equal(m.requestStream, false);
    assert.equal(m.responseStream, false);
    assert.deepEqual(Object.keys(authV3Service()), ['Check']);
  });

  it('envoy.service.auth.v2.Authorization/Check is unary', () => {
    const m = authV2Service()['Check'];
    assert.ok(m);
    assert.equal(m.path, AUTH_V2_CHECK_PATH);
    assert.equal(m.path, '/envoy.service.auth.v2.Authorization/Check');
    assert.equal(m.requestStream, false);
    assert.equal(m.responseStream, false);
  });

  it('grpc.health.v1.Health has unary Check and server-streaming Watch', () => {
    const svc = healthService();
    const check = svc['Check'];
    const watch = svc['Watch'];
    assert.ok(check && watch);
    assert.equal(check.path, HEALTH_CHECK_PATH);
    assert.equal(check.path, '/grpc.health.v1.Health/Check');
    assert.equal(check.responseStream, false);
    assert.equal(watch.path, HEALTH_WATCH_PATH);
    assert.equal(watch.path, '/grpc.health.v1.Health/Watch');
    assert.equal(watch.requestStream, false);
    assert.equal(watch.responseStream, true);
  });

  it('package definition contains all three services', () => {
    const def = packageDefinition();
    for (const name of ['envoy.service.auth.v3.Authorization', 'envoy.service.auth.v2.Authorization', 'grpc.health.v1.Health']) {
      assert.ok(def[name], `${name} in package definition`);
    }
  });

  it('client constructors are bound to the same service definitions', () => {
    assert.equal(typeof AuthV3Client(), 'function');
    assert.equal(AuthV3Client().service, authV3Service());
    assert.equal(AuthV2Client().service, authV2Service());
    assert.equal(HealthClient().service, healthService());
  });
});

describe('wire round trip', () => {
  it('CheckResponse ok_response header with append:{value:false} and appendAction OVERWRITE_IF_EXISTS_OR_ADD', () => {
    const check = authV3Service()['Check'];
    assert.ok(check);
    const response: CheckResponse = {
      status: { code: 0 },
      okResponse: {
        headers: [
          {
            header: { key: 'x-zt-subject', value: 'spiffe://example.org/ns/a/sa/b' },
            append: { value: false },
            appendAction: 'OVERWRITE_IF_EXISTS_OR_ADD',
          },
        ],
        headersToRemove: ['authorization'],
      },
    };
    const bytes = check.responseSerialize(response);

    // Independent wire parse: CheckResponse.ok_response is field 3 (LEN).
    const top = parseWire(bytes);
    const status = only(top, 1);
    assert.equal(status.wireType, 2);
    // protobufjs writes explicitly-set proto3 defaults: Status{code:0} → 08 00.
    assert.deepEqual([...(status.bytes ?? [])], [0x08, 0x00]);
    const ok = only(top, 3);
    assert.equal(ok.wireType, 2);
    assert.ok(ok.bytes);
    assert.equal(bytes[0], 0x0a, 'first tag: CheckResponse.status (1, LEN)');

    // OkHttpResponse.headers is field 2; headers_to_remove field 5.
    const okFields = parseWire(ok.bytes);
    const hvoField = only(okFields, 2);
    assert.equal(hvoField.wireType, 2);
    assert.ok(hvoField.bytes);
    const remove = only(okFields, 5);
    assert.equal(Buffer.from(remove.bytes ?? []).toString(), 'authorization');

    // HeaderValueOption: header(1, LEN), append(2, LEN, empty BoolValue), append_action(3, VARINT=2).
    const hvo = hvoField.bytes;
    const hvoFields = parseWire(hvo);
    assert.deepEqual(
      hvoFields.map((f) => [f.no, f.wireType]),
      [
        [1, 2],
        [2, 2],
        [3, 0],
      ],
    );
    // append is present (so Envoy's has_append() is true) and carries value=false:
    // tag 0x12 (field 2, LEN), length 2, BoolValue.value tag 0x08 = 0.
    const append = only(hvoFields, 2);
    assert.deepEqual([...(append.bytes ?? [])], [0x08, 0x00]);
    assert.equal(parseWire(append.bytes ?? new Uint8Array()).length, 1);
    assert.equal(only(hvoFields, 3).varint, 2, 'OVERWRITE_IF_EXISTS_OR_ADD = 2');
    assert.ok(containsSubsequence(hvo, [0x12, 0x02, 0x08, 0x00]), 'append: tag 0x12, len 2, value false');
    assert.ok(containsSubsequence(hvo, [0x18, 0x02]), 'append_action: tag 0x18, varint 2');

    const header = parseWire(only(hvoFields, 1).bytes ?? new Uint8Array());
    assert.equal(Buffer.from(only(header, 1).bytes ?? []).toString(), 'x-zt-subject');
    assert.equal(Buffer.from(only(header, 2).bytes ?? []).toString(), 'spiffe://example.org/ns/a/sa/b');

    // Decode back through the proto-loader codec.
    const decoded = check.responseDeserialize(bytes) as CheckResponse;
    assert.equal(decoded.httpResponse, 'okResponse');
    const h0 = decoded.okResponse?.headers?.[0];
    assert.ok(h0);
    assert.deepEqual(h0.append, { value: false });
    assert.equal(h0.appendAction, 'OVERWRITE_IF_EXISTS_OR_ADD');
    assert.equal(h0.keepEmptyValue, false);
    assert.equal(h0.header?.key, 'x-zt-subject');
    assert.deepEqual(decoded.okResponse?.headersToRemove, ['authorization']);
    assert.equal(decoded.status?.code, 0);

    // Same bytes as an upstream-named (snake_case) encoder would produce.
    const T = protoRoot({ keepCase: true }).lookupType('envoy.service.auth.v3.CheckResponse');
    const upstream = T.encode(
      T.fromObject({
        status: { code: 0 },
        ok_response: {
          headers: [
            {
              header: { key: 'x-zt-subject', value: 'spiffe://example.org/ns/a/sa/b' },
              append: { value: false },
              append_action: 'OVERWRITE_IF_EXISTS_OR_ADD',
            },
          ],
          headers_to_remove: ['authorization'],
        },
      }),
    ).finish();
    assert.deepEqual(Buffer.from(upstream), Buffer.from(bytes));
  });

  it('CheckResponse.error_response is field 5 and decodes as the errorResponse oneof member', () => {
    const check = authV3Service()['Check'];
    assert.ok(check);
    const bytes = check.responseSerialize({
      status: { code: 14, message: 'backend unavailable' },
      errorResponse: { status: { code: 'ServiceUnavailable' }, body: 'try later' },
    } satisfies CheckResponse);
    const top = parseWire(bytes);
    const err = only(top, 5);
    assert.equal(err.wireType, 2);
    assert.ok(containsSubsequence(bytes, [0x2a]), 'tag 0x2a = field 5, LEN');
    const denied = parseWire(err.bytes ?? new Uint8Array());
    const httpStatus = parseWire(only(denied, 1).bytes ?? new Uint8Array());
    assert.equal(only(httpStatus, 1).varint, 503);

    const decoded = check.responseDeserialize(bytes) as CheckResponse;
    assert.equal(decoded.httpResponse, 'errorResponse');
    assert.equal(decoded.errorResponse?.status?.code, 'ServiceUnavailable');
    assert.equal(decoded.errorResponse?.body, 'try later');
  });

  it('CheckRequest as Envoy encodes it (snake_case) decodes to camelCase with int64 as string', () => {
    const check = authV3Service()['Check'];
    assert.ok(check);
    const T = protoRoot({ keepCase: true }).lookupType('envoy.service.auth.v3.CheckRequest');
    const wire = T.encode(
      T.fromObject({
        attributes: {
          source: {
            address: { socket_address: { address: '10.0.0.1', port_value: 51234 } },
            principal: 'spiffe://example.org/ns/a/sa/b',
          },
          request: {
            time: { seconds: 1700000000, nanos: 5 },
            http: {
              method: 'GET',
              path: '/x?y=1',
              host: 'svc',
              size: -1,
              header_map: { headers: [{ key: 'authorization', raw_value: Buffer.from('Bearer t') }] },
              raw_body: Buffer.from([0xff, 0x00]),
            },
          },
          context_extensions: { tenant: 't1' },
          tls_session: { sni: 'svc.example.org' },
          // google.protobuf.* types come from protobufjs' bundled definitions,
          // whose field names are camelCase even with keepCase: true.
          route_metadata_context: { filter_metadata: { f: { fields: { k: { stringValue: 'v' } } } } },
        },
      }),
    ).finish();

    const req = check.requestDeserialize(Buffer.from(wire)) as CheckRequest;
    const attrs = req.attributes;
    assert.ok(attrs);
    assert.equal(attrs.source?.address?.address, 'socketAddress');
    assert.equal(attrs.source?.address?.socketAddress?.portValue, 51234);
    assert.equal(attrs.source?.address?.socketAddress?.portSpecifier, 'portValue');
    assert.equal(attrs.source?.principal, 'spiffe://example.org/ns/a/sa/b');
    const http = attrs.request?.http;
    assert.ok(http);
    assert.equal(http.size, '-1');
    assert.equal(http.method, 'GET');
    assert.deepEqual(http.headers, {});
    const raw = http.headerMap?.headers?.[0];
    assert.equal(raw?.key, 'authorization');
    assert.equal(Buffer.from(raw?.rawValue ?? []).toString(), 'Bearer t');
    assert.deepEqual([...Buffer.from(http.rawBody ?? [])], [0xff, 0x00]);
    assert.equal(attrs.request?.time?.seconds, '1700000000');
    assert.deepEqual(attrs.contextExtensions, { tenant: 't1' });
    assert.equal(attrs.tlsSession?.sni, 'svc.example.org');
    assert.equal(attrs.routeMetadataContext?.filterMetadata?.['f']?.fields?.['k']?.stringValue, 'v');
    assert.equal(attrs.metadataContext, null, 'unset message fields decode as null (defaults: true)');
    assert.equal(attrs.destination, null);
  });

  it('v2 CheckResponse encodes ok_response headers with only header/append', () => {
    const check = authV2Service()['Check'];
    assert.ok(check);
    const bytes = check.responseSerialize({
      status: { code: 0 },
      okResponse: { headers: [{ header: { key: 'x-a', value: '1' }, append: { value: false } }] },
    });
    const ok = only(parseWire(bytes), 3);
    const hvo = parseWire(only(parseWire(ok.bytes ?? new Uint8Array()), 2).bytes ?? new Uint8Array());
    assert.deepEqual(
      hvo.map((f) => [f.no, f.wireType]),
      [
        [1, 2],
        [2, 2],
      ],
    );
  });

  it('health ServingStatus round-trips by name', () => {
    const check = healthService()['Check'];
    assert.ok(check);
    const bytes = check.responseSerialize({ status: 'SERVICE_UNKNOWN' } satisfies HealthCheckResponse);
    assert.deepEqual([...bytes], [0x08, 0x03]);
    assert.deepEqual(check.responseDeserialize(bytes), { status: 'SERVICE_UNKNOWN' });
  });
});
