// The ClickHouse trace writer's grouping, against a connection whose inserts the test answers: batches that arrive
// during an insert go together in the next one, a second insert runs beside the first only for a big group or
// after a bounded wait, and every caller is answered with its insert.
import { newSpan, serviceBatch, type ResourceSpans } from '../../src/storage/api/index.js';
import type { ClickHouseConnection } from '../../src/storage/clickhouse/connection.js';
import { ClickHouseTraceWriter } from '../../src/storage/clickhouse/writer.js';

interface Call {
  bytes: number;
  at: number;
  done(): void;
  fail(e: Error): void;
}

function fakeConnection(): { conn: ClickHouseConnection; calls: Call[] } {
  const calls: Call[] = [];
  const conn = {
    insert: (_table: string, rows: { body: Buffer }) =>
      new Promise<void>((resolve, reject) => calls.push({ bytes: rows.body.length, at: performance.now(), done: resolve, fail: reject })),
  } as unknown as ClickHouseConnection;
  return { conn, calls };
}

const spans = (n: number, seed: number): ResourceSpans[] => [
  serviceBatch(
    'writer',
    Array.from({ length: n }, (_, i) => newSpan({ traceId: (seed + 1).toString(16).padStart(32, '0'), spanId: (i + 1).toString(16).padStart(16, '0'), name: 'op', startTimeUnixNano: 1_700_000_000_000_000_000n, endTimeUnixNano: 1_700_000_000_001_000_000n })),
  ),
];
const until = async (what: () => boolean, ms = 2_000): Promise<void> => {
  for (const end = Date.now() + ms; !what(); ) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 2));
  }
};

describe('clickhouse trace writer', () => {
  it('joins the batches that arrive during an insert into the next one, and answers each caller with its insert', async () => {
    const { conn, calls } = fakeConnection();
    const w = new ClickHouseTraceWriter(conn, 'db.spans', 1_000, 2, 0, 16_000, 60_000);
    const first = w.writeTraces(spans(10, 0));
    await until(() => calls.length === 1);
    let answered = 0;
    const later = Array.from({ length: 5 }, (_, k) => w.writeTraces(spans(10, k + 1)).then(() => answered++));
    await new Promise((r) => setTimeout(r, 50));
    // small groups wait for the insert in flight instead of going beside it
    expect(calls).toHaveLength(1);
    calls[0]!.done();
    await first;
    await until(() => calls.length === 2);
    expect(calls[1]!.bytes).toBe(calls[0]!.bytes * 5);
    expect(answered).toBe(0);
    calls[1]!.done();
    await Promise.all(later);
    expect(answered).toBe(5);
  });

  it('sends a small group beside a slow insert once it waited maxJoinWaitMs', async () => {
    const { conn, calls } = fakeConnection();
    const w = new ClickHouseTraceWriter(conn, 'db.spans', 1_000, 2, 0, 16_000, 100);
    void w.writeTraces(spans(10, 0));
    await until(() => calls.length === 1);
    const sent = performance.now();
    const second = w.writeTraces(spans(10, 1));
    await until(() => calls.length === 2);
    expect(calls[1]!.at - sent).toBeGreaterThanOrEqual(90);
    calls[1]!.done();
    await second;
    calls[0]!.done();
  });

  it('sends a waiting group once the insert in flight ends, not when its longer wait would have', async () => {
    const { conn, calls } = fakeConnection();
    const w = new ClickHouseTraceWriter(conn, 'db.spans', 1_000, 2, 20, 16_000, 60_000);
    const first = w.writeTraces(spans(10, 0));
    await until(() => calls.length === 1);
    const second = w.writeTraces(spans(10, 1)); // waits to join (up to a minute) while the first runs
    calls[0]!.done();
    await first;
    await until(() => calls.length === 2, 1_000); // then lingers 20 ms at most
    calls[1]!.done();
    await second;
  });

  it('sends a big group beside the insert in flight at once', async () => {
    const { conn, calls } = fakeConnection();
    const w = new ClickHouseTraceWriter(conn, 'db.spans', 100, 2, 0, 1_600, 60_000);
    void w.writeTraces(spans(10, 0));
    await until(() => calls.length === 1);
    void w.writeTraces(spans(20, 1)); // a fifth of maxBatchRows
    await until(() => calls.length === 2, 50);
    for (const c of calls) c.done();
  });

  it('writes a batch marked alone in an insert of its own: nothing joins it and it joins nothing', async () => {
    const { conn, calls } = fakeConnection();
    const w = new ClickHouseTraceWriter(conn, 'db.spans', 1_000, 1, 0, 16_000, 60_000);
    const first = w.writeTraces(spans(10, 0));
    await until(() => calls.length === 1);
    const a = w.writeTraces(spans(10, 1));
    const lone = w.writeTraces(spans(10, 2), { alone: true });
    const b = w.writeTraces(spans(10, 3));
    calls[0]!.done();
    await first;
    for (const [k, p] of [[1, a], [2, lone], [3, b]] as const) {
      await until(() => calls.length === k + 1);
      expect(calls[k]!.bytes).toBe(calls[0]!.bytes);
      calls[k]!.done();
      await p;
    }
  });

  it('sends a batch marked alone beside the insert in flight at once, since it cannot grow', async () => {
    const { conn, calls } = fakeConnection();
    const w = new ClickHouseTraceWriter(conn, 'db.spans', 1_000, 2, 0, 16_000, 60_000);
    void w.writeTraces(spans(10, 0));
    await until(() => calls.length === 1);
    const lone = w.writeTraces(spans(10, 1), { alone: true });
    await until(() => calls.length === 2, 100);
    calls[1]!.done();
    await lone;
    calls[0]!.done();
  });

  it('fails every caller of a failed insert, and goes on with the next group', async () => {
    const { conn, calls } = fakeConnection();
    const w = new ClickHouseTraceWriter(conn, 'db.spans', 1_000, 2, 0, 16_000, 60_000);
    const first = w.writeTraces(spans(10, 0));
    await until(() => calls.length === 1);
    const a = w.writeTraces(spans(10, 1));
    const b = w.writeTraces(spans(10, 2));
    calls[0]!.done();
    await first;
    await until(() => calls.length === 2);
    const c = w.writeTraces(spans(10, 3));
    calls[1]!.fail(new Error('boom'));
    await expect(a).rejects.toThrow('boom');
    await expect(b).rejects.toThrow('boom');
    await until(() => calls.length === 3);
    calls[2]!.done();
    await expect(c).resolves.toBeUndefined();
  });
});
