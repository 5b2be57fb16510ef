// The Elasticsearch / OpenSearch trace writer: _bulk requests of at most maxBulkBytes; whole requests that fail
// with 429/5xx or a lost connection are retried with backoff; per item, 409 on create (data streams) counts as
// written, 429/5xx items are retried, and items the server rejects for good are reported in the error, never
// dropped silently. Service/operation documents are written once per day and kind (remembered after a flush).
import { createHash } from 'node:crypto';
import { ResourceExhaustedError, StorageError, UnavailableError } from '../api/errors.js';
import type { ResourceSpans, StorageContext, TraceWriter } from '../api/index.js';
import { SPAN_KIND_NAMES, isLazySpan, serviceOf, spanCount } from '../api/model.js';
import { validateBatch } from '../api/semantics.js';
import type { SearchConnection } from './connection.js';
import { BulkBody, ScopeDocParts, writeDoc } from './docs.js';
import { day } from './layout.js';

interface BulkItem {
  status: number;
  error?: { type?: string; reason?: string };
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
    const verb = names.layout === 'dataStream' ? 'create' : 'index';
    const body = new BulkBody(Math.max(64 * 1024, spanCount(traces) * 2560));
    const services = new Map<string, string>();
    // the spans of a batch mostly start on one day: its names are worked out once, not per span
    let d: DayNames | undefined;
    for (const rs of traces) {
      const service = serviceOf(rs.resource);
      for (const ss of rs.scopeSpans) {
        const parts = new ScopeDocParts(rs.resource, rs.schemaUrl, ss.scope, ss.schemaUrl, service);
        for (const span of ss.spans) {
          // what the document needs is decoded once for it and need not stay on the span while the request is out
          if (isLazySpan(span)) span.release();
          const ns = span.startTimeUnixNano;
          if (!d || ns < d.from || ns >= d.to) {
            const from = ns - (((ns % NS_PER_DAY) + NS_PER_DAY) % NS_PER_DAY);
            d = { from, to: from + NS_PER_DAY, day: day(ns), action: `{"${verb}":{"_index":${JSON.stringify(names.spanWrite(ns))},"_id":"`, service: names.serviceWrite(ns) };
          }
          writeDoc(body, d.action, parts, span);
          const name = span.name;
          const kind = SPAN_KIND_NAMES[span.kind];
          const key = `${d.day}\u0000${service}\u0000${name}\u0000${kind}`;
          if (!this.seenServices.has(key) && !services.has(key)) {
            const id = createHash('sha256').update(key).digest('base64url').slice(0, 22);
            services.set(key, `${JSON.stringify({ index: { _index: d.service, _id: id } })}\n${JSON.stringify({ service, name, kind, lastSeenMillis: Number(ns / 1_000_000n) })}`);
          }
        }
      }
    }
    for (const op of services.values()) body.op(op);
    await this.bulk(body);
    for (const k of services.keys()) this.seenServices.add(k);
  }

  /** Sends the operations in bodies of at most maxBulkBytes; retries what can succeed; throws naming what cannot. */
  private async bulk(body: BulkBody): Promise<void> {
    const ends = body.ends;
    for (let from = 0; from < ends.length; ) {
      const base = from ? ends[from - 1]! : 0;
      let to = from + 1;
      while (to < ends.length && ends[to]! - base <= this.maxBulkBytes) to++;
      await this.sendBulk(body, from, to);
      from = to;
    }
  }

  /** Sends operations [from, to) of a body, and again those refused for a while. */
  private async sendBulk(body: BulkBody, from: number, to: number): Promise<void> {
    let pending = Array.from({ length: to - from }, (_, i) => from + i);
    let ndjson = body.slice(from, to);
    const rejected: string[] = [];
    for (let attempt = 0; pending.length; attempt++) {
      let resp: BulkResponse;
      try {
        resp = (await this.conn.client.request<BulkResponse>('POST', '/_bulk', { ndjson, query: BULK_FILTER })).body;
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
      ndjson = Buffer.concat(retry.map((i) => body.slice(i, i + 1)));
      this.retries += retry.length;
      if (retry.length) await sleep(Math.min(5_000, 100 * 2 ** attempt));
    }
    if (rejected.length) {
      this.conn.log?.error({ rejected: rejected.length, first: rejected[0] }, 'documents rejected by the server');
      throw new StorageError('Internal', `${rejected.length} document(s) rejected by ${this.conn.describeServer()}; first: ${rejected[0]}`);
    }
  }
}
