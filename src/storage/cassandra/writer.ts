// The Cassandra trace writer: per span, one row in `spans` (the OTLP span with its resource and scope) and its
// index rows (service, operation, duration, attributes), all idempotent INSERTs run concurrently within the
// connection's in-flight bound. Service, operation and trace-hour rows are written once per process and refreshed
// before their TTL runs out.
import { createHash } from 'node:crypto';
import { type AttrValue, DEFAULT_TENANT, InvalidArgumentError, type KeyValue, type ResourceSpans, SPAN_KIND_NAMES, type StorageContext, type TraceWriter, attrToString, serviceOf } from '../api/index.js';
import { validateBatch } from '../api/semantics.js';
import { encodeTracesProto } from '../../otlp/otlp-proto.js';
import type { CassandraConnection, Params } from './connection.js';
import { bucketOf, traceShard } from './schema.js';
import { spanIndexRows } from './span-index.js';

/** attribute keys and values longer than this (UTF-16 units) are not indexed (a search on them scans the service) */
export const MAX_INDEXED = 256;

const INSERT_SPAN = 'INSERT INTO ks.spans (tenant, trace_id, span_id, span_hash, parent_id, service, start_ns, end_ns, span) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)';
const INSERT_SERVICE = 'INSERT INTO ks.services (tenant, shard, service) VALUES (?, 0, ?)';
const INSERT_OPERATION = 'INSERT INTO ks.operations (tenant, service, span_kind, operation) VALUES (?, ?, ?, ?)';
const INSERT_BY_SERVICE = 'INSERT INTO ks.span_by_service (tenant, service, bucket, start_ns, trace_id, span_id) VALUES (?, ?, ?, ?, ?, ?)';
const INSERT_BY_OPERATION = 'INSERT INTO ks.span_by_operation (tenant, service, operation, bucket, start_ns, trace_id, span_id) VALUES (?, ?, ?, ?, ?, ?, ?)';
const INSERT_BY_ATTRIBUTE = 'INSERT INTO ks.span_by_attribute (tenant, service, key, value, bucket, start_ns, trace_id, span_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)';
const INSERT_TRACE_HOUR = 'INSERT INTO ks.traces_by_hour (tenant, hour, shard, trace_id) VALUES (?, ?, ?, ?)';

/**
 * UTF-8 bytes a tenant, service or operation name may have: they are key components, which Cassandra limits to
 * 64 KiB each and together (a partition key of tenant, service and operation stays within it).
 */
export const MAX_NAME_BYTES = 16_384;

/** whether a name fits MAX_NAME_BYTES (a UTF-16 unit is at most 3 UTF-8 bytes: only long names are measured) */
export const fitsKey = (name: string): boolean => name.length * 3 <= MAX_NAME_BYTES || Buffer.byteLength(name, 'utf8') <= MAX_NAME_BYTES;

/** Refuses a name longer than MAX_NAME_BYTES, naming the field it came from. */
export function checkName(field: string, name: string): void {
  if (!fitsKey(name)) {
    throw new InvalidArgumentError(field, `is ${Buffer.byteLength(name, 'utf8')} bytes long: the Cassandra store keeps names of at most ${MAX_NAME_BYTES} bytes (UTF-8)`);
  }
}

/** Refuses a batch with a tenant, service or span name too long to be a key, before anything is written. */
function checkNames(traces: readonly ResourceSpans[], tenant: string): void {
  checkName('tenant', tenant);
  traces.forEach((rs, i) => {
    const service = serviceOf(rs.resource);
    checkName(`resourceSpans[${i}].resource.attributes[service.name]`, service);
    rs.scopeSpans.forEach((ss, j) => ss.spans.forEach((span, k) => checkName(`resourceSpans[${i}].scopeSpans[${j}].spans[${k}].name`, span.name)));
  });
}

/** how long a written name is trusted to be stored before it is written again: a tenth of the TTL, at most an hour */
const refreshMs = (ttlSeconds: number): number => (ttlSeconds > 0 ? Math.min(3_600_000, ttlSeconds * 100) : 3_600_000);
/** names remembered as written (the oldest are forgotten first) */
const MAX_REMEMBERED = 100_000;

const indexable = (v: AttrValue): string | undefined => {
  const s = attrToString(v);
  return s.length <= MAX_INDEXED ? s : undefined;
};

function addAttrs(out: Set<string>, attrs: readonly KeyValue[]): void {
  for (const a of attrs) {
    if (a.key.length > MAX_INDEXED || a.key === 'service.name') continue;
    const v = indexable(a.value);
    if (v !== undefined) out.add(`${a.key}\u0000${v}`);
  }
}

/** 64 bits of a span's encoding: identical spans share a row, different spans with one span ID do not */
const hash64 = (b: Buffer): bigint => createHash('sha256').update(b).digest().readBigInt64BE(0);

export class CassandraTraceWriter implements TraceWriter {
  /** rows of names (services, operations, trace hours) written or being written, with when and the write itself */
  private readonly written = new Map<string, { at: number; done: Promise<unknown> }>();

  constructor(private readonly conn: CassandraConnection) {}

  forget(): void {
    this.written.clear();
  }

  /**
   * Writes a name row unless this process wrote it within the refresh time. A batch that finds the row being
   * written by another batch waits for that write, so it is acknowledged only once the row is stored; a row whose
   * write failed is forgotten and written again by the next batch.
   */
  private writeName(key: string, pending: Promise<unknown>[], write: () => Promise<unknown>): void {
    const now = Date.now();
    const known = this.written.get(key);
    if (known !== undefined && now - known.at < refreshMs(this.conn.ttlSeconds)) {
      pending.push(known.done);
      return;
    }
    this.written.delete(key);
    if (this.written.size >= MAX_REMEMBERED) this.written.delete(this.written.keys().next().value as string);
    const entry = { at: now, done: write() };
    this.written.set(key, entry);
    entry.done.catch(() => {
      if (this.written.get(key) === entry) this.written.delete(key);
    });
    pending.push(entry.done);
  }

  async writeTraces(traces: ResourceSpans[], ctx?: StorageContext): Promise<void> {
    validateBatch(traces);
    const tenant = ctx?.tenant ?? DEFAULT_TENANT;
    checkNames(traces, tenant);
    const conn = this.conn;
    const pending: Promise<unknown>[] = [];
    const exec = (cql: string, params: Params): Promise<unknown> => conn.exec(cql, params, { write: true, ...(ctx?.signal ? { signal: ctx.signal } : {}) });
    const run = (cql: string, params: Params): void => {
      pending.push(exec(cql, params));
    };
    for (const rs of traces) {
      const service = serviceOf(rs.resource);
      const resourceAttrs = new Set<string>();
      addAttrs(resourceAttrs, rs.resource.attributes);
      const sk = `s\u0000${tenant}\u0000${service}`;
      if (service) this.writeName(sk, pending, () => exec(INSERT_SERVICE, [tenant, service]));
      for (const ss of rs.scopeSpans) {
        const scopeAttrs = new Set(resourceAttrs);
        addAttrs(scopeAttrs, ss.scope.attributes);
        for (const span of ss.spans) {
          const bytes = encodeTracesProto([{ resource: rs.resource, schemaUrl: rs.schemaUrl, scopeSpans: [{ scope: ss.scope, schemaUrl: ss.schemaUrl, spans: [span] }] }]);
          const traceId = Buffer.from(span.traceId, 'hex');
          const spanId = Buffer.from(span.spanId, 'hex');
          const start = span.startTimeUnixNano;
          const bucket = bucketOf(start);
          const kind = SPAN_KIND_NAMES[span.kind] ?? '';
          run(INSERT_SPAN, [tenant, traceId, spanId, hash64(bytes), span.parentSpanId ? Buffer.from(span.parentSpanId, 'hex') : null, service, start, span.endTimeUnixNano, bytes]);
          const h = `h\u0000${tenant}\u0000${bucket}\u0000${span.traceId}`;
          this.writeName(h, pending, () => exec(INSERT_TRACE_HOUR, [tenant, bucket, traceShard(traceId), traceId]));
          if (!service) continue;
          const op = `o\u0000${tenant}\u0000${service}\u0000${kind}\u0000${span.name}`;
          this.writeName(op, pending, () => exec(INSERT_OPERATION, [tenant, service, kind, span.name]));
          run(INSERT_BY_SERVICE, [tenant, service, bucket, start, traceId, spanId]);
          run(INSERT_BY_OPERATION, [tenant, service, span.name, bucket, start, traceId, spanId]);
          for (const [cql, params] of spanIndexRows(tenant, service, span, ss.scope, bucket, { traceId, spanId })) run(cql, params);
          const attrs = new Set(scopeAttrs);
          addAttrs(attrs, span.attributes);
          for (const e of span.events) addAttrs(attrs, e.attributes);
          for (const l of span.links) addAttrs(attrs, l.attributes);
          for (const kv of attrs) {
            const cut = kv.indexOf('\u0000');
            run(INSERT_BY_ATTRIBUTE, [tenant, service, kv.slice(0, cut), kv.slice(cut + 1), bucket, start, traceId, spanId]);
          }
        }
      }
    }
    const results = await Promise.allSettled(pending);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}
