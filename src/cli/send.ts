// `zt-authz send`: a gRPC ext_authz client (built from proto/) that sends one Check the way
// Envoy would and prints the decision. Exit 0 allowed, 1 denied, 2 usage error, 3 no answer.
import * as grpc from '@grpc/grpc-js';
import { AuthV2Client, AuthV3Client } from '../transport/grpc/protos.js';
import type { CheckRequest, CheckResponse, HeaderValueOption } from '../transport/grpc/messages.js';
import { InvalidArgumentError } from '../errors.js';
import { bearerJwtView } from './jwt-view.js';
import { EXIT, parseCommandArgs, type CliCommand } from './command.js';

export const SEND_COMMAND: CliCommand = {
  name: 'send',
  usage: `  zt-authz send [--addr H:P] [--token T] [--method M] [--path P] [--host H]
                [--header "k: v"]... [--principal spiffe://...] [--v2] [--json]
                                        send one ext_authz Check over gRPC and print the decision
`,
  exitCodes: {
    [EXIT.OK]: 'allow',
    [EXIT.NO]: 'deny',
    [EXIT.USAGE]: 'unknown flag',
    [EXIT.RUNTIME]: 'no answer: the server cannot be reached, the call failed or timed out',
  },
  run: sendCmd,
};

async function sendCmd(args: string[]): Promise<number> {
  const { values } = parseCommandArgs('send', {
    args,
    options: {
      addr: { type: 'string', default: '127.0.0.1:9191' },
      token: { type: 'string' },
      method: { type: 'string', default: 'GET' },
      path: { type: 'string', default: '/' },
      host: { type: 'string', default: 'orders.demo.svc' },
      header: { type: 'string', multiple: true, default: [] },
      principal: { type: 'string' },
      v2: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      timeout: { type: 'string', default: '5000' },
    },
  });
  return send({
    addr: values.addr,
    method: values.method,
    path: values.path,
    host: values.host,
    headers: values.header ?? [],
    v2: values.v2,
    json: values.json,
    timeoutMs: Number(values.timeout),
    ...(values.token ? { token: values.token } : {}),
    ...(values.principal ? { principal: values.principal } : {}),
  });
}

export interface SendOptions {
  addr: string;
  method: string;
  path: string;
  host: string;
  token?: string;
  headers: string[];
  principal?: string;
  v2: boolean;
  json: boolean;
  timeoutMs: number;
}

export function buildCheckRequest(o: SendOptions): CheckRequest {
  const headers: Record<string, string> = {
    ':method': o.method,
    ':path': o.path,
    ':authority': o.host,
    'x-request-id': crypto.randomUUID(),
  };
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  for (const h of o.headers) {
    const i = h.indexOf(':');
    if (i <= 0) throw new InvalidArgumentError(`--header expects "name: value", got "${h}"`);
    const name = h.slice(0, i).trim().toLowerCase();
    const value = h.slice(i + 1).trim();
    headers[name] = name in headers ? `${headers[name]},${value}` : value; // Envoy comma-joins repeats
  }
  return {
    attributes: {
      source: {
        address: { socketAddress: { address: '127.0.0.1', portValue: 40000 } },
        ...(o.principal ? { principal: o.principal } : {}),
      },
      destination: { address: { socketAddress: { address: '127.0.0.1', portValue: 8080 } } },
      request: { http: { id: '1', method: o.method, path: o.path, host: o.host, scheme: 'http', protocol: 'HTTP/1.1', headers } },
    },
  };
}

export async function send(o: SendOptions): Promise<number> {
  const Client = o.v2 ? AuthV2Client() : AuthV3Client();
  const client = new Client(o.addr, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    Check(req: CheckRequest, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: CheckResponse) => void): void;
  };
  try {
    const res = await new Promise<CheckResponse>((resolve, reject) =>
      client.Check(buildCheckRequest(o), { deadline: Date.now() + o.timeoutMs }, (err, r) => (err ? reject(err) : resolve(r))),
    );
    if (o.json) console.log(JSON.stringify(res, null, 2));
    else printResponse(res);
    return res.status?.code === 0 ? 0 : 1;
  } catch (err) {
    const e = err as grpc.ServiceError;
    console.error(`error: gRPC ${grpc.status[e.code] ?? e.code}: ${e.details ?? e.message} (is zt-authz listening on ${o.addr}?)`);
    return 3; // no answer (EXIT.RUNTIME): unlike a deny, says nothing about the request
  } finally {
    client.close();
  }
}

function printResponse(res: CheckResponse): void {
  if (res.status?.code === 0) {
    console.log('ALLOW');
    for (const h of res.okResponse?.headers ?? []) {
      // A minted internal token is shown decoded, never as the bearer credential it is.
      const jwt = bearerJwtView(h.header?.value ?? '');
      console.log(`  upstream header set: ${h.header?.key}: ${jwt ? jwt.value : h.header?.value}${appendSemantics(h)}`);
      for (const line of jwt?.decoded ?? []) console.log(`    ${line}`);
    }
    for (const h of res.okResponse?.headersToRemove ?? []) console.log(`  upstream header removed: ${h}`);
    return;
  }
  const d = res.deniedResponse;
  const code = d?.status?.code;
  console.log(`DENY ${typeof code === 'string' ? code : ''} (grpc status ${res.status?.code}: ${res.status?.message})`);
  for (const h of d?.headers ?? []) console.log(`  ${h.header?.key}: ${h.header?.value}`);
  if (d?.body) console.log(`  body: ${d.body}`);
}

/** `  (append=false, OVERWRITE_IF_EXISTS_OR_ADD)`: only the fields the answer has (v2 has no append_action). */
function appendSemantics(h: HeaderValueOption): string {
  const parts: string[] = [];
  if (h.append?.value !== undefined && h.append.value !== null) parts.push(`append=${h.append.value}`);
  if (h.appendAction !== undefined && h.appendAction !== null) parts.push(String(h.appendAction));
  return parts.length ? `  (${parts.join(', ')})` : '';
}
