// The Cassandra writer without a node: a connection stand-in records statements and decides which fail.
import { InvalidArgumentError, SpanKind, newSpan, serviceBatch } from '../../src/storage/api/index.js';
import type { CassandraConnection } from '../../src/storage/cassandra/connection.js';
import { CassandraTraceWriter, MAX_BATCH_ROWS, MAX_NAME_BYTES } from '../../src/storage/cassandra/writer.js';

interface Fake {
  conn: CassandraConnection;
  statements: string[];
}

/** a connection whose service-name INSERT fails once, after `delayMs` */
function fakeConnection(failServiceOnce: boolean, delayMs = 20): Fake {
  const statements: string[] = [];
  let failed = false;
  const exec = async (cql: string): Promise<unknown> => {
    statements.push(cql);
    if (cql.startsWith('INSERT INTO ks.services') && failServiceOnce && !failed) {
      failed = true;
      await new Promise((r) => setTimeout(r, delayMs));
      throw new Error('services write failed');
    }
    return { rows: [] };
  };
  return { conn: { ttlSeconds: 3600, exec } as unknown as CassandraConnection, statements };
}

const batch = (spanId: string) => [serviceBatch('svc', [newSpan({ traceId: 'ab'.repeat(16), spanId, name: 'op', kind: SpanKind.Server, startTimeUnixNano: 1_000n, endTimeUnixNano: 2_000n })])];

describe('cassandra writer name rows', () => {
  it('acknowledges a batch only once the name rows it relies on are stored, even when another batch writes them', async () => {
    const { conn } = fakeConnection(true);
    const w = new CassandraTraceWriter(conn);
    const a = w.writeTraces(batch('01'.repeat(8)));
    const b = w.writeTraces(batch('02'.repeat(8)));
    const [ra, rb] = await Promise.allSettled([a, b]);
    expect(ra.status).toBe('rejected');
    expect(rb.status).toBe('rejected');
  });

  it('writes a name row again after its write failed, and not again after it succeeded', async () => {
    const { conn, statements } = fakeConnection(true);
    const w = new CassandraTraceWriter(conn);
    await expect(w.writeTraces(batch('01'.repeat(8)))).rejects.toThrow('services write failed');
    await w.writeTraces(batch('01'.repeat(8)));
    await w.writeTraces(batch('02'.repeat(8)));
    expect(statements.filter((s) => s.startsWith('INSERT INTO ks.services'))).toHaveLength(2);
  });
});

describe('cassandra writer name lengths', () => {
  const refused = async (w: CassandraTraceWriter, b: ReturnType<typeof batch>, tenant?: string): Promise<InvalidArgumentError> => {
    try {
      await w.writeTraces(b, tenant !== undefined ? { tenant } : undefined);
    } catch (e) {
      if (e instanceof InvalidArgumentError) return e;
      throw e;
    }
    throw new Error('the batch was accepted');
  };

  it('refuses a service, span or tenant name too long for a key before writing anything, naming the field', async () => {
    const { conn, statements } = fakeConnection(false);
    const w = new CassandraTraceWriter(conn);
    // 3-byte characters: the UTF-8 length counts, not the UTF-16 one
    const long = '\u20ac'.repeat(MAX_NAME_BYTES / 3 + 1);
    const b1 = batch('01'.repeat(8));
    b1.push(serviceBatch(long, [newSpan({ traceId: 'ab'.repeat(16), spanId: '03'.repeat(8), name: 'op' })]));
    expect((await refused(w, b1)).field).toBe('resourceSpans[1].resource.attributes[service.name]');
    const b2 = batch('01'.repeat(8));
    b2[0]!.scopeSpans[0]!.spans[0]!.name = long;
    expect((await refused(w, b2)).field).toBe('resourceSpans[0].scopeSpans[0].spans[0].name');
    expect((await refused(w, batch('01'.repeat(8)), long)).field).toBe('tenant');
    expect(statements).toEqual([]);
    await w.writeTraces(batch('01'.repeat(8)).map((rs) => ({ ...rs, resource: { ...rs.resource, attributes: [{ key: 'service.name', value: 'x'.repeat(MAX_NAME_BYTES) }] } })));
    expect(statements.length).toBeGreaterThan(0);
  });
});

describe('cassandra writer requests', () => {
  /** leading parameters of each statement that are its partition key (tenant first) */
  const PARTITION: [string, number][] = [
    ['INSERT INTO ks.spans ', 2],
    ['INSERT INTO ks.services ', 1],
    ['INSERT INTO ks.operations ', 2],
    ['INSERT INTO ks.span_by_service ', 3],
    ['INSERT INTO ks.span_by_operation ', 4],
    ['INSERT INTO ks.span_by_duration_class ', 5],
    ['INSERT INTO ks.span_by_attribute ', 5],
    ['INSERT INTO ks.traces_by_hour ', 3],
  ];
  const keyOf = (cql: string, params: unknown[]): string => {
    const n = PARTITION.find(([p]) => cql.startsWith(p))?.[1];
    if (n === undefined) throw new Error(`unexpected statement ${cql}`);
    return JSON.stringify(params.slice(0, n), (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : Buffer.isBuffer(v) ? v.toString('hex') : v));
  };

  /** a connection that records every request: a plain statement is a batch of one row */
  function recording(): { conn: CassandraConnection; requests: { cql: string; rows: unknown[][] }[] } {
    const requests: { cql: string; rows: unknown[][] }[] = [];
    const exec = async (cql: string, params: unknown[]) => void requests.push({ cql, rows: [params] });
    const batch = async (cql: string, rows: unknown[][]) => void requests.push({ cql, rows: [...rows] });
    return { conn: { ttlSeconds: 3600, exec, batch } as unknown as CassandraConnection, requests };
  }

  const trace = (t: number, spans: number, service: string) =>
    serviceBatch(
      service,
      Array.from({ length: spans }, (_, j) =>
        newSpan({ traceId: t.toString(16).padStart(32, '0'), spanId: (j + 1).toString(16).padStart(16, '0'), name: `op-${j % 3}`, kind: SpanKind.Server, startTimeUnixNano: 1_000n + BigInt(j), endTimeUnixNano: 5_000n, attributes: [{ key: 'k', value: `v${j % 2}` }] }),
      ),
    );

  it('writes the rows of one partition together and never rows of two partitions in one request', async () => {
    const { conn, requests } = recording();
    await new CassandraTraceWriter(conn).writeTraces([trace(1, 30, 'a'), trace(2, 30, 'b'), trace(3, 10, 'a')]);
    for (const r of requests) expect(new Set(r.rows.map((p) => keyOf(r.cql, p))).size).toBe(1);
    // each partition in one request (none reaches the row limit here), so far fewer requests than rows
    expect(new Set(requests.map((r) => `${r.cql} ${keyOf(r.cql, r.rows[0]!)}`)).size).toBe(requests.length);
    expect(requests.filter((r) => r.cql.startsWith('INSERT INTO ks.spans ')).flatMap((r) => r.rows)).toHaveLength(70);
    expect(requests.reduce((n, r) => n + r.rows.length, 0)).toBeGreaterThan(requests.length * 5);
    // the spans of a trace: one request per trace
    expect(requests.filter((r) => r.cql.startsWith('INSERT INTO ks.spans '))).toHaveLength(3);
  });

  it('splits a large partition into batches of at most MAX_BATCH_ROWS rows', async () => {
    const { conn, requests } = recording();
    const n = MAX_BATCH_ROWS * 2 + 7;
    await new CassandraTraceWriter(conn).writeTraces([trace(1, n, 'a')]);
    const spans = requests.filter((r) => r.cql.startsWith('INSERT INTO ks.spans ')).map((r) => r.rows.length);
    expect(spans.sort((x, y) => y - x)).toEqual([MAX_BATCH_ROWS, MAX_BATCH_ROWS, 7]);
  });

  it('fails the batch when one of its grouped writes fails, and writes its name rows again next time', async () => {
    const { conn, requests } = recording();
    let fail = true;
    // the trace-hour rows of the two traces are in two shards: each goes alone (exec) or grouped (batch)
    const okBatch = conn.batch.bind(conn);
    const okExec = conn.exec.bind(conn);
    conn.batch = (async (cql: string, rows: unknown[][]) => {
      if (fail && cql.startsWith('INSERT INTO ks.traces_by_hour ')) throw new Error('trace hours write failed');
      return okBatch(cql, rows);
    }) as typeof conn.batch;
    conn.exec = (async (cql: string, params: unknown[], o?: Parameters<typeof conn.exec>[2]) => {
      if (fail && cql.startsWith('INSERT INTO ks.traces_by_hour ')) throw new Error('trace hours write failed');
      return okExec(cql, params, o);
    }) as typeof conn.exec;
    const w = new CassandraTraceWriter(conn);
    const b = [trace(1, 2, 'a'), trace(2, 2, 'a')];
    await expect(w.writeTraces(b)).rejects.toThrow('trace hours write failed');
    fail = false;
    requests.length = 0;
    await w.writeTraces(b);
    expect(requests.filter((r) => r.cql.startsWith('INSERT INTO ks.traces_by_hour ')).flatMap((r) => r.rows)).toHaveLength(2);
    requests.length = 0;
    await w.writeTraces(b);
    expect(requests.filter((r) => r.cql.startsWith('INSERT INTO ks.traces_by_hour '))).toHaveLength(0);
  });
});
