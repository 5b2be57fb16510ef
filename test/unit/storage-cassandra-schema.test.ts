// The Cassandra store's schema text and row decoding, without a node: migrations in order with a table per query,
// TTL and compaction windows from the retention, keyspace statements, and the sharing of decoded resources and
// scopes among a trace's rows.
import { SpanKind, newSpan, serviceBatch } from '../../src/storage/api/index.js';
import { originKeys, rowViews } from '../../src/storage/cassandra/reader.js';
import { DATA_TABLES, DAY_NS, MIGRATIONS, bucketOf, checkAdoptable, checkKeyspace, compactionWindowHours, createKeyspace, retentionStatements } from '../../src/storage/cassandra/schema.js';
import { encodeTracesProto } from '../../src/otlp/otlp-proto.js';

describe('cassandra schema', () => {
  it('numbers migrations in increasing order', () => {
    const v = MIGRATIONS.map((m) => m.version);
    expect(v).toEqual([...v].sort((a, b) => a - b));
    expect(new Set(v).size).toBe(v.length);
  });

  it('names the query each table serves, and creates every table purge empties', () => {
    const ddl = MIGRATIONS.flatMap((m) => m.statements({ ttlSeconds: 86_400 }));
    for (const t of DATA_TABLES) {
      const create = ddl.find((s) => s.startsWith(`CREATE TABLE IF NOT EXISTS ${t} (`));
      expect({ t, comment: /comment = '[^']+'/.test(create ?? '') }).toEqual({ t, comment: true });
    }
  });

  it('derives TTL and TWCS windows from the retention', () => {
    expect(compactionWindowHours(7 * 86_400)).toBe(6);
    expect(compactionWindowHours(3600)).toBe(1);
    expect(compactionWindowHours(0)).toBe(24);
    const alter = retentionStatements({ ttlSeconds: 2 * 86_400 });
    expect(alter).toContain("ALTER TABLE spans WITH compaction = {'class': 'TimeWindowCompactionStrategy', 'compaction_window_unit': 'HOURS', 'compaction_window_size': 2} AND default_time_to_live = 172800 AND gc_grace_seconds = 10800");
    expect(alter).toContain('ALTER TABLE services WITH default_time_to_live = 172800');
  });

  it('creates the keyspace with SimpleStrategy or NetworkTopologyStrategy', () => {
    expect(createKeyspace('jaeger', { class: 'SimpleStrategy', replicationFactor: 3 })).toBe("CREATE KEYSPACE IF NOT EXISTS jaeger WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}");
    expect(createKeyspace('jaeger', { class: 'NetworkTopologyStrategy', dataCenters: { dc1: 3, dc2: 2 } })).toBe("CREATE KEYSPACE IF NOT EXISTS jaeger WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 2}");
    expect(() => checkKeyspace('Jaeger-Traces')).toThrow(/keyspace "Jaeger-Traces"/);
  });

  it('refuses system keyspaces and reserved words as keyspace names', () => {
    for (const k of ['system', 'system_auth', 'system_schema', 'system_traces', 'systemx', 'select', 'keyspace', 'table', 'token']) {
      expect(() => checkKeyspace(k)).toThrow(new RegExp(`keyspace "${k}"`));
    }
    expect(checkKeyspace('jaeger_traces')).toBe('jaeger_traces');
  });

  it('adopts an empty keyspace or one with our schema_migrations, and refuses one holding other tables', () => {
    expect(() => checkAdoptable('jaeger', [])).not.toThrow();
    expect(() => checkAdoptable('jaeger', ['schema_migrations', 'spans'])).not.toThrow();
    expect(() => checkAdoptable('jaeger', ['users', 'orders'])).toThrow(/keyspace "jaeger": holds tables not made by this store \(users, orders\)/);
  });

  it('buckets negative times downwards', () => {
    expect(bucketOf(0n, DAY_NS)).toBe(0);
    expect(bucketOf(-1n, DAY_NS)).toBe(-1);
    expect(bucketOf(DAY_NS, DAY_NS)).toBe(1);
  });
});

describe('cassandra rows', () => {
  const row = (service: string, scope: string, spanId: string) => {
    const rs = serviceBatch(service, [newSpan({ traceId: 'ab'.repeat(16), spanId, name: 'op', kind: SpanKind.Server, startTimeUnixNano: 1n, endTimeUnixNano: 2n })], { name: scope });
    return encodeTracesProto([rs]);
  };

  it('keys a row by its resource and its scope, not by its span', () => {
    expect(originKeys(row('a', 's', '0000000000000001'))).toEqual(originKeys(row('a', 's', '0000000000000002')));
    expect(originKeys(row('a', 's', '0000000000000001')).resource).toEqual(originKeys(row('a', 't', '0000000000000002')).resource);
    expect(originKeys(row('a', 's', '0000000000000001')).scope).not.toEqual(originKeys(row('a', 't', '0000000000000002')).scope);
    expect(originKeys(row('a', 's', '0000000000000001')).resource).not.toEqual(originKeys(row('b', 's', '0000000000000001')).resource);
  });

  it('shares one resource and scope object among the rows that came with them, grouped together', () => {
    const views = rowViews([row('a', 's', '0000000000000001'), row('b', 's', '0000000000000002'), row('a', 's', '0000000000000003'), row('a', 't', '0000000000000004')]);
    expect(views.map((v) => v.span.spanId)).toEqual(['0000000000000001', '0000000000000003', '0000000000000004', '0000000000000002']);
    expect(views[0]!.resource).toBe(views[1]!.resource);
    expect(views[0]!.scope).toBe(views[1]!.scope);
    expect(views[2]!.resource).toBe(views[0]!.resource);
    expect(views[2]!.scope).not.toBe(views[0]!.scope);
    expect(views.map((v) => v.service)).toEqual(['a', 'a', 'a', 'b']);
  });
});
