// The Elasticsearch / OpenSearch trace writer: _bulk requests of at most maxBulkBytes; whole requests that fail
// with 429/5xx or a lost connection are retried with backoff; per item, 409 on create (data streams) counts as
// written, 429/5xx items are retried, and items the server rejects for good are reported in the error, never
// dropped silently. Service/operation documents are written once per day and kind (remembered after a flush).
import { createHash } from 'node:crypto';
import { ResourceExhaustedError, StorageError, UnavailableError } from '../api/errors.js';
import type { ResourceSpans, StorageContext, TraceWriter } from '../api/index.js';
import { serviceOf } from '../api/model.js';
import { validateBatch } from '../api/semantics.js';
import type { SearchConnection } from './connection.js';
import { ScopeDocParts, encodeDoc } from './docs.js';
import { day } from './layout.js';

interface BulkItem {
  status: number;
  error?: { type?: string; reason?: string };
}
/** one bulk action and its document, in JSON */
interface BulkOp {
  action: string;
  doc: string;
}
interface BulkResponse {
  errors: boolean;
  items: Record<string, BulkItem>[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A write refused because the cluster's disk passed its flood-stage watermark (index read-only-allow-delete block). */
const isDiskBlock = (e: { type?: string; reason?: string } | undefined): boolean =>
  e?.type === 'cluster_block_exception' && /flood[- ]stage|disk usage exceeded|read[-_]only[-_]allow[-_]delete/i.test(e.reason ?? '');
const boundedReason = (r: string): string => r.replace(/\s+/g, ' ').slice(0, 200);

/**
 * The NDJSON body of bulk operations, UTF-8 encoded as it is built: the HTTP layer neither measures nor encodes a
 * large string again, and no string of the whole body is made.
 */
export function ndjsonBody(ops: readonly BulkOp[]): Buffer {
  let size = 0;
  for (const o of ops) size += o.action.length + o.doc.length + 2;
  let buf = Buffer.allocUnsafe(size);
  let at = 0;
  const put = (s: string) => {
    // a UTF-8 character takes up to 3 bytes per UTF-16 unit: measure only when it might not fit
    if (buf.length - at < s.length * 3 + 1) {
      const need = Buffer.byteLength(s) + 1;
      if (buf.length - at < need) {
        const grown = Buffer.allocUnsafe(Math.max(buf.length * 2, at + need));
        buf.copy(grown, 0, 0, at);
        buf = grown;
      }
    }
    at += buf.write(s, at);
    buf[at++] = 0x0a;
  };
  for (const o of ops) {
    put(o.action);
    put(o.doc);
  }
  return buf.subarray(0, at);
}

const retryable = (status: number) => status === 429 || status >= 500;
const NS_PER_DAY = 86_400_000_000_000n;
/** only what the item check reads: each item keeps its place in the array, reduced to status and error */
const BULK_FILTER = { filter_path: 'errors,items.*.status,items.*.error' };

/** The day of a span start and its span and service index names, kept for the spans that fall on the same UTC day. */
interface DayNames {
  from: bigint;
  to: bigint;
  day: string;
  /** the span action line up to the document ID */
  action: string;
  service: string;
}

export class SearchTraceWriter implements TraceWriter {
  /** service/operation documents already written (day, service, name, kind) */
  private readonly seenServices = new Set<string>();
  private readonly maxBulkBytes: number;
  private readonly maxRetries: number;
  /** bulk requests and items sent again after a failure (observability and tests) */
  retries = 0;

  constructor(private readonly conn: SearchConnection) {
    this.maxBulkBytes = conn.cfg.maxBulkBytes ?? 5 * 1024 * 1024;
    this.maxRetries = conn.cfg.maxRetries ?? 8;
  }

  /** Forgets which service documents were written (their indices were deleted). */
  forget(): void {
    this.seenServices.clear();
  }

  async writeTraces(traces: ResourceSpans[], _ctx?: StorageContext): Promise<void> {
    validateBatch(traces);
    const names = this.conn.names;
    const ops: BulkOp[] = [];
    const services = new Map<string, BulkOp>();
    const verb = names.layout === 'dataStream' ? 'create' : 'index';
    // the spans of a batch mostly start on one day: its names are worked out once, not per span
    let d: DayNames | undefined;
    for (const rs of traces) {
      const service = serviceOf(rs.resource);
      for (const ss of rs.scopeSpans) {
        const parts = new ScopeDocParts(rs.resource, rs.schemaUrl, ss.scope, ss.schemaUrl, service);
        for (const span of ss.spans) {
          const doc = encodeDoc(parts, span);
          const ns = span.startTimeUnixNano;
          if (!d || ns < d.from || ns >= d.to) {
            const from = ns - (((ns % NS_PER_DAY) + NS_PER_DAY) % NS_PER_DAY);
            const spanIndex = names.spanWrite(ns);
            d = { from, to: from + NS_PER_DAY, day: day(ns), action: `{"${verb}":{"_index":${JSON.stringify(spanIndex)},"_id":"`, service: names.serviceWrite(ns) };
          }
          ops.push({ action: `${d.action}${doc.docId}"}}`, doc: doc.json });
          const key = `${d.day}\u0000${doc.service}\u0000${doc.name}\u0000${doc.kind}`;
          if (!this.seenServices.has(key) && !services.has(key)) {
            const id = createHash('sha256').update(key).digest('base64url').slice(0, 22);
            services.set(key, {
              action: JSON.stringify({ index: { _index: d.service, _id: id } }),
              doc: JSON.stringify({ service: doc.service, name: doc.name, kind: doc.kind, lastSeenMillis: doc.startTimeMillis }),
            });
          }
        }
      }
    }
    await this.bulk([...ops, ...services.values()]);
    for (const k of services.keys()) this.seenServices.add(k);
  }

  /** Sends actions in bodies of at most maxBulkBytes; retries what can succeed; throws naming what cannot. */
  private async bulk(ops: BulkOp[]): Promise<void> {
    let batch: BulkOp[] = [];
    let bytes = 0;
    const flush = async () => {
      if (batch.length) await this.sendBulk(batch);
      batch = [];
      bytes = 0;
    };
    for (const op of ops) {
      const size = op.action.length + op.doc.length + 2;
      if (bytes + size > this.maxBulkBytes) await flush();
      batch.push(op);
      bytes += size;
    }
    await flush();
  }

  private async sendBulk(ops: BulkOp[]): Promise<void> {
    let pending = ops;
    const rejected: string[] = [];
    for (let attempt = 0; pending.length; attempt++) {
      let resp: BulkResponse;
      try {
        resp = (await this.conn.client.request<BulkResponse>('POST', '/_bulk', { ndjson: ndjsonBody(pending), query: BULK_FILTER })).body;
      } catch (e) {
        const status = (e as { status?: number }).status;
        const again = e instanceof UnavailableError || (status !== undefined && retryable(status));
        if (!again || attempt >= this.maxRetries) throw e;
        this.retries++;
        await sleep(Math.min(5_000, 100 * 2 ** attempt));
        continue;
      }
      if (!resp.errors) return;
      const retry: typeof pending = [];
      let blocked: string | undefined;
      resp.items.forEach((item, i) => {
        const r = Object.values(item)[0]!;
        if (r.status < 300 || (r.status === 409 && 'create' in item)) return;
        if (isDiskBlock(r.error)) blocked ??= r.error?.reason ?? 'disk usage exceeded the flood-stage watermark';
        if (retryable(r.status)) retry.push(pending[i]!);
        else rejected.push(`${r.status} ${r.error?.type ?? ''}: ${r.error?.reason ?? ''}`.trim());
      });
      // the server's disk is past its flood-stage watermark: no retry helps until space is freed
      if (blocked) throw new ResourceExhaustedError(`${this.conn.describeServer()} refuses writes because its disk is full (${boundedReason(blocked)}): free disk space on the cluster; writes resume by themselves once the block is lifted`);
      if (retry.length && attempt >= this.maxRetries) throw new UnavailableError(`${retry.length} document(s) still refused after ${attempt + 1} attempts (${this.conn.describeServer()} overloaded): retry later`);
      pending = retry;
      this.retries += retry.length;
      if (retry.length) await sleep(Math.min(5_000, 100 * 2 ** attempt));
    }
    if (rejected.length) {
      this.conn.log?.error({ rejected: rejected.length, first: rejected[0] }, 'documents rejected by the server');
      throw new StorageError('Internal', `${rejected.length} document(s) rejected by ${this.conn.describeServer()}; first: ${rejected[0]}`);
    }
  }
}
