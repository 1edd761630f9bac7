/**
 * TypeScript shapes of the JS objects exchanged with @grpc/proto-loader /
 * grpc-js for the protos in `proto/`, given the loader options in protos.ts:
 *
 *   keepCase: false  → field names are camelCase (`append_action` → `appendAction`)
 *   longs: String    → int64/uint64 decode as decimal strings
 *   enums: String    → enums decode as their value names
 *   defaults: true   → decoded scalars/repeated/maps are always present; unset
 *                      singular message fields decode as `null`
 *   oneofs: true     → a virtual property names the set member of each oneof
 *                      (e.g. `httpResponse: 'okResponse'`)
 *   bytes            → decode as Buffer (encode accepts Buffer/Uint8Array/base64)
 *
 * Fields are optional so the same interfaces describe objects we build
 * (serialisation ignores missing fields) and objects we receive.
 * Types only: this module emits no runtime code.
 */

// ---------------------------------------------------------------------------
// google.protobuf well-known types (bundled with protobufjs)
// ---------------------------------------------------------------------------

/** int64/uint64 as produced with `longs: String`; number is accepted on encode. */
export type Int64 = string;

/** google.protobuf.BoolValue */
export interface BoolValue {
  value?: boolean;
}

/** google.protobuf.Any (no JSON `@type` mapping with these loader options). */
export interface Any {
  typeUrl?: string;
  value?: Uint8Array;
}

/** google.protobuf.Timestamp */
export interface Timestamp {
  seconds?: Int64 | number;
  nanos?: number;
}

/** google.protobuf.Value */
export interface Value {
  nullValue?: 'NULL_VALUE';
  numberValue?: number;
  stringValue?: string;
  boolValue?: boolean;
  structValue?: Struct | null;
  listValue?: ListValue | null;
  /** oneof `kind` virtual. */
  kind?: 'nullValue' | 'numberValue' | 'stringValue' | 'boolValue' | 'structValue' | 'listValue';
}

/** google.protobuf.ListValue */
export interface ListValue {
  values?: Value[];
}

/** google.protobuf.Struct (message form, not the JSON mapping). */
export interface Struct {
  fields?: Record<string, Value>;
}

// ---------------------------------------------------------------------------
// google.rpc
// ---------------------------------------------------------------------------

/** google.rpc.Status */
export interface RpcStatus {
  /** google.rpc.Code value; 0 = OK. */
  code?: number;
  message?: string;
  details?: Any[];
}

// ---------------------------------------------------------------------------
// envoy.type.v3 / envoy.type
// ---------------------------------------------------------------------------

/** Names of envoy.type.v3.StatusCode (identical in envoy.type.StatusCode). */
export type StatusCodeName =
  | 'Empty'
  | 'Continue'
  | 'OK'
  | 'Created'
  | 'Accepted'
  | 'NonAuthoritativeInformation'
  | 'NoContent'
  | 'ResetContent'
  | 'PartialContent'
  | 'MultiStatus'
  | 'AlreadyReported'
  | 'IMUsed'
  | 'MultipleChoices'
  | 'MovedPermanently'
  | 'Found'
  | 'SeeOther'
  | 'NotModified'
  | 'UseProxy'
  | 'TemporaryRedirect'
  | 'PermanentRedirect'
  | 'BadRequest'
  | 'Unauthorized'
  | 'PaymentRequired'
  | 'Forbidden'
  | 'NotFound'
  | 'MethodNotAllowed'
  | 'NotAcceptable'
  | 'ProxyAuthenticationRequired'
  | 'RequestTimeout'
  | 'Conflict'
  | 'Gone'
  | 'LengthRequired'
  | 'PreconditionFailed'
  | 'PayloadTooLarge'
  | 'URITooLong'
  | 'UnsupportedMediaType'
  | 'RangeNotSatisfiable'
  | 'ExpectationFailed'
  | 'MisdirectedRequest'
  | 'UnprocessableEntity'
  | 'Locked'
  | 'FailedDependency'
  | 'UpgradeRequired'
  | 'PreconditionRequired'
  | 'TooManyRequests'
  | 'RequestHeaderFieldsTooLarge'
  | 'InternalServerError'
  | 'NotImplemented'
  | 'BadGateway'
  | 'ServiceUnavailable'
  | 'GatewayTimeout'
  | 'HTTPVersionNotSupported'
  | 'VariantAlsoNegotiates'
  | 'InsufficientStorage'
  | 'LoopDetected'
  | 'NotExtended'
  | 'NetworkAuthenticationRequired';

/** Enum field value: a name, or a number (encode accepts numbers; unknown values decode as numbers). */
export type StatusCode = StatusCodeName | number;

/** envoy.type.v3.HttpStatus (and envoy.type.HttpStatus for v2). */
export interface HttpStatus {
  code?: StatusCode;
}

// ---------------------------------------------------------------------------
// envoy.config.core.v3
// ---------------------------------------------------------------------------

/** envoy.config.core.v3.SocketAddress */
export interface SocketAddress {
  protocol?: 'TCP' | 'UDP';
  address?: string;
  portValue?: number;
  namedPort?: string;
  resolverName?: string;
  ipv4Compat?: boolean;
  networkNamespaceFilepath?: string;
  /** oneof `port_specifier` virtual. */
  portSpecifier?: 'portValue' | 'namedPort';
}

/** envoy.config.core.v3.Pipe */
export interface Pipe {
  path?: string;
  mode?: number;
}

/** envoy.config.core.v3.EnvoyInternalAddress */
export interface EnvoyInternalAddress {
  serverListenerName?: string;
  endpointId?: string;
  /** oneof `address_name_specifier` virtual. */
  addressNameSpecifier?: 'serverListenerName';
}

/** envoy.config.core.v3.Address */
export interface Address {
  socketAddress?: SocketAddress | null;
  pipe?: Pipe | null;
  envoyInternalAddress?: EnvoyInternalAddress | null;
  /** oneof `address` virtual. */
  address?: 'socketAddress' | 'pipe' | 'envoyInternalAddress';
}

/** envoy.config.core.v3.Metadata */
export interface Metadata {
  filterMetadata?: Record<string, Struct>;
  typedFilterMetadata?: Record<string, Any>;
}

/** envoy.config.core.v3.HeaderValue */
export interface HeaderValue {
  key?: string;
  value?: string;
  /** Non-UTF-8-safe value; only one of `value` / `rawValue` should be set. */
  rawValue?: Uint8Array;
}

/** envoy.config.core.v3.HeaderValueOption.HeaderAppendAction */
export type HeaderAppendAction = 'APPEND_IF_EXISTS_OR_ADD' | 'ADD_IF_ABSENT' | 'OVERWRITE_IF_EXISTS_OR_ADD' | 'OVERWRITE_IF_EXISTS';

/** envoy.config.core.v3.HeaderValueOption */
export interface HeaderValueOption {
  header?: HeaderValue | null;
  /**
   * Deprecated upstream (use appendAction) but still honoured by Envoy; when
   * present it wins over appendAction: true → APPEND_IF_EXISTS_OR_ADD,
   * false → OVERWRITE_IF_EXISTS_OR_ADD.
   */
  append?: BoolValue | null;
  appendAction?: HeaderAppendAction;
  keepEmptyValue?: boolean;
}

/** envoy.config.core.v3.HeaderMap */
export interface HeaderMap {
  headers?: HeaderValue[];
}

/** envoy.config.core.v3.QueryParameter */
export interface QueryParameter {
  key?: string;
  value?: string;
}

// ---------------------------------------------------------------------------
// envoy.service.auth.v3
// ---------------------------------------------------------------------------

/** envoy.service.auth.v3.AttributeContext.Peer */
export interface Peer {
  address?: Address | null;
  service?: string;
  labels?: Record<string, string>;
  principal?: string;
  certificate?: string;
}

/** envoy.service.auth.v3.AttributeContext.HttpRequest */
export interface HttpRequest {
  id?: string;
  method?: string;
  headers?: Record<string, string>;
  headerMap?: HeaderMap | null;
  path?: string;
  host?: string;
  scheme?: string;
  query?: string;
  fragment?: string;
  /** int64; -1 when unknown. */
  size?: Int64 | number;
  protocol?: string;
  body?: string;
  rawBody?: Uint8Array;
}

/** envoy.service.auth.v3.AttributeContext.Request */
export interface AttributeRequest {
  time?: Timestamp | null;
  http?: HttpRequest | null;
}

/** envoy.service.auth.v3.AttributeContext.TLSSession */
export interface TLSSession {
  sni?: string;
}

/** envoy.service.auth.v3.AttributeContext */
export interface AttributeContext {
  source?: Peer | null;
  destination?: Peer | null;
  request?: AttributeRequest | null;
  contextExtensions?: Record<string, string>;
  metadataContext?: Metadata | null;
  routeMetadataContext?: Metadata | null;
  tlsSession?: TLSSession | null;
}

/** envoy.service.auth.v3.CheckRequest */
export interface CheckRequest {
  attributes?: AttributeContext | null;
}

/** envoy.service.auth.v3.DeniedHttpResponse (also used for CheckResponse.error_response). */
export interface DeniedHttpResponse {
  status?: HttpStatus | null;
  headers?: HeaderValueOption[];
  body?: string;
}

/** envoy.service.auth.v3.OkHttpResponse */
export interface OkHttpResponse {
  headers?: HeaderValueOption[];
  headersToRemove?: string[];
  /** Deprecated upstream; overrides CheckResponse.dynamicMetadata when set. */
  dynamicMetadata?: Struct | null;
  responseHeadersToAdd?: HeaderValueOption[];
  queryParametersToSet?: QueryParameter[];
  queryParametersToRemove?: string[];
}

/** envoy.service.auth.v3.CheckResponse */
export interface CheckResponse {
  status?: RpcStatus | null;
  deniedResponse?: DeniedHttpResponse | null;
  okResponse?: OkHttpResponse | null;
  /** Field 5 (late 2025): an authorization-service error, not a denial. */
  errorResponse?: DeniedHttpResponse | null;
  /** oneof `http_response` virtual. */
  httpResponse?: 'deniedResponse' | 'okResponse' | 'errorResponse';
  dynamicMetadata?: Struct | null;
}

// ---------------------------------------------------------------------------
// envoy.api.v2.core / envoy.service.auth.v2 (frozen upstream)
// ---------------------------------------------------------------------------

/** envoy.api.v2.core.SocketAddress */
export interface V2SocketAddress {
  protocol?: 'TCP' | 'UDP';
  address?: string;
  portValue?: number;
  namedPort?: string;
  resolverName?: string;
  ipv4Compat?: boolean;
  portSpecifier?: 'portValue' | 'namedPort';
}

/** envoy.api.v2.core.Address */
export interface V2Address {
  socketAddress?: V2SocketAddress | null;
  pipe?: Pipe | null;
  address?: 'socketAddress' | 'pipe';
}

/** envoy.api.v2.core.Metadata */
export interface V2Metadata {
  filterMetadata?: Record<string, Struct>;
}

/** envoy.api.v2.core.HeaderValue */
export interface V2HeaderValue {
  key?: string;
  value?: string;
}

/** envoy.api.v2.core.HeaderValueOption (no append_action in v2). */
export interface V2HeaderValueOption {
  header?: V2HeaderValue | null;
  append?: BoolValue | null;
}

/** envoy.service.auth.v2.AttributeContext.Peer */
export interface V2Peer {
  address?: V2Address | null;
  service?: string;
  labels?: Record<string, string>;
  principal?: string;
  certificate?: string;
}

/** envoy.service.auth.v2.AttributeContext.HttpRequest */
export interface V2HttpRequest {
  id?: string;
  method?: string;
  headers?: Record<string, string>;
  path?: string;
  host?: string;
  scheme?: string;
  query?: string;
  fragment?: string;
  size?: Int64 | number;
  protocol?: string;
  body?: string;
}

/** envoy.service.auth.v2.AttributeContext.Request */
export interface V2AttributeRequest {
  time?: Timestamp | null;
  http?: V2HttpRequest | null;
}

/** envoy.service.auth.v2.AttributeContext */
export interface V2AttributeContext {
  source?: V2Peer | null;
  destination?: V2Peer | null;
  request?: V2AttributeRequest | null;
  contextExtensions?: Record<string, string>;
  metadataContext?: V2Metadata | null;
}

/** envoy.service.auth.v2.CheckRequest */
export interface V2CheckRequest {
  attributes?: V2AttributeContext | null;
}

/** envoy.service.auth.v2.DeniedHttpResponse */
export interface V2DeniedHttpResponse {
  status?: HttpStatus | null;
  headers?: V2HeaderValueOption[];
  body?: string;
}

/** envoy.service.auth.v2.OkHttpResponse (only `headers` in v2). */
export interface V2OkHttpResponse {
  headers?: V2HeaderValueOption[];
}

/** envoy.service.auth.v2.CheckResponse (no dynamic_metadata in v2). */
export interface V2CheckResponse {
  status?: RpcStatus | null;
  deniedResponse?: V2DeniedHttpResponse | null;
  okResponse?: V2OkHttpResponse | null;
  httpResponse?: 'deniedResponse' | 'okResponse';
}

// ---------------------------------------------------------------------------
// grpc.health.v1
// ---------------------------------------------------------------------------

/** grpc.health.v1.HealthCheckResponse.ServingStatus */
export type ServingStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

/** grpc.health.v1.HealthCheckRequest */
export interface HealthCheckRequest {
  service?: string;
}

/** grpc.health.v1.HealthCheckResponse */
export interface HealthCheckResponse {
  status?: ServingStatus;
}
