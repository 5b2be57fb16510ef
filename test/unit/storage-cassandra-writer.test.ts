// The Cassandra writer without a node: a connection stand-in records statements and decides which fail.
import { SpanKind, newSpan, serviceBatch } from '../../src/storage/api/index.js';
import type { CassandraConnection } from '../../src/storage/cassandra/connection.js';
import { CassandraTraceWriter } from '../../src/storage/cassandra/writer.js';

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
