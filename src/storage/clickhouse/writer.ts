// The ClickHouse trace writer: one row per span in the spans table (the materialized views fill trace_times,
// operations and attribute_keys from the same insert). ClickHouse wants few big inserts, receivers send many small
// batches: batches that arrive while inserts are in flight are joined into the next insert (up to maxBatchRows
// rows), so a busy writer sends inserts of tens of thousands of rows and an idle one sends each batch at once. Every
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
  /** a batch written on its own (StorageContext.alone): nothing joins it */
  alone: boolean;
  waiters: Waiter[];
  /** when the group's first rows arrived (performance.now()) */
  since: number;
}

export class ClickHouseTraceWriter implements TraceWriter {
  private readonly queue: Group[] = [];
  private queuedRows = 0;
  private inFlight = 0;
  private lingering: NodeJS.Timeout | undefined;

  constructor(
    private readonly conn: ClickHouseConnection,
    private readonly table: string,
    private readonly maxBatchRows: number,
    private readonly maxInFlight: number,
    /**
     * how long a group of fewer than maxBatchRows / 10 rows may wait for more while no insert is in flight: batches
     * that arrive together (concurrent exporters, a burst) then go as one insert instead of a small one followed by
     * a bigger one. A lone batch waits this long at most.
     */
    private readonly lingerMs = 10,
    /** rows waiting for an insert at most; beyond, writes are refused as overload */
    private readonly maxQueuedRows = maxBatchRows * 16,
    /** how long a small group waits for an insert in flight to finish before it goes beside it */
    private readonly maxJoinWaitMs = 1_000,
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
      if (last && !last.alone && !ctx?.alone && last.rows + rows <= this.maxBatchRows) {
        last.parts.push(part);
        last.rows += rows;
        last.waiters.push({ resolve, reject });
      } else this.queue.push({ parts: [part], rows, alone: ctx?.alone === true, waiters: [{ resolve, reject }], since: performance.now() });
      this.queuedRows += rows;
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.queue.length) {
      const g = this.queue[0]!;
      const age = performance.now() - g.since;
      // a second insert runs beside the first only with a big group or an old one: small ones wait and grow instead,
      // since the engine's cost is per insert and per part far more than per row; a slow insert holds them up to
      // maxJoinWaitMs, not for as long as it takes. A group written alone cannot grow: it goes at once.
      const wait =
        g.alone || this.queue.length > 1 || g.rows >= this.maxBatchRows / 5 ? 0
        : this.inFlight > 0 ? this.maxJoinWaitMs - age
        : g.rows < this.maxBatchRows / 10 ? this.lingerMs - age
        : 0;
      if (wait > 0) {
        // re-armed each time: a wait that became shorter (the insert in flight ended) is not held to an older timer
        clearTimeout(this.lingering);
        this.lingering = setTimeout(() => {
          this.lingering = undefined;
          this.pump();
        }, wait);
        // the waiting callers keep the process alive, not the timer
        this.lingering.unref();
        return;
      }
      this.queue.shift();
      this.queuedRows -= g.rows;
      let body: Buffer;
      try {
        body = g.parts.length === 1 ? g.parts[0]! : Buffer.concat(g.parts);
      } catch (e) {
        // a group too big for one buffer: its callers are answered, the others go on
        for (const w of g.waiters) w.reject(e);
        continue;
      }
      this.inFlight++;
      this.conn.insert(this.table, { columns: SPAN_INSERT_COLUMNS, body }).then(
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
