// The ClickHouse trace writer: one row per span in the spans table (the materialized views fill trace_times,
// operations and attribute_keys from the same insert). ClickHouse wants few big inserts, receivers send many small
// batches: batches that arrive while inserts are in flight are joined into the next insert (up to maxBatchRows
// rows), so a busy writer sends inserts of thousands of rows and an idle one sends each batch at once. Every
// caller is answered when the insert holding its rows is acknowledged by ClickHouse, or fails with it. Rows go as
// RowBinary (./row-binary.ts).
import { type ResourceSpans, ResourceExhaustedError, type StorageContext, type TraceWriter } from '../api/index.js';
import { validateBatch } from '../api/semantics.js';
import type { ClickHouseConnection } from './connection.js';
import { RowBinaryWriter, SPAN_INSERT_COLUMNS, writeSpanRows } from './row-binary.js';

interface Waiter {
  resolve(): void;
  reject(e: unknown): void;
}

interface Group {
  parts: Buffer[];
  rows: number;
  waiters: Waiter[];
}

export class ClickHouseTraceWriter implements TraceWriter {
  private readonly queue: Group[] = [];
  private queuedRows = 0;
  private inFlight = 0;

  constructor(
    private readonly conn: ClickHouseConnection,
    private readonly table: string,
    private readonly maxBatchRows: number,
    private readonly maxInFlight: number,
    /** rows waiting for an insert at most; beyond, writes are refused as overload */
    private readonly maxQueuedRows = maxBatchRows * 16,
  ) {}

  async writeTraces(traces: ResourceSpans[], ctx?: StorageContext): Promise<void> {
    validateBatch(traces);
    ctx?.signal?.throwIfAborted();
    const w = new RowBinaryWriter(64 * 1024);
    const rows = writeSpanRows(w, traces);
    if (!rows) return;
    if (this.queuedRows > 0 && this.queuedRows + rows > this.maxQueuedRows) {
      throw new ResourceExhaustedError(`the ClickHouse writer has ${this.queuedRows} rows waiting for inserts: retry later`);
    }
    const part = w.view();
    await new Promise<void>((resolve, reject) => {
      const last = this.queue[this.queue.length - 1];
      if (last && last.rows + rows <= this.maxBatchRows) {
        last.parts.push(part);
        last.rows += rows;
        last.waiters.push({ resolve, reject });
      } else this.queue.push({ parts: [part], rows, waiters: [{ resolve, reject }] });
      this.queuedRows += rows;
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.queue.length) {
      const g = this.queue.shift()!;
      this.queuedRows -= g.rows;
      this.inFlight++;
      this.conn.insert(this.table, { columns: SPAN_INSERT_COLUMNS, body: g.parts.length === 1 ? g.parts[0]! : Buffer.concat(g.parts) }).then(
        () => {
          this.inFlight--;
          for (const w of g.waiters) w.resolve();
          this.pump();
        },
        (e: unknown) => {
          this.inFlight--;
          for (const w of g.waiters) w.reject(e);
          this.pump();
        },
      );
    }
  }
}
