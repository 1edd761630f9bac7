// The gRPC suites run against both server implementations (server.grpcImplementation): the
// node:http2 server, the default, and grpc-js, which stays selectable. A suite that talks gRPC
// wraps its transport tests in describeGrpc (one describe per implementation, the name says
// which) and starts its app with withGrpc(impl, config). Tests that only exercise the decision
// (not the wire) run once, on the default.
import { describe, test, type TestContext } from 'node:test';

export type GrpcImplementation = 'node-http2' | 'grpc-js';

/** Every server implementation, the default first. */
export const GRPC_IMPLEMENTATIONS: readonly GrpcImplementation[] = ['node-http2', 'grpc-js'];

type Raw = Record<string, unknown>;

/** `config` with server.grpcImplementation set to `impl` (other server keys kept). */
export function withGrpc<T extends Raw>(impl: GrpcImplementation, config: T): T {
  return { ...config, server: { ...(config.server as Raw | undefined), grpcImplementation: impl } };
}

/** One `describe` per implementation, named `<name> [<impl>]`. */
export function describeGrpc(
  name: string,
  fn: (impl: GrpcImplementation) => void,
  options: { timeout?: number; skip?: string | false } = {},
): void {
  for (const impl of GRPC_IMPLEMENTATIONS) describe(`${name} [${impl}]`, options, () => fn(impl));
}

/** One top-level `test` per implementation, named `<name> [<impl>]`. */
export function testGrpc(
  name: string,
  options: { timeout?: number },
  fn: (impl: GrpcImplementation, ctx: TestContext) => Promise<void>,
): void {
  for (const impl of GRPC_IMPLEMENTATIONS) test(`${name} [${impl}]`, options, (ctx) => fn(impl, ctx));
}
