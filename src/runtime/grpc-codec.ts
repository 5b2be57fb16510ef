// Protobuf messages shared by the gRPC query services (jaeger.storage.v2 and jaeger.api_v3): Timestamp and
// Duration, TraceQueryParameters, the services / operations calls, and grpc.health.v1.
import { type AttrValue, DEFAULT_SEARCH_DEPTH, type GetTraceParams, InvalidArgumentError, MAX_SEARCH_DEPTH, type Operation, type TraceQuery, checkDurationNs, checkTimeNs } from '../storage/api/index.js';
import { Reader, Writer } from '../otlp/proto-wire.js';

/** Go's zero time.Time as a protobuf Timestamp (gogo stdtime sends it for "unset"). */
const GO_ZERO_SECONDS = -62135596800n;

export const reader = (buf: Buffer, path: string): Reader => new Reader(buf, { ri: -1, si: -1, ki: -1, path });

/** { int64 seconds = 1; int32 nanos = 2 } spanning [pos, end), as read (nanos as the full varint, to be checked) */
function secondsNanos(r: Reader, end: number): { seconds: bigint; nanos: bigint } {
  let seconds = 0n;
  let nanos = 0n;
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === 0x08) seconds = r.int64();
    else if (tag === 0x10) nanos = r.int64();
    else r.skip(tag, end);
  }
  return { seconds, nanos };
}

/** google.protobuf.Timestamp's valid seconds: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z */
const TS_MIN_SECONDS = -62135596800n;
const TS_MAX_SECONDS = 253402300799n;

/**
 * A decoder of the google.protobuf.Timestamp in field `field` -> ns since the epoch; undefined for Go's zero time
 * (gogo's "unset"). A timestamp outside the protobuf range, with nanos outside [0, 1e9), or outside the int64 ns
 * range of the storage API is an InvalidArgumentError naming the field.
 */
export const timestamp =
  (field: string) =>
  (r: Reader, end: number): bigint | undefined => {
    const { seconds, nanos } = secondsNanos(r, end);
    if (seconds === GO_ZERO_SECONDS && nanos === 0n) return undefined;
    if (seconds < TS_MIN_SECONDS || seconds > TS_MAX_SECONDS) throw new InvalidArgumentError(field, `seconds ${seconds} is outside google.protobuf.Timestamp's range (0001-01-01 to 9999-12-31)`);
    if (nanos < 0n || nanos > 999_999_999n) throw new InvalidArgumentError(field, `nanos ${nanos} must be from 0 to 999999999`);
    return checkTimeNs(seconds * 1_000_000_000n + nanos, field);
  };

/** google.protobuf.Duration's valid seconds: about ±10,000 years */
const DURATION_MAX_SECONDS = 315_576_000_000n;

/** A decoder of the google.protobuf.Duration in field `field` -> ns, which must not be negative. */
export const duration =
  (field: string) =>
  (r: Reader, end: number): bigint => {
    const { seconds, nanos } = secondsNanos(r, end);
    if (seconds < -DURATION_MAX_SECONDS || seconds > DURATION_MAX_SECONDS) throw new InvalidArgumentError(field, `seconds ${seconds} is outside google.protobuf.Duration's range (about ±10,000 years)`);
    if (nanos < -999_999_999n || nanos > 999_999_999n || (seconds > 0n && nanos < 0n) || (seconds < 0n && nanos > 0n)) throw new InvalidArgumentError(field, `nanos ${nanos} must be from -999999999 to 999999999 with the sign of seconds`);
    return checkDurationNs(seconds * 1_000_000_000n + nanos, field);
  };

/** decodes the length-delimited sub-message at pos with `fn` */
export function sub<T>(r: Reader, limit: number, fn: (r: Reader, end: number) => T): T {
  const e = r.len(limit);
  const v = fn(r, e);
  r.done(e);
  return v;
}

export function writeTimestamp(w: Writer, field: number, ns: bigint): void {
  const seconds = ns / 1_000_000_000n;
  const nanos = Number(ns % 1_000_000_000n);
  w.message(field, (m) => {
    if (seconds) m.tag(1, 0).varint(seconds);
    if (nanos) m.tag(2, 0).varint(nanos);
  });
}

/**
 * A trace to get, spanning [pos, end): { trace_id = 1; Timestamp start_time = 2; Timestamp end_time = 3 }, the ID
 * being bytes in jaeger.storage.v2 and a hex string in jaeger.api_v3 (read by `traceId`).
 */
export function getTraceParams(r: Reader, end: number, traceId: (r: Reader, end: number) => string, prefix = ''): GetTraceParams {
  const p: GetTraceParams = { traceId: '' };
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === 0x0a) p.traceId = traceId(r, end);
    else if (tag === 0x12) {
      const v = sub(r, end, timestamp(`${prefix}start_time`));
      if (v !== undefined) p.start = v;
    } else if (tag === 0x1a) {
      const v = sub(r, end, timestamp(`${prefix}end_time`));
      if (v !== undefined) p.end = v;
    } else r.skip(tag, end);
  }
  if (p.start !== undefined && p.end !== undefined && p.start > p.end) throw new InvalidArgumentError(`${prefix}start_time`, `is after ${prefix}end_time: the time range is inverted`);
  return p;
}

/** One entry of TraceQueryParameters.attributes, decoded from [pos, end). */
export type AttributeDecoder = (r: Reader, end: number) => { key: string; value: AttrValue };

/**
 * TraceQueryParameters of jaeger.storage.v2 and jaeger.api_v3: the same fields except for the attributes, a
 * repeated KeyValue in the former and a map<string, string> in the latter. Unset times stay undefined.
 */
function queryParams(r: Reader, end: number, attribute: AttributeDecoder): TraceQuery {
  const q: TraceQuery = { searchDepth: DEFAULT_SEARCH_DEPTH };
  const attrs: Record<string, AttrValue> = {};
  let hasAttrs = false;
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 0x0a:
        q.serviceName = r.string(end);
        break;
      case 0x12:
        q.operationName = r.string(end);
        break;
      case 0x1a: {
        const kv = sub(r, end, attribute);
        attrs[kv.key] = kv.value;
        hasAttrs = true;
        break;
      }
      case 0x22: {
        const v = sub(r, end, timestamp('query.start_time_min'));
        if (v !== undefined) q.startTimeMin = v;
        break;
      }
      case 0x2a: {
        const v = sub(r, end, timestamp('query.start_time_max'));
        if (v !== undefined) q.startTimeMax = v;
        break;
      }
      case 0x32: {
        const v = sub(r, end, duration('query.duration_min'));
        if (v) q.durationMin = v;
        break;
      }
      case 0x3a: {
        const v = sub(r, end, duration('query.duration_max'));
        if (v) q.durationMax = v;
        break;
      }
      case 0x40: {
        // int32 on the wire; 0 is proto3's "unset" (the default depth). Out of range is refused, not truncated.
        const d = r.int64();
        if (d < 0n || d > BigInt(MAX_SEARCH_DEPTH)) throw new InvalidArgumentError('query.search_depth', `must be from 1 to ${MAX_SEARCH_DEPTH}, or 0 for the default of ${DEFAULT_SEARCH_DEPTH} (got ${d})`);
        if (d !== 0n) q.searchDepth = Number(d);
        break;
      }
      default:
        r.skip(tag, end);
    }
  }
  if (hasAttrs) q.attributes = attrs;
  if (q.startTimeMin !== undefined && q.startTimeMax !== undefined && q.startTimeMin > q.startTimeMax) throw new InvalidArgumentError('query.start_time_min', 'is after query.start_time_max: the time range is inverted');
  if (q.durationMin !== undefined && q.durationMax !== undefined && q.durationMin > q.durationMax) throw new InvalidArgumentError('query.duration_min', 'must not exceed query.duration_max');
  return q;
}

/** FindTracesRequest (and storage v2's FindTraceIDsRequest): { TraceQueryParameters query = 1 }; null when unset */
export function decodeFindRequest(buf: Buffer, attribute: AttributeDecoder): TraceQuery | null {
  const r = reader(buf, 'FindTracesRequest');
  let q: TraceQuery | null = null;
  while (r.pos < buf.length) {
    const tag = r.varint();
    if (tag === 0x0a) q = sub(r, buf.length, (s, end) => queryParams(s, end, attribute));
    else r.skip(tag, buf.length);
  }
  return q;
}

/** GetOperationsRequest { string service = 1; string span_kind = 2 } */
export function decodeGetOperationsRequest(buf: Buffer): { service: string; spanKind: string } {
  const r = reader(buf, 'GetOperationsRequest');
  const out = { service: '', spanKind: '' };
  while (r.pos < buf.length) {
    const tag = r.varint();
    if (tag === 0x0a) out.service = r.string(buf.length);
    else if (tag === 0x12) out.spanKind = r.string(buf.length);
    else r.skip(tag, buf.length);
  }
  return out;
}

/** GetServicesResponse { repeated string services = 1 } */
export const encodeGetServicesResponse = (services: string[]): Buffer => {
  const w = new Writer();
  for (const s of services) w.bytes(1, Buffer.from(s, 'utf8'));
  return w.finish();
};

/** GetOperationsResponse { repeated Operation operations = 1 }, Operation { string name = 1; string span_kind = 2 } */
export const encodeGetOperationsResponse = (ops: Operation[]): Buffer => {
  const w = new Writer();
  for (const o of ops) w.message(1, (m) => m.string(1, o.name).string(2, o.spanKind));
  return w.finish();
};

/** Field 1 of a message whose only field of interest is `string x = 1` (other fields are skipped). */
export function decodeStringField1(buf: Buffer, message: string): string {
  const r = reader(buf, message);
  let value = '';
  while (r.pos < buf.length) {
    const tag = r.varint();
    if (tag === 0x0a) value = r.string(buf.length);
    else r.skip(tag, buf.length);
  }
  return value;
}

/** grpc.health.v1.HealthCheckRequest { string service = 1 } */
export const decodeHealthRequest = (buf: Buffer): string => decodeStringField1(buf, 'HealthCheckRequest');

/** grpc.health.v1.HealthCheckResponse { ServingStatus status = 1 } (SERVING = 1, NOT_SERVING = 2) */
export const encodeHealthResponse = (serving: boolean): Buffer => new Writer().uint(1, serving ? 1 : 2).finish();
