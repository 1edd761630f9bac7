// An OTLP/HTTP trace sink for the bench: accepts every POST, answers an empty
// ExportTraceServiceResponse, and counts the spans each body carries, so a tracing variant's
// report shows its spans really left the process. It walks the protobuf wire format just deep
// enough to count spans (request.resource_spans[].scope_spans[].spans[]) instead of decoding
// them: at 100 % sampling the sink shares the machine with the server under load, and a full
// decode would cost the run more CPU than the count needs.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export class OtlpSink {
  posts = 0;
  spans = 0;
  bytes = 0;
  /** Bodies that were not the protobuf we expect (counted, never thrown: the export still gets 200). */
  malformed = 0;

  private constructor(private readonly server: Server) {}

  static async start(): Promise<OtlpSink> {
    const server = createServer();
    const sink = new OtlpSink(server);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        sink.posts++;
        sink.bytes += body.length;
        const n = countSpans(body);
        if (n === undefined) sink.malformed++;
        else sink.spans += n;
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return sink;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1/traces`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Spans in an ExportTraceServiceRequest body, or undefined when it does not parse as one. */
export function countSpans(body: Buffer): number | undefined {
  let spans = 0;
  // resource_spans = 1 -> scope_spans = 2 -> spans = 2
  const ok = eachField(body, 0, body.length, (f, s, e) => {
    if (f !== 1) return true;
    return eachField(body, s, e, (f2, s2, e2) => {
      if (f2 !== 2) return true;
      return eachField(body, s2, e2, (f3) => {
        if (f3 === 2) spans++;
        return true;
      });
    });
  });
  return ok ? spans : undefined;
}

/**
 * Calls `onLen(field, start, end)` for each length-delimited field in buf[from, to), skipping the
 * others; false on a malformed message (or when onLen returns false).
 */
function eachField(buf: Buffer, from: number, to: number, onLen: (field: number, start: number, end: number) => boolean): boolean {
  let i = from;
  const varint = (): number | undefined => {
    let v = 0;
    for (let shift = 0; shift < 64; shift += 7) {
      if (i >= to) return undefined;
      const b = buf[i++]!;
      // Lengths and tags fit in 32 bits here; larger varints (int64 values) are only skipped.
      if (shift < 35) v += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return v;
    }
    return undefined;
  };
  while (i < to) {
    const tag = varint();
    if (tag === undefined) return false;
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (wire === 0) {
      if (varint() === undefined) return false;
    } else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else if (wire === 2) {
      const len = varint();
      if (len === undefined || i + len > to) return false;
      if (!onLen(field, i, i + len)) return false;
      i += len;
    } else return false;
    if (i > to) return false;
  }
  return true;
}
