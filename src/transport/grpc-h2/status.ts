// gRPC status codes and how a status reaches the client over node:http2: a unary answer (one
// length-prefixed message, then `grpc-status: 0` trailers), or a trailers-only response (a
// single HEADERS frame with END_STREAM carrying :status 200 and grpc-status), which is what gRPC
// servers send for an error before any message.
import { constants, type ServerHttp2Stream, type OutgoingHttpHeaders } from 'node:http2';

/** The gRPC status codes this server answers with (the numbers are gRPC's). */
export const GrpcStatus = Object.freeze({
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
});
export type GrpcStatusCode = (typeof GrpcStatus)[keyof typeof GrpcStatus];

/** A status to answer with; `headers` go out with it (e.g. grpc-accept-encoding). */
export interface GrpcError {
  code: GrpcStatusCode;
  message: string;
  headers?: OutgoingHttpHeaders;
}

export const CONTENT_TYPE = 'application/grpc+proto';

/**
 * grpc-message is percent-encoded UTF-8: every byte outside printable ASCII (0x20-0x7E), and '%'
 * itself, becomes %XX, so any text (a newline, a non-ASCII name) survives as a header value.
 */
export function encodeGrpcMessage(message: string): string {
  // Fast path: most messages are plain ASCII without '%'.
  if (/^[\x20-\x24\x26-\x7e]*$/.test(message)) return message;
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The 5-byte gRPC prefix (compressed flag 0, big-endian length) and the message, in one buffer. */
export function frameMessage(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + payload.length);
  out[0] = 0;
  out.writeUInt32BE(payload.length, 1);
  out.set(payload, 5);
  return out;
}

/** True while the stream can still carry a response (not reset, not closed, not ended by us). */
export function writable(stream: ServerHttp2Stream): boolean {
  return !stream.destroyed && !stream.closed && stream.writable;
}

/**
 * Answer an error: trailers-only when no headers went out yet, else as trailers after what was
 * sent. A stream the client already reset gets nothing. Never throws (the stream may close
 * between the check and the write).
 */
export function sendStatus(stream: ServerHttp2Stream, err: GrpcError): void {
  if (!writable(stream)) return;
  const status = { 'grpc-status': String(err.code), 'grpc-message': encodeGrpcMessage(err.message), ...err.headers };
  try {
    if (stream.headersSent) {
      // Headers went out with waitForTrailers (sendMessageHeaders): end() asks for the trailers.
      stream.once('wantTrailers', () => stream.sendTrailers(status));
      stream.end();
    } else {
      stream.respond({ [constants.HTTP2_HEADER_STATUS]: 200, 'content-type': CONTENT_TYPE, ...status }, { endStream: true });
    }
  } catch {
    stream.destroy();
  }
  releaseRequestSide(stream);
}

/** Response headers for a call that will send messages and then trailers. */
export function sendMessageHeaders(stream: ServerHttp2Stream): void {
  stream.respond({ [constants.HTTP2_HEADER_STATUS]: 200, 'content-type': CONTENT_TYPE }, { waitForTrailers: true });
}

/** One message and `grpc-status: 0`: a unary call's answer. */
export function sendUnary(stream: ServerHttp2Stream, payload: Uint8Array): void {
  if (!writable(stream)) return;
  try {
    sendMessageHeaders(stream);
    stream.once('wantTrailers', sendOkTrailers);
    stream.end(frameMessage(payload));
  } catch {
    stream.destroy();
  }
}

const OK_TRAILERS = Object.freeze({ 'grpc-status': '0' });

/**
 * The 'wantTrailers' listener of an OK answer (the emitter is `this`): one shared function, no
 * closure allocated per call (one whose event never came would keep the call's payload reachable).
 */
function sendOkTrailers(this: ServerHttp2Stream): void {
  this.sendTrailers(OK_TRAILERS);
}

/** OK trailers after messages already written (a Watch ended by the drain). */
export function endOk(stream: ServerHttp2Stream): void {
  if (!writable(stream)) return;
  try {
    stream.once('wantTrailers', sendOkTrailers);
    stream.end();
  } catch {
    stream.destroy();
  }
}

/**
 * After an early answer the client may still be sending (a never-ending request, an oversized
 * message): once our side is finished, reset the stream with NO_ERROR, as HTTP/2 allows a server
 * that needs no more of the request, so the stream and its buffers are released now.
 */
function releaseRequestSide(stream: ServerHttp2Stream): void {
  if (stream.readableEnded || stream.destroyed) return;
  const close = (): void => {
    if (!stream.destroyed && !stream.closed) stream.close(constants.NGHTTP2_NO_ERROR);
  };
  if (stream.writableFinished) close();
  else stream.once('finish', close);
}

/** HTTP-level refusal before gRPC applies (wrong content-type or method). */
export function sendHttpStatus(stream: ServerHttp2Stream, status: number): void {
  if (!writable(stream)) return;
  try {
    stream.respond({ [constants.HTTP2_HEADER_STATUS]: status }, { endStream: true });
  } catch {
    stream.destroy();
  }
  releaseRequestSide(stream);
}
