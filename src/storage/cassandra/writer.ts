// The Cassandra trace writer: per span, one row in `spans` (the OTLP span with its resource and scope) and its
// index rows (service, operation, duration, attributes), all idempotent INSERTs. The rows of a batch are grouped by
// table and partition, and each group goes as one UNLOGGED batch (a lone row as a plain INSERT): the spans of a
// trace, the index rows of a service's hour, of an attribute value's hour, ... are one mutation each, so a trace of
// 20 spans costs a handful of requests instead of hundreds. Only rows of one partition share a batch (batches over
// several partitions would cost the coordinator more than they save). The groups run concurrently within the
// connection's in-flight bound, and the batch is acknowledged once every group is written at the configured
// consistency. Service, operation and trace-hour rows are written once per process and refreshed before their TTL
// runs out.
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

/** rows per UNLOGGED batch, at most: bounds one mutation and lets a large partition's rows go in parallel */
export const MAX_BATCH_ROWS = 200;
/** bytes of span encodings per batch of `spans` rows, at most (a mutation must stay far below the commit log's limit) */
export const MAX_BATCH_BYTES = 512 * 1024;

interface Group {
  cql: string;
  rows: Params[];
  bytes: number;
  done: Promise<unknown>;
  settle: (p: Promise<unknown>) => void;
}

/**
 * The rows of one writeTraces call, grouped by statement and partition. A group is sent when it is full and at
 * flush(); add() answers with the write of the group the row joined.
 */
class RowGroups {
  private readonly open = new Map<string, Group>();
  /** the writes of every group sent */
  readonly sent: Promise<unknown>[] = [];

  constructor(private readonly send: (cql: string, rows: Params[]) => Promise<unknown>) {}

  /** adds a row of `cql` in the partition named `partition` (unique per statement), of `bytes` payload */
  add(cql: string, partition: string, params: Params, bytes = 0): Promise<unknown> {
    const key = `${cql}\u0000${partition}`;
    let g = this.open.get(key);
    if (g === undefined) {
      let settle!: (p: Promise<unknown>) => void;
      const done = new Promise<unknown>((resolve) => (settle = resolve));
      // its failure reaches writeTraces through `sent`: a group nobody else waits for is no unhandled rejection
      done.catch(() => undefined);
      g = { cql, rows: [], bytes: 0, done, settle };
      this.open.set(key, g);
    }
    g.rows.push(params);
    g.bytes += bytes;
    if (g.rows.length >= MAX_BATCH_ROWS || g.bytes >= MAX_BATCH_BYTES) {
      this.open.delete(key);
      this.go(g);
    }
    return g.done;
  }

  flush(): void {
    for (const g of this.open.values()) this.go(g);
    this.open.clear();
  }

  private go(g: Group): void {
    const write = this.send(g.cql, g.rows);
    g.settle(write);
    this.sent.push(write);
  }
}

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
    const signal = ctx?.signal ? { signal: ctx.signal } : {};
    const rows = new RowGroups((cql, group) => (group.length === 1 ? conn.exec(cql, group[0]!, { write: true, ...signal }) : conn.batch(cql, group, signal)));
    /** names already written by other batches are waited for: this one is acknowledged only once they are stored */
    const names: Promise<unknown>[] = [];
    for (const rs of traces) {
      const service = serviceOf(rs.resource);
      const resourceAttrs = new Set<string>();
      addAttrs(resourceAttrs, rs.resource.attributes);
      if (service) this.writeName(`s\u0000${tenant}\u0000${service}`, names, () => rows.add(INSERT_SERVICE, '', [tenant, service]));
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
          void rows.add(INSERT_SPAN, span.traceId, [tenant, traceId, spanId, hash64(bytes), span.parentSpanId ? Buffer.from(span.parentSpanId, 'hex') : null, service, start, span.endTimeUnixNano, bytes], bytes.length);
          const shard = traceShard(traceId);
          this.writeName(`h\u0000${tenant}\u0000${bucket}\u0000${span.traceId}`, names, () => rows.add(INSERT_TRACE_HOUR, `${bucket}\u0000${shard}`, [tenant, bucket, shard, traceId]));
          if (!service) continue;
          this.writeName(`o\u0000${tenant}\u0000${service}\u0000${kind}\u0000${span.name}`, names, () => rows.add(INSERT_OPERATION, service, [tenant, service, kind, span.name]));
          const at = `${service}\u0000${bucket}`;
          void rows.add(INSERT_BY_SERVICE, at, [tenant, service, bucket, start, traceId, spanId]);
          void rows.add(INSERT_BY_OPERATION, `${span.name}\u0000${at}`, [tenant, service, span.name, bucket, start, traceId, spanId]);
          // the rows of span_by_attribute and span_by_duration_class: their first five columns are the partition key
          for (const [cql, params] of spanIndexRows(tenant, service, span, ss.scope, bucket, { traceId, spanId })) void rows.add(cql, JSON.stringify(params.slice(1, 5)), params);
          const attrs = new Set(scopeAttrs);
          addAttrs(attrs, span.attributes);
          for (const e of span.events) addAttrs(attrs, e.attributes);
          for (const l of span.links) addAttrs(attrs, l.attributes);
          for (const kv of attrs) {
            const cut = kv.indexOf('\u0000');
            void rows.add(INSERT_BY_ATTRIBUTE, `${kv}\u0000${at}`, [tenant, service, kv.slice(0, cut), kv.slice(cut + 1), bucket, start, traceId, spanId]);
          }
        }
      }
    }
    rows.flush();
    const results = await Promise.allSettled([...rows.sent, ...names]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}
