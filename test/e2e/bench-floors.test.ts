// The bench's floors (bench/floor-server.ts, bench/h2-floor-server.ts) are what the service's
// throughput and CPU are held against, so each must really answer a Check the way a gRPC server
// does: a grpc-js client gets OK from both, and the raw node:http2 floor decodes what it is sent
// (a frame whose length prefix lies, or that is not a CheckRequest, gets grpc-status INTERNAL, and
// an unknown method UNIMPLEMENTED), one DATA frame at a time or split across several.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type ClientHttp2Session } from 'node:http2';
import { CHECK_PATH_V3, encodeCheckRequest, envoyCheckRequest, grpcFrame } from '../../bench/lib/frames.js';
import { sampleChecks } from '../../bench/lib/grpc-sample.js';
import { freePort, startFloor, type FloorKind, type RunningProcess } from '../../bench/lib/server.js';
import { captureChild } from '../helpers/capture.js';

const floors = new Map<FloorKind, RunningProcess>();
before(async () => {
  for (const kind of ['grpc-js', 'node-http2'] as const) {
    const p = await startFloor(await freePort(), [], kind);
    captureChild(`${kind} floor`, p.child); // log hygiene
    floors.set(kind, p);
  }
});
after(async () => {
  await Promise.all([...floors.values()].map((p) => p.stop()));
});

for (const kind of ['grpc-js', 'node-http2'] as const) {
  test(`${kind} floor: a grpc-js client's Check is answered OK`, async () => {
    const got = await sampleChecks(floors.get(kind)!.grpcPort, envoyCheckRequest({ token: 'x.y.z' }), 3);
    assert.deepEqual(
      got.map((r) => r.code ?? 0),
      [0, 0, 0],
    );
  });
}

/** One raw HTTP/2 gRPC call: the body sent in `chunks` (one DATA frame each); the trailers' grpc-status and the response body. */
async function rawCall(session: ClientHttp2Session, path: string, chunks: Buffer[]): Promise<{ status: string | undefined; body: Buffer }> {
  const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
  const body: Buffer[] = [];
  let status: string | undefined;
  stream.on('response', (h) => (status ??= h['grpc-status'] as string | undefined));
  stream.on('trailers', (h) => (status = h['grpc-status'] as string | undefined));
  stream.on('data', (d: Buffer) => body.push(d));
  for (const c of chunks.slice(0, -1)) {
    stream.write(c);
    await new Promise((r) => setTimeout(r, 5));
  }
  stream.end(chunks.at(-1));
  await new Promise<void>((resolve, reject) => {
    stream.on('close', resolve);
    stream.on('error', reject);
  });
  return { status, body: Buffer.concat(body) };
}

test('node-http2 floor: decodes the request: good frames OK (whole or split), a lying prefix or a non-CheckRequest INTERNAL, unknown methods UNIMPLEMENTED', async () => {
  const session = connect(`http://127.0.0.1:${floors.get('node-http2')!.grpcPort}`);
  try {
    const frame = grpcFrame(encodeCheckRequest(envoyCheckRequest({ token: 'x.y.z' })));
    const whole = await rawCall(session, CHECK_PATH_V3, [frame]);
    assert.equal(whole.status, '0');
    assert.equal(whole.body.readUInt32BE(1), whole.body.length - 5, 'one length-prefixed response message');
    assert.equal((await rawCall(session, CHECK_PATH_V3, [frame.subarray(0, 3), frame.subarray(3, 200), frame.subarray(200)])).status, '0');

    const lying = Buffer.from(frame);
    lying.writeUInt32BE(frame.length, 1); // declares 5 bytes more than it carries
    assert.equal((await rawCall(session, CHECK_PATH_V3, [lying])).status, '13');
    // Field 1 (attributes) as a varint instead of a message: protobufjs cannot decode it.
    assert.equal((await rawCall(session, CHECK_PATH_V3, [grpcFrame(Buffer.from([0x08, 0x01]))])).status, '13');
    assert.equal((await rawCall(session, '/envoy.service.auth.v3.Authorization/Nope', [frame])).status, '12');
  } finally {
    session.close();
  }
});
