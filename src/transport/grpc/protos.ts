/**
 * Loader for the wire-compatible proto subset shipped in the repository's
 * `proto/` directory (Envoy ext_authz v3 + v2, google.rpc.Status, gRPC health).
 *
 * Everything is loaded lazily, once, and memoised:
 *  - `packageDefinition()` – @grpc/proto-loader definition (camelCase fields,
 *    int64 as strings, enums as strings, defaults and oneof virtuals on).
 *  - `grpcObject()` – `grpc.loadPackageDefinition(packageDefinition())`.
 *  - `authV3Service()` / `authV2Service()` / `healthService()` – the
 *    `grpc.ServiceDefinition`s to pass to `server.addService`.
 *  - `AuthV3Client()` / `AuthV2Client()` / `HealthClient()` – client
 *    constructors for tests and the CLI client.
 *  - `protoRoot()` – a raw protobufjs Root over the same files, for wire tests
 *    and reflection.
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { InternalError } from '../../errors.js';

/** A file that must exist under PROTO_DIR; used to locate the directory. */
const MARKER = join('envoy', 'service', 'auth', 'v3', 'external_auth.proto');

function findProtoDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  // Compiled location is dist/src/transport/grpc/protos.js → repo root is 4 up.
  // Walk upwards so the module also works from other layouts (e.g. src/ run
  // directly by a TS loader), but prefer the nearest `proto/` that has our files.
  let dir = here;
  for (let i = 0; i < 8; i++) {
    const candidate = join(dir, 'proto');
    if (existsSync(join(candidate, MARKER))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return resolve(here, '..', '..', '..', '..', 'proto');
}

/** Absolute path of the repository's `proto/` directory. */
export const PROTO_DIR: string = findProtoDir();

/** Proto files loaded (relative to PROTO_DIR); imports are pulled in transitively. */
export const PROTO_FILES: readonly string[] = Object.freeze([
  'envoy/service/auth/v3/external_auth.proto',
  'envoy/service/auth/v2/external_auth.proto',
  'grpc/health/v1/health.proto',
]);

/** Options for @grpc/proto-loader; the JS object shapes in messages.ts follow these. */
export const LOADER_OPTIONS: Readonly<protoLoader.Options> = Object.freeze({
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
});

/** Fully-qualified service names. */
export const AUTH_V3_SERVICE = 'envoy.service.auth.v3.Authorization';
export const AUTH_V2_SERVICE = 'envoy.service.auth.v2.Authorization';
export const HEALTH_SERVICE = 'grpc.health.v1.Health';

/** HTTP/2 method paths as seen on the wire. */
export const AUTH_V3_CHECK_PATH = `/${AUTH_V3_SERVICE}/Check`;
export const AUTH_V2_CHECK_PATH = `/${AUTH_V2_SERVICE}/Check`;
export const HEALTH_CHECK_PATH = `/${HEALTH_SERVICE}/Check`;
export const HEALTH_WATCH_PATH = `/${HEALTH_SERVICE}/Watch`;

let cachedPackageDefinition: protoLoader.PackageDefinition | undefined;
let cachedGrpcObject: grpc.GrpcObject | undefined;
const cachedRoots = new Map<boolean, protobuf.Root>();

/** The proto-loader package definition (loaded once). */
export function packageDefinition(): protoLoader.PackageDefinition {
  if (cachedPackageDefinition === undefined) {
    cachedPackageDefinition = protoLoader.loadSync([...PROTO_FILES], {
      ...LOADER_OPTIONS,
      includeDirs: [PROTO_DIR],
    });
  }
  return cachedPackageDefinition;
}

/** The grpc-js object hierarchy built from `packageDefinition()` (built once). */
export function grpcObject(): grpc.GrpcObject {
  if (cachedGrpcObject === undefined) {
    cachedGrpcObject = grpc.loadPackageDefinition(packageDefinition());
  }
  return cachedGrpcObject;
}

function isServiceClientConstructor(v: unknown): v is grpc.ServiceClientConstructor {
  return (
    typeof v === 'function' && typeof (v as { service?: unknown }).service === 'object' && (v as { service?: unknown }).service !== null
  );
}

function lookupClient(fqName: string): grpc.ServiceClientConstructor {
  let node: unknown = grpcObject();
  for (const part of fqName.split('.')) {
    if (node === null || (typeof node !== 'object' && typeof node !== 'function')) {
      node = undefined;
      break;
    }
    node = (node as Record<string, unknown>)[part];
  }
  if (!isServiceClientConstructor(node)) {
    throw new InternalError(`gRPC service ${fqName} not found in loaded protos (${PROTO_DIR})`);
  }
  return node;
}

/** Client constructor for envoy.service.auth.v3.Authorization. */
export function AuthV3Client(): grpc.ServiceClientConstructor {
  return lookupClient(AUTH_V3_SERVICE);
}

/** Client constructor for envoy.service.auth.v2.Authorization. */
export function AuthV2Client(): grpc.ServiceClientConstructor {
  return lookupClient(AUTH_V2_SERVICE);
}

/** Client constructor for grpc.health.v1.Health. */
export function HealthClient(): grpc.ServiceClientConstructor {
  return lookupClient(HEALTH_SERVICE);
}

/** Service definition for envoy.service.auth.v3.Authorization (for server.addService). */
export function authV3Service(): grpc.ServiceDefinition {
  return AuthV3Client().service;
}

/** Service definition for envoy.service.auth.v2.Authorization (for server.addService). */
export function authV2Service(): grpc.ServiceDefinition {
  return AuthV2Client().service;
}

/** Service definition for grpc.health.v1.Health (for server.addService). */
export function healthService(): grpc.ServiceDefinition {
  return HealthClient().service;
}

/**
 * A raw protobufjs Root over the same proto files (memoised per option).
 *
 * With `keepCase: false` (default) field names are camelCase like the
 * proto-loader objects; with `keepCase: true` they are the upstream
 * snake_case names, which is what reflection/wire tests compare against.
 * google/protobuf/* imports resolve to the definitions bundled in protobufjs.
 */
export function protoRoot(options: { keepCase?: boolean } = {}): protobuf.Root {
  const keepCase = options.keepCase ?? false;
  let root = cachedRoots.get(keepCase);
  if (root === undefined) {
    const fresh = new protobuf.Root();
    fresh.resolvePath = (_origin: string, target: string): string => (isAbsolute(target) ? target : join(PROTO_DIR, target));
    fresh.loadSync([...PROTO_FILES], { keepCase });
    fresh.resolveAll();
    root = fresh;
    cachedRoots.set(keepCase, root);
  }
  return root;
}
