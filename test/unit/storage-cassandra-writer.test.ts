// The Cassandra writer without a node: a connection stand-in records statements and decides which fail.
import { InvalidArgumentError, SpanKind, newSpan, serviceBatch } from '../../src/storage/api/index.js';
import type { CassandraConnection } from '../../src/storage/cassandra/connection.js';
import { CassandraTraceWriter, MAX_NAME_BYTES } from '../../src/storage/cassandra/writer.js';

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
