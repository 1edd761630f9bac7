// An OTLP/HTTP trace receiver for tests: a node:http server taking POST /v1/traces (protobuf),
// keeping every body as received and decoding it with the subset of the OTLP protos in
// test/fixtures/otlp/trace.proto.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

const PROTO = fileURLToPath(new URL('../../../test/fixtures/otlp/trace.proto', import.meta.url));

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  traceState: string;
  name: string;
  kind: number;
  attributes: Record<string, string | number | boolean>;
  status: { code: number; message: string };
  resource: Record<string, string | number | boolean>;
  scope: string;
  /** Date.now() when the export carrying it arrived. */
  receivedAt: number;
}

interface Decoded {
  resourceSpans?: Array<{
    resource?: { attributes?: KeyValue[] };
    scopeSpans?: Array<{ scope?: { name?: string }; spans?: RawSpan[] }>;
  }>;
}
interface KeyValue {
  key: string;
  value?: { stringValue?: string; boolValue?: boolean; intValue?: number; doubleValue?: number };
}
interface RawSpan {
  traceId?: number[];
  spanId?: number[];
  parentSpanId?: number[];
  traceState?: string;
  name?: string;
  kind?: number;
  attributes?: KeyValue[];
  status?: { code?: number; message?: string };
}

export class OtlpReceiver {
  /** Every request body as received (for the no-secrets scan). */
  readonly bodies: Buffer[] = [];
  readonly spans: ReceivedSpan[] = [];
  /** Content types of the export requests. */
  readonly contentTypes: string[] = [];
  private readonly type: protobuf.Type;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {
    this.type = protobuf.loadSync(PROTO).lookupType('otlp.ExportTraceServiceRequest');
  }

  static async start(): Promise<OtlpReceiver> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const r = new OtlpReceiver(server, (server.address() as AddressInfo).port);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        r.bodies.push(body);
        r.contentTypes.push(String(req.headers['content-type']));
        r.decode(body, Date.now());
        // An empty ExportTraceServiceResponse: everything accepted.
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
    return r;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}/v1/traces`;
  }

  /** Every export body concatenated, for substring scans. */
  allBytes(): Buffer {
    return Buffer.concat(this.bodies);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private decode(body: Buffer, receivedAt: number): void {
    const msg = this.type.toObject(this.type.decode(body), { longs: Number, bytes: Array }) as unknown as Decoded;
    for (const rs of msg.resourceSpans ?? []) {
      const resource = attrs(rs.resource?.attributes);
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          this.spans.push({
            traceId: hex(s.traceId),
            spanId: hex(s.spanId),
            parentSpanId: hex(s.parentSpanId),
            traceState: s.traceState ?? '',
            name: s.name ?? '',
            kind: s.kind ?? 0,
            attributes: attrs(s.attributes),
            status: { code: s.status?.code ?? 0, message: s.status?.message ?? '' },
            resource,
            scope: ss.scope?.name ?? '',
            receivedAt,
          });
        }
      }
    }
  }
}

const hex = (b: number[] | undefined): string => Buffer.from(b ?? []).toString('hex');

function attrs(list: KeyValue[] | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const kv of list ?? []) {
    // Without `defaults`, only the oneof member that was sent is set.
    const v = kv.value ?? {};
    if (v.stringValue !== undefined) out[kv.key] = v.stringValue;
    else if (v.boolValue !== undefined) out[kv.key] = v.boolValue;
    else if (v.intValue !== undefined) out[kv.key] = v.intValue;
    else if (v.doubleValue !== undefined) out[kv.key] = v.doubleValue;
  }
  return out;
}
