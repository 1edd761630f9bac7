// The node:http2 floor: what one Check costs when served straight from Node's HTTP/2 with no gRPC
// library, the least a gRPC server on node:http2 can do for a request. Per stream it gathers the
// DATA frames, reads the 5-byte gRPC prefix, decodes the whole CheckRequest with protobufjs (the
// service has to, so the floor does too), answers with one pre-encoded OK CheckResponse frame and
// `grpc-status: 0` trailers. Nothing else: no deadline, metadata or size handling. The service
// (cached-token allow, one process) is compared against it under the same h2load load.
import http2 from 'node:http2';
import type { Socket } from 'node:net';
import { AUTH_V3_CHECK_PATH, protoRoot } from '../src/transport/grpc/protos.js';
import { argMap } from './lib/util.js';

const args = argMap(process.argv.slice(2));
const port = Number(args.get('port') ?? 0);

const root = protoRoot();
const CheckRequest = root.lookupType('envoy.service.auth.v3.CheckRequest');
const CheckResponse = root.lookupType('envoy.service.auth.v3.CheckResponse');
const body = CheckResponse.encode(CheckResponse.create({ status: { code: 0 } })).finish();
const RESPONSE = Buffer.alloc(5 + body.length);
RESPONSE.writeUInt32BE(body.length, 1);
RESPONSE.set(body, 5);

const HEADERS = { ':status': 200, 'content-type': 'application/grpc' };
const TRAILERS = { 'grpc-status': '0' };
const UNIMPLEMENTED = { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12' };
const INTERNAL = { 'grpc-status': '13', 'grpc-message': 'bad message' };

const server = http2.createServer();
// A gRPC server on node:http2 sets TCP_NODELAY on accepted sockets; so does its floor.
server.on('connection', (socket: Socket) => socket.setNoDelay(true));
server.on('stream', (stream, headers) => {
  if (headers[':path'] !== AUTH_V3_CHECK_PATH) {
    stream.respond(UNIMPLEMENTED, { endStream: true });
    return;
  }
  const chunks: Buffer[] = [];
  stream.on('data', (d: Buffer) => chunks.push(d));
  stream.on('end', () => {
    const buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    let ok = buf.length >= 5 && buf[0] === 0 && buf.readUInt32BE(1) === buf.length - 5;
    if (ok) {
      try {
        CheckRequest.decode(buf.subarray(5));
      } catch {
        ok = false;
      }
    }
    if (stream.destroyed) return;
    stream.respond(HEADERS, { waitForTrailers: true });
    stream.once('wantTrailers', () => stream.sendTrailers(ok ? TRAILERS : INTERNAL));
    stream.end(ok ? RESPONSE : undefined);
  });
  stream.on('error', () => undefined); // a client reset: nothing to answer
});
server.listen(port, '127.0.0.1', () => {
  const a = server.address() as { port: number };
  process.stdout.write(`listening 127.0.0.1:${a.port}\n`);
});
const stop = (): void => {
  server.close(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
