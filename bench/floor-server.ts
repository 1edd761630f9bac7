// The floor: a grpc-js server with the same proto definitions (the stock proto-loader codec, as
// any grpc-js service would use) and the same server options as the service, whose Check
// handler returns OK and does nothing else. The service is compared against it under
// identical load.
import * as grpc from '@grpc/grpc-js';
import { authV3Service } from '../src/transport/grpc/protos.js';
import { GRPC_SERVER_OPTIONS } from '../src/transport/grpc/server.js';
import { argMap } from './lib/util.js';

const args = argMap(process.argv.slice(2));
const port = Number(args.get('port') ?? 0);
const server = new grpc.Server({ ...GRPC_SERVER_OPTIONS });
server.addService(authV3Service(), {
  Check: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, { status: { code: 0 } }),
});
server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => {
  if (err) {
    console.error(err.message);
    process.exit(1);
  }
  process.stdout.write(`listening ${bound}\n`);
});
const stop = (): void => server.tryShutdown(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
