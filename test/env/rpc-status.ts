// Reads what a test needs from a google.rpc.Status (OTLP/HTTP error bodies, gRPC `grpc-status-details-bin`): its
// code, message, and the retry delay of a google.rpc.RetryInfo among its details.
import { Reader } from '../../src/otlp/proto-wire.js';

export interface RpcStatus {
  code: number;
  message: string;
  /** RetryInfo.retry_delay in milliseconds, undefined without a RetryInfo */
  retryDelayMs?: number;
}

export function decodeRpcStatus(bytes: Uint8Array): RpcStatus {
  const r = new Reader(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { ri: -1, si: -1, ki: -1, path: 'google.rpc.Status' });
  const out: RpcStatus = { code: 0, message: '' };
  const end = bytes.byteLength;
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === 0x08) out.code = r.varint();
    else if (tag === 0x12) out.message = r.string(end);
    else if (tag === 0x1a) {
      // Any { string type_url = 1; bytes value = 2 }
      const anyEnd = r.len(end);
      let type = '';
      let value: [number, number] | undefined;
      while (r.pos < anyEnd) {
        const t = r.varint();
        if (t === 0x0a) type = r.string(anyEnd);
        else if (t === 0x12) {
          const e = r.len(anyEnd);
          value = [r.pos, e];
          r.pos = e;
        } else r.skip(t, anyEnd);
      }
      if (type === 'type.googleapis.com/google.rpc.RetryInfo' && value) out.retryDelayMs = retryDelay(r.buf.subarray(value[0], value[1]));
    } else r.skip(tag, end);
  }
  return out;
}

/** RetryInfo { Duration retry_delay = 1 }, Duration { int64 seconds = 1; int32 nanos = 2 } */
function retryDelay(bytes: Buffer): number {
  const r = new Reader(bytes, { ri: -1, si: -1, ki: -1, path: 'google.rpc.RetryInfo' });
  let ms = 0;
  while (r.pos < bytes.length) {
    const tag = r.varint();
    if (tag !== 0x0a) {
      r.skip(tag, bytes.length);
      continue;
    }
    const e = r.len(bytes.length);
    while (r.pos < e) {
      const t = r.varint();
      if (t === 0x08) ms += r.varint() * 1000;
      else if (t === 0x10) ms += r.varint() / 1_000_000;
      else r.skip(t, e);
    }
  }
  return ms;
}
