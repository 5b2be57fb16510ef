// Protobuf messages shared by the gRPC query services (jaeger.storage.v2 and jaeger.api_v3): decoding and encoding
// through the code generated from proto/ (src/gen, `npm run gen:proto`), Timestamp and Duration, TraceQueryParameters,
// the services / operations calls, and grpc.health.v1.
import { type DescField, type DescMessage, type MessageInitShape, type MessageShape, ScalarType, create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import type { Duration, Timestamp, TimestampSchema } from '@bufbuild/protobuf/wkt';
import { type AttrValue, DEFAULT_SEARCH_DEPTH, type GetTraceParams, InvalidArgumentError, MAX_SEARCH_DEPTH, type Operation, type TraceQuery, checkDurationNs, checkTimeNs } from '../storage/api/index.js';
import { HealthCheckRequestSchema, HealthCheckResponseSchema, HealthCheckResponse_ServingStatus } from '../gen/grpc/health/v1/health_pb.js';
import { GetOperationsRequestSchema, GetOperationsResponseSchema, GetServicesResponseSchema } from '../gen/storage/v2/trace_storage_pb.js';

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** whether a message (or one it holds) has an int32 field, which `widenInt32` widens */
const holdsInt32 = new WeakMap<DescMessage, boolean>();
function hasInt32(desc: DescMessage): boolean {
  const known = holdsInt32.get(desc);
  if (known !== undefined) return known;
  holdsInt32.set(desc, false); // recursive types: assume no until shown otherwise
  const found = desc.fields.some((f) => (f.fieldKind === 'scalar' && f.scalar === ScalarType.INT32) || ((f.fieldKind === 'message' || (f.fieldKind === 'list' && f.listKind === 'message')) && hasInt32(f.message)));
  holdsInt32.set(desc, found);
  return found;
}

const byNumber = new WeakMap<DescMessage, Map<number, DescField>>();
function fieldOf(desc: DescMessage, no: number): DescField | undefined {
  let m = byNumber.get(desc);
  if (!m) byNumber.set(desc, (m = new Map(desc.fields.map((f) => [f.number, f]))));
  return m.get(no);
}

/** the message a message-typed field was decoded into, to follow it in the bytes */
function target(msg: Record<string, unknown>, f: DescField, index: number): Record<string, unknown> | undefined {
  if (f.fieldKind === 'list') return (msg[f.localName] as Record<string, unknown>[] | undefined)?.[index];
  if (f.oneof) {
    const o = msg[f.oneof.localName] as { case?: string; value?: Record<string, unknown> } | undefined;
    return o?.case === f.localName ? o.value : undefined;
  }
  return msg[f.localName] as Record<string, unknown> | undefined;
}

/**
 * A cap on the entries of a repeated or map field, counted over the whole request together with every repeated or
 * map entry nested inside them (KeyValueList and ArrayValue values within an attribute), so that a request cannot
 * make the generated decoder allocate millions of objects before the counts are checked.
 */
export interface EntryLimit {
  field: DescField;
  max: number;
  /** the field as the InvalidArgumentError names it */
  name: string;
  /** what is counted, for the message: "traces per GetTraces request" */
  what: string;
}

/**
 * Attributes a query may have, nested array and kvlist values included. Jaeger sets no bound of its own; a search
 * by tags names a handful, and 1,000 keeps what one request can allocate small.
 */
export const MAX_QUERY_ATTRIBUTES = 1000;

/** as deep as the generated decoder nests messages before it gives up (its default recursionLimit) */
const MAX_NESTING = 100;

/** the wire type a scalar of `t` is sent with */
function scalarWire(t: ScalarType): WireType {
  switch (t) {
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return WireType.LengthDelimited;
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return WireType.Bit64;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return WireType.Bit32;
    default:
      return WireType.Varint;
  }
}

/** whether `wire` is how field `f` is sent (lists of numbers and enums packed or not) */
function wireMatches(f: DescField, wire: WireType): boolean {
  switch (f.fieldKind) {
    case 'scalar':
      return wire === scalarWire(f.scalar);
    case 'enum':
      return wire === WireType.Varint;
    case 'message':
      return wire === (f.delimitedEncoding ? WireType.StartGroup : WireType.LengthDelimited);
    case 'map':
      return wire === WireType.LengthDelimited;
    case 'list':
      if (f.listKind === 'message') return wire === (f.delimitedEncoding ? WireType.StartGroup : WireType.LengthDelimited);
      return wire === WireType.LengthDelimited || wire === (f.listKind === 'enum' ? WireType.Varint : scalarWire(f.scalar));
  }
}

class Malformed extends Error {}

interface Scan {
  limits: ReadonlyMap<DescField, EntryLimit>;
  counts: Map<EntryLimit, number>;
}

function count(scan: Scan, limit: EntryLimit | undefined): void {
  if (!limit) return;
  const n = (scan.counts.get(limit) ?? 0) + 1;
  if (n > limit.max) throw new InvalidArgumentError(limit.name, `at most ${limit.max} ${limit.what}`);
  scan.counts.set(limit, n);
}

/**
 * The first pass, over the bytes alone and before anything is allocated, refusing what the generated decoder would
 * take leniently or at great cost: a field of a sub-message or map entry running past its end (each is read with a
 * reader bounded to it), a known field sent with a wire type other than its declared one (the generated decoder
 * reads it as the declared type anyway), nesting deeper than it goes, and more entries than an EntryLimit allows.
 * `counting` is the limit the enclosing entry counts against.
 */
function checkWire(desc: DescMessage, bytes: Uint8Array, scan: Scan, counting: EntryLimit | undefined, depth: number): void {
  if (depth > MAX_NESTING) throw new Malformed(`${desc.typeName} nested deeper than ${MAX_NESTING} messages`);
  const r = new BinaryReader(bytes);
  while (r.pos < r.len) {
    const [no, wire] = r.tag();
    const f = fieldOf(desc, no);
    if (!f) {
      r.skip(wire, no, MAX_NESTING - depth);
      continue;
    }
    if (!wireMatches(f, wire)) throw new Malformed(`field ${desc.typeName}.${f.name} (${no}) sent with wire type ${wire}, which is not its declared type`);
    if (f.fieldKind === 'map') {
      const limit = counting ?? scan.limits.get(f);
      count(scan, limit);
      checkMapEntry(f, r.bytes(), scan, limit, depth + 1);
    } else if ((f.fieldKind === 'message' || (f.fieldKind === 'list' && f.listKind === 'message')) && wire === WireType.LengthDelimited) {
      const limit = f.fieldKind === 'list' ? (counting ?? scan.limits.get(f)) : counting;
      if (f.fieldKind === 'list') count(scan, limit);
      checkWire(f.message, r.bytes(), scan, limit, depth + 1);
    } else r.skip(wire, no, MAX_NESTING - depth);
  }
}

/** a map entry { key = 1; value = 2 }, read with a reader bounded to it */
function checkMapEntry(f: DescField & { fieldKind: 'map' }, bytes: Uint8Array, scan: Scan, counting: EntryLimit | undefined, depth: number): void {
  const r = new BinaryReader(bytes);
  while (r.pos < r.len) {
    const [no, wire] = r.tag();
    const expected = no === 1 ? scalarWire(f.mapKey) : no === 2 ? (f.mapKind === 'scalar' ? scalarWire(f.scalar) : f.mapKind === 'enum' ? WireType.Varint : WireType.LengthDelimited) : undefined;
    if (expected !== undefined && wire !== expected) throw new Malformed(`${no === 1 ? 'key' : 'value'} of an entry of map field ${f.parent.typeName}.${f.name} sent with wire type ${wire}, which is not its declared type`);
    if (no === 2 && f.mapKind === 'message') checkWire(f.message, r.bytes(), scan, counting, depth + 1);
    else r.skip(wire, no, MAX_NESTING - depth);
  }
}

/**
 * The second pass, over what the generated decoder accepted: an int32 keeps only the low 32 bits of a wider varint,
 * but range checks need the value sent, so that 2^32 + 5 is refused instead of being read as 5. int32 fields get the
 * whole varint (exact up to 2^53). The bytes passed checkWire, so sub-messages are within bounds.
 */
function widenInt32(desc: DescMessage, bytes: Uint8Array, msg: Record<string, unknown>): void {
  const r = new BinaryReader(bytes);
  const seen = new Map<number, number>();
  while (r.pos < r.len) {
    const [no, wire] = r.tag();
    const f = fieldOf(desc, no);
    if (f?.fieldKind === 'scalar' && f.scalar === ScalarType.INT32 && wire === WireType.Varint && !f.oneof) {
      msg[f.localName] = Number(r.int64());
    } else if (f && wire === WireType.LengthDelimited && (f.fieldKind === 'message' || (f.fieldKind === 'list' && f.listKind === 'message'))) {
      const index = seen.get(no) ?? 0;
      seen.set(no, index + 1);
      const sub = r.bytes();
      const into = hasInt32(f.message) ? target(msg, f, index) : undefined;
      if (into) widenInt32(f.message, sub, into);
    } else r.skip(wire, no);
  }
}

/**
 * `buf` decoded as `schema`; malformed protobuf (truncation, bad wire types, invalid UTF-8 in a string) is an
 * InvalidArgumentError naming `path`, the request message, and an entry count beyond one of `limits` an
 * InvalidArgumentError naming that field, both before the message is built.
 */
export function decode<Desc extends DescMessage>(schema: Desc, buf: Uint8Array, path: string, limits: readonly EntryLimit[] = []): MessageShape<Desc> {
  try {
    checkWire(schema, buf, { limits: new Map(limits.map((l) => [l.field, l])), counts: new Map() }, undefined, 0);
    const msg = fromBinary(schema, buf, { readUnknownFields: false });
    if (hasInt32(schema)) widenInt32(schema, buf, msg as unknown as Record<string, unknown>);
    return msg;
  } catch (e) {
    if (e instanceof InvalidArgumentError) throw e;
    throw new InvalidArgumentError(path, `malformed protobuf: ${message(e)}`);
  }
}

/** `init` encoded as `schema`, as a Buffer sharing the encoder's memory */
export function encode<Desc extends DescMessage>(schema: Desc, init: MessageInitShape<Desc>): Buffer {
  const b = toBinary(schema, create(schema, init));
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** Go's zero time.Time as a protobuf Timestamp (gogo stdtime sends it for "unset"). */
const GO_ZERO_SECONDS = -62135596800n;

/** google.protobuf.Timestamp's valid seconds: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z */
const TS_MIN_SECONDS = -62135596800n;
const TS_MAX_SECONDS = 253402300799n;

/**
 * A google.protobuf.Timestamp -> ns since the epoch; undefined when unset or Go's zero time (gogo's "unset"). A
 * timestamp outside the protobuf range, with nanos outside [0, 1e9), or outside the int64 ns range of the storage
 * API is an InvalidArgumentError naming `field`.
 */
export function timestampNs(ts: Timestamp | undefined, field: string): bigint | undefined {
  if (!ts) return undefined;
  const { seconds, nanos } = ts;
  if (seconds === GO_ZERO_SECONDS && nanos === 0) return undefined;
  if (seconds < TS_MIN_SECONDS || seconds > TS_MAX_SECONDS) throw new InvalidArgumentError(field, `seconds ${seconds} is outside google.protobuf.Timestamp's range (0001-01-01 to 9999-12-31)`);
  if (nanos < 0 || nanos > 999_999_999) throw new InvalidArgumentError(field, `nanos ${nanos} must be from 0 to 999999999`);
  return checkTimeNs(seconds * 1_000_000_000n + BigInt(nanos), field);
}

/** google.protobuf.Duration's valid seconds: about ±10,000 years */
const DURATION_MAX_SECONDS = 315_576_000_000n;

/** A google.protobuf.Duration -> ns (0 when unset), which must not be negative. */
export function durationNs(d: Duration | undefined, field: string): bigint {
  if (!d) return 0n;
  const { seconds, nanos } = d;
  if (seconds < -DURATION_MAX_SECONDS || seconds > DURATION_MAX_SECONDS) throw new InvalidArgumentError(field, `seconds ${seconds} is outside google.protobuf.Duration's range (about ±10,000 years)`);
  if (nanos < -999_999_999 || nanos > 999_999_999 || (seconds > 0n && nanos < 0) || (seconds < 0n && nanos > 0)) throw new InvalidArgumentError(field, `nanos ${nanos} must be from -999999999 to 999999999 with the sign of seconds`);
  return checkDurationNs(seconds * 1_000_000_000n + BigInt(nanos), field);
}

/** ns since the epoch as a google.protobuf.Timestamp (the storage API's times are not negative) */
export const toTimestamp = (ns: bigint): MessageInitShape<typeof TimestampSchema> => ({ seconds: ns / 1_000_000_000n, nanos: Number(ns % 1_000_000_000n) });

/** A trace to get: { trace_id = 1; Timestamp start_time = 2; Timestamp end_time = 3 }, the ID already as hex. */
export function traceParams(m: { startTime?: Timestamp | undefined; endTime?: Timestamp | undefined }, traceId: string, prefix = ''): GetTraceParams {
  const p: GetTraceParams = { traceId };
  const start = timestampNs(m.startTime, `${prefix}start_time`);
  if (start !== undefined) p.start = start;
  const end = timestampNs(m.endTime, `${prefix}end_time`);
  if (end !== undefined) p.end = end;
  if (p.start !== undefined && p.end !== undefined && p.start > p.end) throw new InvalidArgumentError(`${prefix}start_time`, `is after ${prefix}end_time: the time range is inverted`);
  return p;
}

/** TraceQueryParameters of jaeger.storage.v2 and jaeger.api_v3 except the attributes, which differ in type */
export interface QueryParameters {
  serviceName: string;
  operationName: string;
  startTimeMin?: Timestamp | undefined;
  startTimeMax?: Timestamp | undefined;
  durationMin?: Duration | undefined;
  durationMax?: Duration | undefined;
  searchDepth: number;
  /** a structured filter (jaeger.expression.v1.Call): not served, so refused */
  filter?: object | undefined;
  pagination?: { pageSize: number; pageToken: string } | undefined;
}

/**
 * Pagination as a storage that does not paginate (SearchCapabilities.paginated false) serves it, over gRPC and HTTP
 * alike: one page of at most page_size results and no continuation token. It replaces search_depth, so setting both is refused, as is a
 * page_token (no token was ever handed out) and a page_size of 0.
 */
export function pageDepth(p: { pageSize: number; pageToken: string }, searchDepth: number): number {
  if (searchDepth !== 0) throw new InvalidArgumentError('query.pagination', 'and query.search_depth exclude each other: set one of them');
  if (p.pageToken) throw new InvalidArgumentError('query.pagination.page_token', 'cannot be honoured: this storage does not paginate (capabilities: paginated is false) and never returns a next_page_token; send the search without it');
  if (p.pageSize === 0) throw new InvalidArgumentError('query.pagination.page_size', 'must be at least 1');
  return Math.min(p.pageSize, MAX_SEARCH_DEPTH);
}

/**
 * TraceQueryParameters -> the storage API's query; `attributes` are already decoded. Unset times stay undefined.
 * `paged`: the call may carry pagination (FindTraceSummaries, FindTraceIDs), which FindTraces refuses.
 */
export function traceQuery(m: QueryParameters, attributes: Record<string, AttrValue> | undefined, paged = false): TraceQuery {
  if (m.filter) throw new InvalidArgumentError('query.filter', 'structured filters are not served by this storage (its capabilities name no filter operators): search with service_name, operation_name, attributes and duration_min/duration_max');
  if (m.pagination && !paged) throw new InvalidArgumentError('query.pagination', 'is not accepted by FindTraces, which query.search_depth bounds: page through FindTraceSummaries');
  const q: TraceQuery = { searchDepth: m.pagination ? pageDepth(m.pagination, m.searchDepth) : DEFAULT_SEARCH_DEPTH };
  if (m.serviceName) q.serviceName = m.serviceName;
  if (m.operationName) q.operationName = m.operationName;
  if (attributes) q.attributes = attributes;
  const min = timestampNs(m.startTimeMin, 'query.start_time_min');
  if (min !== undefined) q.startTimeMin = min;
  const max = timestampNs(m.startTimeMax, 'query.start_time_max');
  if (max !== undefined) q.startTimeMax = max;
  const dmin = durationNs(m.durationMin, 'query.duration_min');
  if (dmin) q.durationMin = dmin;
  const dmax = durationNs(m.durationMax, 'query.duration_max');
  if (dmax) q.durationMax = dmax;
  // int32 on the wire (read whole, see widenInt32); 0 is proto3's "unset" (the default depth). Out of range is
  // refused, not truncated. With pagination the depth is the page size (pageDepth).
  const d = m.searchDepth;
  if (d < 0 || d > MAX_SEARCH_DEPTH) throw new InvalidArgumentError('query.search_depth', `must be from 1 to ${MAX_SEARCH_DEPTH}, or 0 for the default of ${DEFAULT_SEARCH_DEPTH} (got ${d})`);
  if (d !== 0 && !m.pagination) q.searchDepth = d;
  if (q.startTimeMin !== undefined && q.startTimeMax !== undefined && q.startTimeMin > q.startTimeMax) throw new InvalidArgumentError('query.start_time_min', 'is after query.start_time_max: the time range is inverted');
  if (q.durationMin !== undefined && q.durationMax !== undefined && q.durationMin > q.durationMax) throw new InvalidArgumentError('query.duration_min', 'must not exceed query.duration_max');
  return q;
}

/** GetOperationsRequest { string service = 1; string span_kind = 2 } (the same in api_v3 and storage v2) */
export function decodeGetOperationsRequest(buf: Buffer): { service: string; spanKind: string } {
  const m = decode(GetOperationsRequestSchema, buf, 'GetOperationsRequest');
  return { service: m.service, spanKind: m.spanKind };
}

/** GetServicesResponse { repeated string services = 1 } (the same in api_v3 and storage v2) */
export const encodeGetServicesResponse = (services: string[]): Buffer => encode(GetServicesResponseSchema, { services });

/** GetOperationsResponse { repeated Operation operations = 1 }, Operation { string name = 1; string span_kind = 2 } */
export const encodeGetOperationsResponse = (ops: Operation[]): Buffer => encode(GetOperationsResponseSchema, { operations: ops.map((o) => ({ name: o.name, spanKind: o.spanKind })) });

/** grpc.health.v1.HealthCheckRequest { string service = 1 } */
export const decodeHealthRequest = (buf: Buffer): string => decode(HealthCheckRequestSchema, buf, 'HealthCheckRequest').service;

/** grpc.health.v1.HealthCheckResponse { ServingStatus status = 1 } (SERVING = 1, NOT_SERVING = 2) */
export const encodeHealthResponse = (serving: boolean): Buffer => encode(HealthCheckResponseSchema, { status: serving ? HealthCheckResponse_ServingStatus.SERVING : HealthCheckResponse_ServingStatus.NOT_SERVING });
