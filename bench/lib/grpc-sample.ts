// Send a few real Checks with a grpc-js client before a load run and verify the answer, so a
// misconfigured run (every request denied) is caught before it is counted as throughput.
import * as grpc from '@grpc/grpc-js';
import { AuthV3Client } from '../../src/transport/grpc/protos.js';
import type { CheckRequest, CheckResponse } from '../../src/transport/grpc/messages.js';

export interface SampleResult {
  code: number | undefined;
  allow: boolean;
  headers: Record<string, string>;
  reason?: string;
}

export async function sampleChecks(port: number, req: CheckRequest, n = 3): Promise<SampleResult[]> {
  const Ctor = AuthV3Client();
  const client = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    Check(r: CheckRequest, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: CheckResponse) => void): void;
  };
  try {
    const out: SampleResult[] = [];
    for (let i = 0; i < n; i++) {
      const res = await new Promise<CheckResponse>((resolve, reject) =>
        client.Check(req, new grpc.Metadata(), { deadline: new Date(Date.now() + 5000) }, (e, r) => (e ? reject(e) : resolve(r ?? {}))),
      );
      const headers: Record<string, string> = {};
      for (const h of res.okResponse?.headers ?? []) if (h.header?.key) headers[h.header.key] = h.header.value ?? '';
      out.push({
        code: res.status?.code,
        allow: (res.status?.code ?? 0) === 0 && res.httpResponse !== 'deniedResponse',
        headers,
        ...(res.dynamicMetadata?.fields?.reason?.stringValue ? { reason: res.dynamicMetadata.fields.reason.stringValue } : {}),
      });
    }
    return out;
  } finally {
    client.close();
  }
}
