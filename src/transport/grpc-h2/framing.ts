// The request side of a call: one length-prefixed gRPC message, however the client splits it
// across DATA frames. The 5-byte prefix is read first and the declared length checked against the
// maximum (and reserved against the byte budgets) before any of the message is kept, so a huge
// declared length costs nothing. A unary call (and the health Watch request) has exactly one
// message: a second one, a truncated one, or none at all is an error.
import { GrpcStatus, type GrpcError } from './status.js';

/**
 * A bound on request bytes held at once (per connection, and for the whole server), so that many
 * streams that stall mid-message cannot add up to unbounded memory. Bytes are reserved when a
 * prefix declares them and given back when the call is decoded or closed.
 */
export class ByteBudget {
  private used = 0;
  constructor(readonly limit: number) {}

  get inUse(): number {
    return this.used;
  }

  tryTake(n: number): boolean {
    if (this.used + n > this.limit) return false;
    this.used += n;
    return true;
  }

  give(n: number): void {
    this.used -= n;
  }
}

const PREFIX = 5;

export class MessageReader {
  /** The prefix as read so far: its flag byte, and its length bytes big-endian (no Buffer per call). */
  private flag = 0;
  private declared = 0;
  private prefixHave = 0;
  /** Declared length of the message being read; -1 until the prefix is complete. */
  private length = -1;
  private chunks: Buffer[] = [];
  private have = 0;
  /** The complete message, once read. */
  private message: Buffer | undefined;
  /** Bytes reserved in the budgets, given back by release(). */
  private reserved = 0;
  private failed: GrpcError | undefined;

  constructor(
    private readonly maxBytes: number,
    private readonly budgets: readonly ByteBudget[],
  ) {}

  /** Take in one DATA chunk; an error ends the call (later chunks are ignored). */
  push(chunk: Buffer): GrpcError | undefined {
    if (this.failed) return this.failed;
    let at = 0;
    while (at < chunk.length) {
      if (this.message) return this.fail(GrpcStatus.UNIMPLEMENTED, 'received a second request message for a unary call');
      if (this.length < 0) {
        // A prefix may be split across chunks, down to single bytes.
        while (this.prefixHave < PREFIX && at < chunk.length) {
          const byte = chunk[at++]!;
          if (this.prefixHave++ === 0) this.flag = byte;
          else this.declared = this.declared * 256 + byte;
        }
        if (this.prefixHave < PREFIX) return undefined;
        const err = this.startMessage();
        if (err) return err;
        if (this.length === 0) this.complete();
        continue;
      }
      const n = Math.min(this.length - this.have, chunk.length - at);
      // The common case (a whole message in one chunk) keeps a view of the chunk, no copy.
      this.chunks.push(at === 0 && n === chunk.length ? chunk : chunk.subarray(at, at + n));
      this.have += n;
      at += n;
      if (this.have === this.length) this.complete();
    }
    return undefined;
  }

  /** The request ended (END_STREAM): its one message, or why there is none. */
  finish(): Buffer | GrpcError {
    if (this.failed) return this.failed;
    if (this.message) return this.message;
    if (this.prefixHave === 0) return this.fail(GrpcStatus.UNIMPLEMENTED, 'received no request message for a unary call');
    return this.fail(GrpcStatus.INTERNAL, 'request ended inside a message (truncated gRPC frame)');
  }

  /** Give back the reserved bytes and drop what was buffered; idempotent. */
  release(): void {
    if (this.reserved) for (const b of this.budgets) b.give(this.reserved);
    this.reserved = 0;
    this.chunks = [];
    this.message = undefined;
  }

  private startMessage(): GrpcError | undefined {
    const { flag, declared: length } = this;
    if (flag === 1) {
      // Only identity is accepted (grpc-encoding is checked first), so a compressed message
      // cannot be read: what grpc servers answer for an encoding they do not support.
      return this.fail(GrpcStatus.INTERNAL, 'compressed message received but grpc-encoding is identity');
    }
    if (flag !== 0) return this.fail(GrpcStatus.INTERNAL, `invalid gRPC message flag ${flag}`);
    // The wording grpc-js uses for the same refusal, so clients and tests see one message.
    if (length > this.maxBytes)
      return this.fail(GrpcStatus.RESOURCE_EXHAUSTED, `Received message larger than max (${length} vs ${this.maxBytes})`);
    const taken: ByteBudget[] = [];
    for (const b of this.budgets) {
      if (!b.tryTake(length)) {
        for (const t of taken) t.give(length);
        return this.fail(GrpcStatus.RESOURCE_EXHAUSTED, 'zt-authz overloaded: too many request bytes buffered');
      }
      taken.push(b);
    }
    this.reserved = length;
    this.length = length;
    return undefined;
  }

  private complete(): void {
    this.message = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.length);
    this.chunks = [];
  }

  private fail(code: GrpcError['code'], message: string): GrpcError {
    this.failed = { code, message };
    this.release();
    return this.failed;
  }
}
