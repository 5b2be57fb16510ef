// Messages of jaeger.storage.v2 (proto/storage/v2/trace_storage.proto and dependency_storage.proto of jaeger-idl)
// and grpc.health.v1, decoded from and encoded to the storage API's types.
import type { AttrValue, DependencyLink, FoundTraceId, GetTraceParams, Operation, TimeRange, TraceQuery } from '../../storage/api/index.js';
import { keyValue } from '../../storage/api/otlp-proto.js';
import { Reader, Writer } from '../../storage/api/proto-wire.js';

/** Go's zero time.Time as a protobuf Timestamp (gogo stdtime sends it for "unset"). */
const GO_ZERO_SECONDS = -62135596800n;

const reader = (buf: Buffer, path: string) => new Reader(buf, { ri: -1, si: -1, ki: -1, path });

/** google.protobuf.Timestamp or Duration spanning [pos, end) -> ns; undefined for Go's zero time */
function timestamp(r: Reader, end: number): bigint | undefined {
  let seconds = 0n;
  let nanos = 0;
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === 0x08) seconds = r.int64();
    else if (tag === 0x10) nanos = Number(BigInt.asIntN(32, r.int64()));
    else r.skip(tag, end);
  }
  if (seconds === GO_ZERO_SECONDS) return undefined;
  return seconds * 1_000_000_000n + BigInt(nanos);
}

function sub<T>(r: Reader, limit: number, fn: (r: Reader, end: number) => T): T {
  const e = r.len(limit);
  const v = fn(r, e);
  r.done(e);
  return v;
}

export function decodeGetTracesRequest(buf: Buffer): GetTraceParams[] {
  const r = reader(buf, 'GetTracesRequest');
  const out: GetTraceParams[] = [];
  while (r.pos < buf.length) {
    const tag = r.varint();
    if (tag !== 0x0a) {
      r.skip(tag, buf.length);
      continue;
    }
    out.push(
      sub(r, buf.length, (q, end) => {
        const p: GetTraceParams = { traceId: '' };
        while (q.pos < end) {
          const t = q.varint();
          if (t === 0x0a) {
            const e = q.len(end);
            p.traceId = q.buf.toString('hex', q.pos, e);
            q.pos = e;
          } else if (t === 0x12) {
            const v = sub(q, end, timestamp);
            if (v !== undefined) p.start = v;
          } else if (t === 0x1a) {
            const v = sub(q, end, timestamp);
            if (v !== undefined) p.end = v;
          } else q.skip(t, end);
        }
        return p;
      }),
    );
  }
  return out;
}

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

export const DEFAULT_SEARCH_DEPTH = 100;

function queryParams(r: Reader, end: number): TraceQuery {
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
        const kv = sub(r, end, keyValue);
        attrs[kv.key] = kv.value;
        hasAttrs = true;
        break;
      }
      case 0x22: {
        const v = sub(r, end, timestamp);
        if (v !== undefined) q.startTimeMin = v;
        break;
      }
      case 0x2a: {
        const v = sub(r, end, timestamp);
        if (v !== undefined) q.startTimeMax = v;
        break;
      }
      case 0x32: {
        const v = sub(r, end, timestamp);
        if (v) q.durationMin = v;
        break;
      }
      case 0x3a: {
        const v = sub(r, end, timestamp);
        if (v) q.durationMax = v;
        break;
      }
      case 0x40: {
        const d = Number(BigInt.asIntN(32, r.int64()));
        if (d !== 0) q.searchDepth = d;
        break;
      }
      default:
        r.skip(tag, end);
    }
  }
  if (hasAttrs) q.attributes = attrs;
  return q;
}

/** FindTracesRequest and FindTraceIDsRequest: { TraceQueryParameters query = 1 } */
export function decodeFindRequest(buf: Buffer): TraceQuery {
  const r = reader(buf, 'FindTracesRequest');
  let q: TraceQuery = { searchDepth: DEFAULT_SEARCH_DEPTH };
  while (r.pos < buf.length) {
    const tag = r.varint();
    if (tag === 0x0a) q = sub(r, buf.length, queryParams);
    else r.skip(tag, buf.length);
  }
  return q;
}

export function decodeGetDependenciesRequest(buf: Buffer): TimeRange {
  const r = reader(buf, 'GetDependenciesRequest');
  const out: TimeRange = { start: 0n, end: BigInt(Date.now()) * 1_000_000n };
  while (r.pos < buf.length) {
    const tag = r.varint();
    if (tag === 0x0a) out.start = sub(r, buf.length, timestamp) ?? 0n;
    else if (tag === 0x12) out.end = sub(r, buf.length, timestamp) ?? out.end;
    else r.skip(tag, buf.length);
  }
  return out;
}

function writeTimestamp(w: Writer, field: number, ns: bigint): void {
  const seconds = ns / 1_000_000_000n;
  const nanos = Number(ns % 1_000_000_000n);
  w.message(field, (m) => {
    if (seconds) m.tag(1, 0).varint(seconds);
    if (nanos) m.tag(2, 0).varint(nanos);
  });
}

export const encodeGetServicesResponse = (services: string[]): Buffer => {
  const w = new Writer();
  for (const s of services) w.bytes(1, Buffer.from(s, 'utf8'));
  return w.finish();
};

export const encodeGetOperationsResponse = (ops: Operation[]): Buffer => {
  const w = new Writer();
  for (const o of ops) w.message(1, (m) => m.string(1, o.name).string(2, o.spanKind));
  return w.finish();
};

export const encodeFindTraceIdsResponse = (ids: FoundTraceId[]): Buffer => {
  const w = new Writer();
  for (const f of ids) {
    w.message(1, (m) => {
      m.bytes(1, Buffer.from(f.traceId, 'hex'));
      if (f.start !== undefined) writeTimestamp(m, 2, f.start);
      if (f.end !== undefined) writeTimestamp(m, 3, f.end);
    });
  }
  return w.finish();
};

export const encodeGetDependenciesResponse = (deps: DependencyLink[]): Buffer => {
  const w = new Writer();
  for (const d of deps) w.message(1, (m) => m.string(1, d.parent).string(2, d.child).uint(3, d.callCount).string(4, d.source ?? ''));
  return w.finish();
};

/** grpc.health.v1.HealthCheckRequest { string service = 1 } */
export function decodeHealthRequest(buf: Buffer): string {
  const r = reader(buf, 'HealthCheckRequest');
  let service = '';
  while (r.pos < buf.length) {
    const tag = r.varint();
    if (tag === 0x0a) service = r.string(buf.length);
    else r.skip(tag, buf.length);
  }
  return service;
}

/** grpc.health.v1.HealthCheckResponse { ServingStatus status = 1 } (SERVING = 1) */
export const encodeHealthResponse = (serving: boolean): Buffer => new Writer().uint(1, serving ? 1 : 2).finish();
