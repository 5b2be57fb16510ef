// OTLP protobuf (opentelemetry.proto.trace.v1 / collector.trace.v1) from the storage model: requests, export
// responses and google.rpc.Status. Decoding is in otlp-decode.ts.
import { VARINT, Writer } from './proto-wire.js';
import type { AttrValue, KeyValue, ResourceSpans, Span } from '../storage/api/model.js';

export { type DecodedTraces, decodeTracesProto } from './otlp-decode.js';

// ---- encoding ----

function writeAny(w: Writer, v: AttrValue): void {
  if (v === null) return;
  switch (typeof v) {
    case 'string':
      w.bytes(1, Buffer.from(v, 'utf8'));
      return;
    case 'boolean':
      w.tag(2, VARINT).varint(v ? 1 : 0);
      return;
    case 'bigint':
      w.tag(3, VARINT).varint(v);
      return;
    case 'number':
      w.double(4, v);
      return;
  }
  if (v instanceof Uint8Array) w.bytes(7, Buffer.from(v));
  else if ('array' in v) w.message(5, (a) => v.array.forEach((x) => a.message(1, (m) => writeAny(m, x))));
  else w.message(6, (k) => writeAttributes(k, 1, v.kvlist));
}

export function writeAttributes(w: Writer, field: number, attrs: readonly KeyValue[]): void {
  for (const a of attrs) w.message(field, (m) => m.string(1, a.key).message(2, (x) => writeAny(x, a.value)));
}

function writeSpan(w: Writer, s: Span): void {
  w.bytes(1, Buffer.from(s.traceId, 'hex')).bytes(2, Buffer.from(s.spanId, 'hex')).string(3, s.traceState);
  if (s.parentSpanId) w.bytes(4, Buffer.from(s.parentSpanId, 'hex'));
  w.string(5, s.name).uint(6, s.kind).fixed64(7, s.startTimeUnixNano).fixed64(8, s.endTimeUnixNano);
  writeAttributes(w, 9, s.attributes);
  w.uint(10, s.droppedAttributesCount);
  for (const e of s.events) w.message(11, (m) => { m.fixed64(1, e.timeUnixNano).string(2, e.name); writeAttributes(m, 3, e.attributes); m.uint(4, e.droppedAttributesCount); });
  w.uint(12, s.droppedEventsCount);
  for (const l of s.links) {
    w.message(13, (m) => {
      m.bytes(1, Buffer.from(l.traceId, 'hex')).bytes(2, Buffer.from(l.spanId, 'hex')).string(3, l.traceState);
      writeAttributes(m, 4, l.attributes);
      m.uint(5, l.droppedAttributesCount);
      if (l.flags) m.fixed32(6, l.flags);
    });
  }
  w.uint(14, s.droppedLinksCount);
  if (s.status.code || s.status.message) w.message(15, (m) => m.string(2, s.status.message).uint(3, s.status.code));
  if (s.flags) w.fixed32(16, s.flags);
}

/** Encodes TracesData / ExportTraceServiceRequest. */
export function encodeTracesProto(traces: readonly ResourceSpans[]): Buffer {
  const w = new Writer();
  for (const rs of traces) {
    w.message(1, (r) => {
      r.message(1, (m) => {
        writeAttributes(m, 1, rs.resource.attributes);
        m.uint(2, rs.resource.droppedAttributesCount);
      });
      for (const ss of rs.scopeSpans) {
        r.message(2, (m) => {
          m.message(1, (sc) => {
            sc.string(1, ss.scope.name).string(2, ss.scope.version);
            writeAttributes(sc, 3, ss.scope.attributes);
            sc.uint(4, ss.scope.droppedAttributesCount);
          });
          for (const s of ss.spans) m.message(2, (x) => writeSpan(x, s));
          m.string(3, ss.schemaUrl);
        });
      }
      r.string(3, rs.schemaUrl);
    });
  }
  return w.finish();
}

/** ExportTraceServiceResponse, with partial_success when spans were rejected. */
export function encodeExportResponse(rejected: number, message: string): Buffer {
  if (!rejected && !message) return Buffer.alloc(0);
  const w = new Writer();
  w.message(1, (p) => {
    if (rejected) p.tag(1, VARINT).varint(rejected);
    p.string(2, message);
  });
  return w.finish();
}

const RETRY_INFO_TYPE = 'type.googleapis.com/google.rpc.RetryInfo';

/**
 * google.rpc.Status, the error body of OTLP/HTTP and the `grpc-status-details-bin` of OTLP/gRPC. With `retryAfterMs`
 * it carries a google.rpc.RetryInfo: OTLP clients retry RESOURCE_EXHAUSTED only when the server says recovery is
 * possible this way, and drop the data otherwise.
 */
export function encodeRpcStatus(code: number, message: string, retryAfterMs?: number): Buffer {
  const w = new Writer().uint(1, code).string(2, message);
  if (retryAfterMs !== undefined) {
    const seconds = Math.floor(retryAfterMs / 1000);
    const nanos = (retryAfterMs % 1000) * 1_000_000;
    // details: Any { type_url, value: RetryInfo { retry_delay: Duration { seconds, nanos } } }
    w.message(3, (any) => any.string(1, RETRY_INFO_TYPE).message(2, (ri) => ri.message(1, (d) => d.uint(1, seconds).uint(2, nanos))));
  }
  return w.finish();
}
