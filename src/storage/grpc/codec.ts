// jaeger.storage.v2 messages as a client sends and reads them: requests from the storage API's queries, replies
// to its types. The generated message code does the wire work; TracesData (GetTraces, FindTraces) and the OTLP
// export go through the project's own OTLP codec.
import { type MessageInitShape, create, fromBinary, toBinary } from '@bufbuild/protobuf';
import type { DescMessage, MessageShape } from '@bufbuild/protobuf';
import type { Timestamp } from '@bufbuild/protobuf/wkt';
import { GetDependenciesRequestSchema, GetDependenciesResponseSchema } from '../../gen/storage/v2/dependency_storage_pb.js';
import {
  type AnyValueSchema,
  FindTraceIDsResponseSchema,
  FindTracesRequestSchema,
  GetOperationsRequestSchema,
  GetOperationsResponseSchema,
  GetServicesRequestSchema,
  GetServicesResponseSchema,
  FindTraceSummariesResponseSchema,
  GetTracesRequestSchema,
} from '../../gen/storage/v2/trace_storage_pb.js';
import { GetCapabilitiesRequestSchema, GetCapabilitiesResponseSchema } from '../../gen/storage/v2/capabilities_pb.js';
import { decodeTracesProto } from '../../otlp/otlp-proto.js';
import { Reader } from '../../otlp/proto-wire.js';
import { type AttrValue, type CheckedQuery, type DependencyLink, type FoundTraceId, type GetTraceParams, type Operation, type OperationQuery, type ResourceSpans, type TimeRange, type TraceChunk, type TraceQuery, type SearchCapabilities, type TraceSummary, StorageError } from '../api/index.js';
import { type SpanView, chunkTrace } from '../api/semantics.js';

/** spans per chunk handed to readers: a remote that sends a big trace in one message is still read in parts */
export const CHUNK_SPANS = 1000;

function encode<Desc extends DescMessage>(schema: Desc, init: MessageInitShape<Desc>): Buffer {
  const b = toBinary(schema, create(schema, init));
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** A reply the remote sent that does not parse is the remote's fault, not the caller's. */
function decode<Desc extends DescMessage>(schema: Desc, buf: Uint8Array, what: string): MessageShape<Desc> {
  try {
    return fromBinary(schema, buf, { readUnknownFields: false });
  } catch (e) {
    throw new StorageError('Internal', `the remote storage sent a malformed ${what}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

const timestamp = (ns: bigint) => ({ seconds: ns / 1_000_000_000n, nanos: Number(ns % 1_000_000_000n) });
const duration = (ns: bigint) => ({ seconds: ns / 1_000_000_000n, nanos: Number(ns % 1_000_000_000n) });

/** Go's zero time.Time, which gogo's non-nullable timestamps send for "unset" */
const GO_ZERO_SECONDS = -62135596800n;
function timestampNs(ts: Timestamp | undefined): bigint | undefined {
  if (!ts || (ts.seconds === GO_ZERO_SECONDS && ts.nanos === 0) || ts.seconds < 0n) return undefined;
  return ts.seconds * 1_000_000_000n + BigInt(ts.nanos);
}

export const encodeGetTracesRequest = (params: readonly GetTraceParams[]): Buffer =>
  encode(GetTracesRequestSchema, {
    query: params.map((p) => ({
      traceId: Buffer.from(p.traceId, 'hex'),
      ...(p.start !== undefined && { startTime: timestamp(p.start) }),
      ...(p.end !== undefined && { endTime: timestamp(p.end) }),
    })),
  });

export const encodeGetServicesRequest = (): Buffer => encode(GetServicesRequestSchema, {});
export const decodeGetServicesResponse = (b: Buffer): string[] => decode(GetServicesResponseSchema, b, 'GetServicesResponse').services;

export const encodeGetOperationsRequest = (q: OperationQuery): Buffer => encode(GetOperationsRequestSchema, { service: q.service, spanKind: q.spanKind ?? '' });
export const decodeGetOperationsResponse = (b: Buffer): Operation[] =>
  decode(GetOperationsResponseSchema, b, 'GetOperationsResponse').operations.map((o) => ({ name: o.name, spanKind: o.spanKind }));

type AnyValueInit = MessageInitShape<typeof AnyValueSchema>;
function anyValue(v: AttrValue): AnyValueInit {
  if (v === null) return {};
  if (typeof v === 'string') return { value: { case: 'stringValue', value: v } };
  if (typeof v === 'boolean') return { value: { case: 'boolValue', value: v } };
  if (typeof v === 'bigint') return { value: { case: 'intValue', value: v } };
  if (typeof v === 'number') return { value: { case: 'doubleValue', value: v } };
  if (v instanceof Uint8Array) return { value: { case: 'bytesValue', value: v } };
  if ('array' in v) return { value: { case: 'arrayValue', value: { values: v.array.map(anyValue) } } };
  return { value: { case: 'kvlistValue', value: { values: v.kvlist.map((kv) => ({ key: kv.key, value: anyValue(kv.value) })) } } };
}

/** FindTracesRequest and FindTraceIDsRequest (the same wire format): { TraceQueryParameters query = 1 } */
export function encodeFindRequest(q: TraceQuery, checked: CheckedQuery): Buffer {
  return encode(FindTracesRequestSchema, {
    query: {
      serviceName: q.serviceName ?? '',
      operationName: q.operationName ?? '',
      // typed as the caller gave them; checkTraceQuery has validated the keys
      attributes: checked.attributes.map(([key]) => ({ key, value: anyValue(q.attributes?.[key] ?? null) })),
      ...(q.startTimeMin !== undefined && { startTimeMin: timestamp(q.startTimeMin) }),
      ...(q.startTimeMax !== undefined && { startTimeMax: timestamp(q.startTimeMax) }),
      ...(q.durationMin !== undefined && { durationMin: duration(q.durationMin) }),
      ...(q.durationMax !== undefined && { durationMax: duration(q.durationMax) }),
      searchDepth: q.searchDepth,
    },
  });
}

export const decodeFindTraceIdsResponse = (b: Buffer): FoundTraceId[] =>
  decode(FindTraceIDsResponseSchema, b, 'FindTraceIDsResponse').traceIds.map((f) => {
    const out: FoundTraceId = { traceId: Buffer.from(f.traceId).toString('hex').padStart(32, '0') };
    const start = timestampNs(f.start);
    if (start !== undefined) out.start = start;
    const end = timestampNs(f.end);
    if (end !== undefined) out.end = end;
    return out;
  });

export const encodeGetDependenciesRequest = (r: TimeRange): Buffer => encode(GetDependenciesRequestSchema, { startTime: timestamp(r.start), endTime: timestamp(r.end) });
export const decodeGetDependenciesResponse = (b: Buffer): DependencyLink[] =>
  decode(GetDependenciesResponseSchema, b, 'GetDependenciesResponse').dependencies.map((d) => ({ parent: d.parent, child: d.child, callCount: Number(d.callCount), ...(d.source ? { source: d.source } : {}) }));

export const encodeGetCapabilitiesRequest = (): Buffer => encode(GetCapabilitiesRequestSchema, {});
/** GetCapabilitiesResponse { SearchCapabilities search = 1 }: an absent field is the least capable answer */
export function decodeGetCapabilitiesResponse(b: Buffer): SearchCapabilities {
  const { search } = decode(GetCapabilitiesResponseSchema, b, 'GetCapabilitiesResponse');
  return { withoutServiceName: search?.withoutServiceName ?? false, sameSpanConjunction: search?.sameSpanConjunction ?? false };
}

/** FindTraceSummariesResponse { repeated TraceSummary summaries = 1; string next_page_token = 2 } */
export const decodeFindTraceSummariesResponse = (b: Buffer): TraceSummary[] =>
  decode(FindTraceSummariesResponseSchema, b, 'FindTraceSummariesResponse').summaries.map((t) => ({
    traceId: Buffer.from(t.traceId).toString('hex').padStart(32, '0'),
    rootServiceName: t.rootServiceName,
    rootOperationName: t.rootOperationName,
    minStartTimeUnixNano: t.minStartTimeUnixNano,
    maxEndTimeUnixNano: t.maxEndTimeUnixNano,
    spanCount: t.spanCount,
    errorSpanCount: t.errorSpanCount,
    orphanSpanCount: t.orphanSpanCount,
    services: t.services.map((x) => ({ name: x.name, spanCount: x.spanCount, errorSpanCount: x.errorSpanCount })),
  }));

/** One TracesData message as chunks of one trace each (at most CHUNK_SPANS spans), in the order the traces first appear. */
export function tracesDataChunks(b: Buffer): TraceChunk[] {
  let traces: ResourceSpans[];
  try {
    traces = decodeTracesProto(b).traces;
  } catch (e) {
    throw new StorageError('Internal', `the remote storage sent malformed TracesData: ${e instanceof Error ? e.message : String(e)}`);
  }
  const byTrace = new Map<string, SpanView[]>();
  for (const rs of traces)
    for (const ss of rs.scopeSpans)
      for (const span of ss.spans) {
        let list = byTrace.get(span.traceId);
        if (!list) byTrace.set(span.traceId, (list = []));
        list.push({ span, resource: rs.resource, resourceSchemaUrl: rs.schemaUrl, scope: ss.scope, scopeSchemaUrl: ss.schemaUrl, service: '' });
      }
  return [...byTrace].flatMap(([traceId, spans]) => [...chunkTrace(traceId, spans, CHUNK_SPANS)]);
}

/** ExportTraceServiceResponse { ExportTracePartialSuccess partial_success = 1 { int64 rejected_spans = 1; string error_message = 2 } } */
export function decodeExportResponse(b: Buffer): { rejected: bigint; message: string } {
  const out = { rejected: 0n, message: '' };
  const r = new Reader(b, { ri: -1, si: -1, ki: -1, path: 'ExportTraceServiceResponse' });
  while (r.pos < b.length) {
    const tag = r.varint();
    if (tag === 0x0a) {
      const end = r.len(b.length);
      while (r.pos < end) {
        const t = r.varint();
        if (t === 0x08) out.rejected = r.int64();
        else if (t === 0x12) out.message = r.string(end);
        else r.skip(t, end);
      }
    } else r.skip(tag, b.length);
  }
  return out;
}
