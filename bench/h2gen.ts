// A small HTTP/2 load generator for what h2load cannot do: replay many *distinct* pre-encoded
// gRPC Check frames (h2load's -d sends one body). It keeps `--streams` requests in flight on each
// of `--conns` connections, takes the next frame round-robin for every request, and records each
// request's latency (µs). grpc-status must be 0; anything else counts as an error.
//
//   node dist/bench/h2gen.js --port P --tokens FILE [--path /api/x --host h] [--conns 4 --streams 16]
//        (--duration S [--warmup S] | --count N)
// Prints one JSON line: {rps, ok, errors, seconds, latency:{p50,p90,p99,...}}
import { connect, constants, type ClientHttp2Session } from 'node:http2';
import { readFileSync } from 'node:fs';
import { CHECK_PATH_V3, encodeCheckRequest, envoyCheckRequest, grpcFrame } from './lib/frames.js';
import { argMap, summarizeMicros } from './lib/util.js';

const a = argMap(process.argv.slice(2));
const port = Number(a.get('port'));
const conns = Number(a.get('conns') ?? 4);
const streams = Number(a.get('streams') ?? 16);
const durationS = Number(a.get('duration') ?? 0);
const warmupS = Number(a.get('warmup') ?? 0);
const count = Number(a.get('count') ?? 0);
const tokens = readFileSync(a.get('tokens')!, 'utf8').split('\n').filter(Boolean);
const shape = { ...(a.has('path') ? { path: a.get('path')! } : {}), ...(a.has('host') ? { host: a.get('host')! } : {}) };
const frames = tokens.map((token) => grpcFrame(encodeCheckRequest(envoyCheckRequest({ ...shape, token }))));

const HEADERS = {
  [constants.HTTP2_HEADER_METHOD]: 'POST',
  [constants.HTTP2_HEADER_PATH]: CHECK_PATH_V3,
  [constants.HTTP2_HEADER_SCHEME]: 'http',
  [constants.HTTP2_HEADER_AUTHORITY]: `127.0.0.1:${port}`,
  'content-type': 'application/grpc',
  te: 'trailers',
};

let next = 0;
let sent = 0;
let ok = 0;
let errors = 0;
let measuring = warmupS === 0;
let stopping = false;
let lat = new Float64Array(1 << 16);
let nLat = 0;
let tStart = 0;
let tEnd = 0;
let inflight = 0;
let done: () => void = () => undefined;

function record(us: number): void {
  if (nLat === lat.length) {
    const bigger = new Float64Array(lat.length * 2);
    bigger.set(lat);
    lat = bigger;
  }
  lat[nLat++] = us;
}

function fire(session: ClientHttp2Session): void {
  if (stopping || (count > 0 && sent >= count)) {
    if (inflight === 0) done();
    return;
  }
  sent++;
  inflight++;
  const frame = frames[next++ % frames.length]!;
  const t0 = performance.now();
  const counted = measuring;
  let grpcStatus: string | undefined;
  const req = session.request(HEADERS, { endStream: false });
  req.on('response', (h) => {
    if (h['grpc-status'] !== undefined) grpcStatus = String(h['grpc-status']); // trailers-only
  });
  req.on('trailers', (h: Record<string, string | string[] | undefined>) => {
    grpcStatus = String(h['grpc-status']);
  });
  req.on('data', () => undefined);
  req.on('error', () => undefined);
  req.on('close', () => {
    inflight--;
    const good = grpcStatus === '0';
    if (counted && measuring) {
      if (good) ok++;
      else errors++;
      record((performance.now() - t0) * 1000);
    } else if (!good) errors++;
    fire(session);
  });
  req.end(frame);
}

async function main(): Promise<void> {
  const sessions = await Promise.all(
    Array.from(
      { length: conns },
      () =>
        new Promise<ClientHttp2Session>((resolve, reject) => {
          const s = connect(`http://127.0.0.1:${port}`);
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        }),
    ),
  );
  const finished = new Promise<void>((r) => (done = r));
  if (measuring) tStart = performance.now();
  for (const s of sessions) for (let i = 0; i < streams; i++) fire(s);
  if (count === 0) {
    if (warmupS > 0) {
      setTimeout(() => {
        measuring = true;
        tStart = performance.now();
      }, warmupS * 1000);
    }
    setTimeout(
      () => {
        tEnd = performance.now();
        measuring = false;
        stopping = true;
      },
      (warmupS + durationS) * 1000,
    );
  }
  await finished;
  if (!tEnd) tEnd = performance.now();
  for (const s of sessions) s.close();
  const seconds = (tEnd - tStart) / 1000;
  const measured = ok + errors;
  process.stdout.write(
    `${JSON.stringify({ rps: measured / seconds, ok, errors, sent, seconds, distinctFrames: frames.length, latency: summarizeMicros(lat.subarray(0, nLat)) })}\n`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
