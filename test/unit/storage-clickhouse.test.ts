// The ClickHouse backend's pure parts: DDL for one server and for a cluster, the SQL of a search, rows of the
// spans table and back, the plug-in's runtime section and Secrets.
import { checkTraceQuery, newSpan, serviceBatch, SpanKind, StatusCode, type KeyValue } from '../../src/storage/api/index.js';
import { clickhouseRuntimeSection, clickhousePlugin } from '../../src/storage/clickhouse/plugin.js';
import { clickhouseSettings, schemaParams } from '../../src/storage/clickhouse/config.js';
import { asDouble, asInt, whereOf } from '../../src/storage/clickhouse/query.js';
import { RowDecoder } from '../../src/storage/clickhouse/rows.js';
import { RowBinaryWriter, searchTerm, writeAttributes, writeSpanRows } from '../../src/storage/clickhouse/row-binary.js';
import { MIGRATIONS, type SchemaParams, checkIdentifier, createDatabase, dropDatabase, migrationsTable, retentionStatements } from '../../src/storage/clickhouse/schema.js';
import { foreignDatabase } from '../../src/storage/clickhouse/provision.js';
import { ClickHouseConnection, insertSettings, retryable, translate, ClickHouseAuthError } from '../../src/storage/clickhouse/connection.js';
import { dependenciesSql } from '../../src/storage/clickhouse/stores.js';
import { ClickHouseError } from '@clickhouse/client';

const single: SchemaParams = { database: 'jaeger', ttlSeconds: 7 * 86_400 };
const cluster: SchemaParams = { database: 'jaeger', cluster: 'traces', ttlSeconds: 7 * 86_400, partitionBy: 'hour' };
const all = (p: SchemaParams): string[] => [createDatabase(p), ...migrationsTable(p), ...MIGRATIONS.flatMap((m) => m.statements(p))];

describe('clickhouse schema DDL', () => {
  it('renders one server: MergeTree engines, day partitions, TTL with whole parts dropped, no ON CLUSTER', () => {
    const ddl = all(single).join('\n');
    expect(ddl).not.toContain('ON CLUSTER');
    expect(ddl).not.toContain('Replicated');
    expect(ddl).not.toContain('Distributed');
    const spans = all(single).find((s) => s.startsWith('CREATE TABLE IF NOT EXISTS jaeger.spans'))!;
    expect(spans).toContain("PARTITION BY toDate(toDateTime(intDiv(start_ns, 1000000000), 'UTC'))");
    expect(spans).toContain('ORDER BY (service, intDiv(start_ns, 3600000000000), trace_id, start_ns)');
    expect(spans).toContain('INDEX idx_name name TYPE bloom_filter');
    expect(spans).toContain(`TTL toDateTime(intDiv(start_ns, 1000000000), 'UTC') + toIntervalSecond(${7 * 86_400})`);
    expect(spans).toContain('ttl_only_drop_parts = 1');
    expect(spans).toContain('INDEX idx_trace_id trace_id TYPE bloom_filter');
    for (const typed of ['attr_str Map(LowCardinality(String), String)', 'attr_int Map(LowCardinality(String), Int64)', 'attr_dbl Map(LowCardinality(String), Float64)', 'attr_bool Map(LowCardinality(String), Bool)']) expect(spans).toContain(typed);
    // version 3 leaves LowCardinality keys only on the string maps
    const v3 = MIGRATIONS.find((m) => m.version === 3)!.statements(single);
    expect(v3).toHaveLength(2);
    // the part rewrite of a populated table runs in the background, not inside provisioning's timeout
    expect(MIGRATIONS.find((m) => m.version === 3)!.settings).toEqual({ alter_sync: 0, mutations_sync: 0 });
    for (const col of ['attr_int Map(String, Int64)', 'attr_dbl Map(String, Float64)', 'attr_bool Map(String, Bool)', 'attr_other Map(String, String)', 'res_int Map(String, Int64)', 'res_other Map(String, String)']) expect(v3[0]).toContain(`MODIFY COLUMN ${col}`);
    expect(v3[0]).not.toMatch(/_str Map/);
    // and its attribute_keys view unrolls key sets, not every span's keys
    expect(v3[1]).toMatch(/^ALTER TABLE jaeger\.attribute_keys_mv MODIFY QUERY SELECT service, a\.1 AS level, .* FROM \(SELECT service, mapKeys\(attr_str\) AS attr_str, .* FROM jaeger\.spans GROUP BY service, attr_str, /);
    // the trace's end is the latest end, not the latest start
    expect(ddl).toContain('max(e) AS end_ns FROM (SELECT trace_id, start_ns AS s, greatest(end_ns, start_ns) AS e FROM');
    // operations keep span kind and the full name in their key
    expect(ddl).toMatch(/CREATE TABLE IF NOT EXISTS jaeger\.operations[\s\S]*ORDER BY \(service, kind, name\)/);
  });

  it('renders a cluster: ON CLUSTER everywhere, Replicated engines on local tables, Distributed tables under the plain names', () => {
    const stmts = all(cluster);
    for (const s of stmts.filter((x) => !x.startsWith('INSERT'))) expect(s).toContain(' ON CLUSTER traces');
    const spansLocal = stmts.find((s) => s.startsWith('CREATE TABLE IF NOT EXISTS jaeger.spans_local'))!;
    expect(spansLocal).toContain("ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/jaeger/{table}', '{replica}')");
    expect(spansLocal).toContain("PARTITION BY toStartOfHour(toDateTime(intDiv(start_ns, 1000000000), 'UTC'))");
    expect(spansLocal).not.toContain('non_replicated_deduplication_window');
    expect(stmts).toContain('CREATE TABLE IF NOT EXISTS jaeger.spans ON CLUSTER traces AS jaeger.spans_local ENGINE = Distributed(traces, jaeger, spans_local, cityHash64(trace_id))');
    expect(stmts.find((s) => s.startsWith('CREATE TABLE IF NOT EXISTS jaeger.trace_times_local'))).toContain("ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/jaeger/{table}', '{replica}')");
    expect(stmts.find((s) => s.startsWith('CREATE TABLE IF NOT EXISTS jaeger.operations_local'))).toContain("ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/jaeger/{table}', '{replica}', last_seen)");
    // materialized views read and write the local tables of each node
    const mv = stmts.find((s) => s.startsWith('CREATE MATERIALIZED VIEW IF NOT EXISTS jaeger.trace_times_mv'))!;
    expect(mv).toContain('TO jaeger.trace_times_local');
    expect(mv).toContain('FROM jaeger.spans_local');
    // a column change goes to the local tables and to the Distributed table over them
    expect(MIGRATIONS.find((m) => m.version === 3)!.statements(cluster).map((x) => x.slice(0, x.indexOf(' MODIFY')))).toEqual(['ALTER TABLE jaeger.spans_local ON CLUSTER traces', 'ALTER TABLE jaeger.spans ON CLUSTER traces', 'ALTER TABLE jaeger.attribute_keys_mv ON CLUSTER traces']);
    // the keys of the spans stored before version 2 come from every shard, through the Distributed tables
    const backfill = MIGRATIONS.find((m) => m.version === 2)!.statements(cluster).find((x) => x.startsWith('INSERT'))!;
    expect(backfill).toMatch(/^INSERT INTO jaeger\.attribute_keys SELECT .* FROM jaeger\.spans ARRAY JOIN/);
    expect(dropDatabase(cluster)).toBe('DROP DATABASE IF EXISTS jaeger ON CLUSTER traces SYNC');
    expect(retentionStatements(cluster).find((r) => r.table === 'spans')?.sql).toBe(
      `ALTER TABLE jaeger.spans_local ON CLUSTER traces MODIFY TTL toDateTime(intDiv(start_ns, 1000000000), 'UTC') + toIntervalSecond(${7 * 86_400})`,
    );
  });

  it('acknowledges an insert on a cluster only once the shards wrote it to a majority of their replicas', () => {
    expect(insertSettings({ cluster: 'traces' }, false)).toEqual({ deduplicate_blocks_in_dependent_materialized_views: 1, distributed_foreground_insert: 1, insert_quorum: 'auto' });
    expect(insertSettings({ cluster: 'traces', asyncInsert: true }, true)).toEqual({ async_insert: 1, wait_for_async_insert: 1, distributed_foreground_insert: 1, insert_quorum: 'auto' });
    expect(insertSettings({}, false)).toEqual({ deduplicate_blocks_in_dependent_materialized_views: 1 });
  });

  it('renders no TTL for a retention of forever, and REMOVE TTL to get there', () => {
    const forever = { ...single, ttlSeconds: 0 };
    expect(all(forever).join('\n')).not.toMatch(/\bTTL toDateTime\(intDiv\(start_ns/);
    expect(retentionStatements(forever)[0]?.sql).toBe('ALTER TABLE jaeger.spans REMOVE TTL');
  });

  it('numbers migrations from 1 without gaps', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
  });

  it('refuses identifiers that would not be one name in DDL', () => {
    expect(() => checkIdentifier('database', 'a; DROP TABLE x')).toThrow(/database: "a; DROP TABLE x" is not a ClickHouse identifier/);
    expect(() => schemaParams({ endpoints: ['http://x'], database: 'ok', cluster: 'bad-name' })).toThrow(/cluster:/);
    expect(schemaParams({ endpoints: ['http://x'], database: 'ok', retention: '2d' }).ttlSeconds).toBe(172_800);
  });

  it('adopts an empty or own database and refuses one with tables of something else', () => {
    expect(foreignDatabase(single, [])).toBeUndefined();
    expect(foreignDatabase(single, ['spans', 'schema_migrations', 'trace_times_mv'])).toBeUndefined();
    expect(foreignDatabase(single, ['schema_migrations', 'my_extra_view'])).toBeUndefined();
    expect(foreignDatabase(single, ['invoices', 'customers'])).toMatch(/holds tables of something else \(invoices, customers\)/);
  });
});

describe('clickhouse search SQL', () => {
  const where = (attributes: Record<string, string | bigint | number | boolean>, extra = {}) => whereOf(checkTraceQuery({ searchDepth: 10, serviceName: 'svc', attributes, ...extra }));

  it('binds every value as a parameter', () => {
    const w = where({ "k' OR 1=1 --": "v' OR 1=1 --" }, { operationName: "op'", startTimeMin: 5n, durationMax: 9n });
    expect(w.sql).not.toContain("OR 1=1");
    expect(Object.values(w.params)).toEqual(expect.arrayContaining(['svc', "op'", 5n, 9n, "k' OR 1=1 --", "v' OR 1=1 --"]));
  });

  it('maps error, span.kind and span.status to columns; unknown values match nothing', () => {
    expect(where({ error: true }).sql).toContain('status_code = 2');
    expect(where({ error: false }).sql).toContain('status_code != 2');
    expect(where({ error: 'maybe' }).sql).toMatch(/ AND 0$/);
    expect(where({ 'span.kind': 'SPAN_KIND_CONSUMER' }).sql).toContain('kind = 5');
    // as the memory backend compares kinds: the unspecified kind is '', not 'unspecified'
    expect(where({ 'span.kind': 'unspecified' }).sql).toMatch(/ AND 0$/);
    expect(where({ 'span.kind': '' }).sql).toContain('kind = 0');
    expect(where({ 'span.kind': 'sideways' }).sql).toMatch(/ AND 0$/);
    expect(where({ 'span.status': 'STATUS_CODE_OK' }).sql).toContain('status_code = 1');
  });

  it('compares a value in the typed columns it can be stored in', () => {
    expect(asInt('7')).toBe(7n);
    expect(asInt('07')).toBeUndefined();
    expect(asInt('9223372036854775808')).toBeUndefined();
    expect(asDouble('2.5')).toBe(2.5);
    expect(asDouble('2.50')).toBeUndefined();
    expect(asDouble('abc')).toBeUndefined();
    const s = where({ weight: '2.5' }).sql;
    expect(s).toContain('attr_dbl');
    expect(s).not.toContain('attr_int[');
    const b = where({ flagged: true }).sql;
    expect(b).toContain('attr_bool[');
    expect(where({ 'resource.host.name': 'h1' }).sql).not.toContain('attr_str');
    // a value other than the type's default needs no key check (a missing key reads as the default)
    expect(where({ weight: '2.5' }).sql).not.toContain('mapContains(attr_dbl');
    expect(where({ weight: '0' }).sql).toContain('mapContains(attr_dbl');
    expect(where({ weight: '0' }).sql).toContain('mapContains(attr_int');
    expect(where({ name: 'x' }).sql).not.toContain('mapContains');
    expect(where({ name: '' }).sql).toContain('mapContains(attr_str');
    expect(where({ flagged: 'false' }).sql).toContain('mapContains(attr_bool');
  });
});

describe('clickhouse search SQL with the stored kinds of the keys', () => {
  const where = (attributes: Record<string, string | bigint | number | boolean>, extra = {}) => whereOf(checkTraceQuery({ searchDepth: 10, attributes, ...extra }), 'db.attribute_keys');

  it('reads the stored levels and types of the keys searched, for the service searched', () => {
    const w = where({ 'user.id': '7', 'resource.host.name': 'h1', error: true }, { serviceName: 'svc' });
    expect(w.with).toMatch(/^\(SELECT groupUniqArray\(\(key, level, type\)\) FROM db\.attribute_keys WHERE key IN \{p\d+:Array\(String\)\} AND service = \{p0:String\}\) AS stored_keys$/);
    // the keys as attribute_keys holds them: resource keys without their prefix, special keys not at all
    expect(Object.values(w.params)).toContainEqual(['user.id', 'host.name']);
    // each typed comparison only where that key was stored at that level (1 span, 2 resource) with that type
    expect(w.sql).toMatch(/if\(has\(stored_keys, \(\{p\d+:String\}, 1, 1\)\), attr_str\[/);
    expect(w.sql).toMatch(/if\(has\(stored_keys, \(\{p\d+:String\}, 1, 2\)\), attr_int\[/);
    expect(w.sql).toMatch(/if\(has\(stored_keys, \(\{p\d+:String\}, 2, 1\)\), res_str\[/);
    // the search terms (scope, events, links, values of other types) are always compared
    expect(w.sql).toContain('hasAny(search_terms');
  });

  it('reads the keys of every service when no service is searched, and nothing without attribute keys', () => {
    expect(where({ 'user.id': 'u' }).with).not.toContain('service =');
    expect(where({ error: true, 'span.kind': 'server' }, { serviceName: 'svc' }).with).toBeUndefined();
    expect(where({}, { serviceName: 'svc' }).with).toBeUndefined();
  });
});

describe('clickhouse rows', () => {
  it('writes typed maps, the order of the types and the strings a search compares', () => {
    const attributes: KeyValue[] = [
      { key: 'b', value: true },
      { key: 's', value: 'x' },
      { key: 'i', value: -42n },
      { key: 'd', value: 2.5 },
      { key: 'nan', value: Number.NaN },
      { key: 'bytes', value: new Uint8Array([1, 2, 3]) },
      { key: 'arr', value: { array: ['a', 1n] } },
      { key: 'kv', value: { kvlist: [{ key: 'z', value: 'q' }] } },
      { key: 'empty', value: null },
      { key: 's', value: 'duplicate key' },
    ];
    const w = new RowBinaryWriter(4);
    const search: string[] = [];
    writeAttributes(w, attributes, 's', search);
    const b = w.view();
    let at = 0;
    const varint = (): number => {
      let n = 0;
      for (let shift = 0; ; shift += 7) {
        const byte = b[at++]!;
        n += (byte & 0x7f) * 2 ** shift;
        if (byte < 0x80) return n;
      }
    };
    const str = (): string => {
      const n = varint();
      const out = b.toString('utf8', at, at + n);
      at += n;
      return out;
    };
    const map = (value: () => unknown): [string, unknown][] => Array.from({ length: varint() }, () => [str(), value()]);
    expect(map(str)).toEqual([['s', 'x'], ['s', 'duplicate key']]);
    expect(map(() => ((at += 8), b.readBigInt64LE(at - 8)))).toEqual([['i', -42n]]);
    expect(map(() => ((at += 8), b.readDoubleLE(at - 8)))).toEqual([['d', 2.5]]);
    expect(map(() => b[at++] === 1)).toEqual([['b', true]]);
    expect(map(str).map(([k]) => k)).toEqual(['nan', 'bytes', 'arr', 'kv', 'empty']);
    expect(str()).toBe('bsidooooos');
    expect(at).toBe(b.length);
    expect(search).toEqual(['s3:nanNaN', 's5:bytesAQID', 's3:arr["a",1]', 's2:kv{"z":"q"}', 's5:empty']);
    // the key's length keeps terms apart that a plain concatenation would mix up
    expect(searchTerm('e', 'a:b', 'c')).not.toBe(searchTerm('e', 'a', 'b:c'));
  });

  it('writes strings of any length and script with the right length prefix, and int64 times as signed', () => {
    const w = new RowBinaryWriter(1);
    for (const s of ['', 'é', '€'.repeat(42), '€'.repeat(43), 'x'.repeat(200), '𝄞'.repeat(30)]) {
      w.str(s);
    }
    w.i64(2n ** 64n - 1n);
    const b = w.view();
    let at = 0;
    const got: string[] = [];
    for (let k = 0; k < 6; k++) {
      let n = 0;
      for (let shift = 0; ; shift += 7) {
        const byte = b[at++]!;
        n += (byte & 0x7f) * 2 ** shift;
        if (byte < 0x80) break;
      }
      got.push(b.toString('utf8', at, at + n));
      at += n;
    }
    expect(got).toEqual(['', 'é', '€'.repeat(42), '€'.repeat(43), 'x'.repeat(200), '𝄞'.repeat(30)]);
    expect(b.readBigInt64LE(at)).toBe(-1n);
  });

  it('writes a batch as one row per span, the resource and scope columns with each', () => {
    const spans = [0, 1, 2].map((i) => newSpan({ traceId: 'ab'.repeat(16), spanId: `${i + 1}`.padStart(16, '0'), name: 'op', kind: SpanKind.Server, startTimeUnixNano: 1n, endTimeUnixNano: 2n, status: { code: StatusCode.Error, message: '' } }));
    const w = new RowBinaryWriter();
    expect(writeSpanRows(w, [serviceBatch('svc', spans, { name: 'lib', attributes: [{ key: 'owner', value: 'team' }] })])).toBe(3);
    const text = w.view().toString('latin1');
    // the service column and the service.name value of res_str
    expect(text.split('svc').length - 1).toBe(6);
    expect(text.split('c5:ownerteam').length - 1).toBe(3);
  });

  it('reads rows as the server returns them (maps as key and value arrays) into shared resources and scopes', () => {
    const cell = (keys: string[], values: unknown[]) => [keys, values];
    const level = (str: [string[], unknown[]], order = '') => [...cell(...str), [], [], [], [], [], [], [], [], order];
    const row = (spanId: string) => [
      'ab'.repeat(16), spanId, '', '', 0, 'op', 2, '10', '20', 0, '', 0, 0, 0,
      ...level([['k'], ['v']]),
      '', '',
      ...level([['service.name'], ['svc']]),
      0, '', 'scope', '1', '', 0, '',
    ];
    const d = new RowDecoder();
    const a = d.view(row('0000000000000001') as never);
    const b = d.view(row('0000000000000002') as never);
    expect(a.resource).toBe(b.resource);
    expect(a.scope).toBe(b.scope);
    expect(a.service).toBe('svc');
    expect(a.span.attributes).toEqual([{ key: 'k', value: 'v' }]);
    expect(a.span.startTimeUnixNano).toBe(10n);
  });
});

describe('clickhouse plug-in', () => {
  const spec = { endpoints: ['https://ch.example:8443'], credentialsSecretRef: { name: 'ch-creds' }, tls: { enabled: true, caSecretRef: { name: 'ch-ca' } }, database: 'traces', cluster: 'main' };

  it('passes the spec to the runtime with Secrets by reference only', () => {
    const section = clickhouseRuntimeSection(spec);
    expect(section).toEqual({ endpoints: ['https://ch.example:8443'], credentialsSecretRef: { name: 'ch-creds' }, tls: { enabled: true, caSecretRef: { name: 'ch-ca' } }, database: 'traces', cluster: 'main' });
    expect(clickhousePlugin.secretReferences(spec)).toEqual([
      { field: 'spec.backend.clickhouse.credentialsSecretRef', name: 'ch-creds', keys: ['username', 'password'], env: [{ name: 'JSO_BACKEND_USERNAME', key: 'username' }, { name: 'JSO_BACKEND_PASSWORD', key: 'password' }] },
      { field: 'spec.backend.clickhouse.tls.caSecretRef', name: 'ch-ca', keys: ['ca.crt'], mountPath: '/etc/jaeger-storage/backend-ca' },
    ]);
    expect(clickhouseSettings(section, '3d', { username: 'u', password: 'p', ca: 'PEM' })).toMatchObject({ username: 'u', password: 'p', tls: { ca: 'PEM', rejectUnauthorized: true }, retention: '3d', database: 'traces', cluster: 'main' });
  });

  it('refuses to send credentials over http:// unless the spec allows it', () => {
    const plain = { endpoints: ['http://ch:8123'], credentialsSecretRef: { name: 'c' } };
    expect(clickhousePlugin.secretPolicy?.(plain)).toMatchObject({ reason: 'InsecureCredentials' });
    expect(clickhousePlugin.secretPolicy?.({ ...plain, allowPlaintextCredentials: true })).toBeUndefined();
  });

  it('keys the data by servers and database', () => {
    expect(clickhousePlugin.dataKey?.({ endpoints: ['HTTP://A:8123/'] })).toBe(clickhousePlugin.dataKey?.({ endpoints: ['http://a:8123'], database: 'jaeger' }));
    expect(clickhousePlugin.dataKey?.({ endpoints: ['http://a:8123'], database: 'other' })).not.toBe(clickhousePlugin.dataKey?.({ endpoints: ['http://a:8123'] }));
  });
});

describe('clickhouse errors and dependencies SQL', () => {
  it('translates ClickHouse errors into storage errors', () => {
    const err = (code: string, type: string) => new ClickHouseError({ message: 'x', code, type });
    expect(translate(err('516', 'AUTHENTICATION_FAILED'))).toBeInstanceOf(ClickHouseAuthError);
    expect(translate(err('62', 'SYNTAX_ERROR'))).toMatchObject({ code: 'InvalidArgument' });
    expect(translate(err('252', 'TOO_MANY_PARTS'))).toMatchObject({ code: 'Unavailable' });
    expect(retryable(err('252', 'TOO_MANY_PARTS'))).toBe(true);
    expect(retryable(err('62', 'SYNTAX_ERROR'))).toBe(false);
    expect(retryable(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }))).toBe(true);
    // a readonly user or a missing grant: not overload, not retried, and the message says what to change
    for (const [code, type] of [['164', 'READONLY'], ['497', 'ACCESS_DENIED']] as const) {
      expect(retryable(err(code, type))).toBe(false);
      expect(translate(err(code, type))).toMatchObject({ code: 'Unavailable', message: expect.stringMatching(/grant the privileges/) });
    }
  });

  it('stops waiting to retry once the caller gives up', async () => {
    // nothing listens on port 1 of loopback: every try is refused at once, and the pauses between tries are 200,
    // 400, 800, 1,600 ms: the fourth try fails at about 1.4 s and the fifth would start at about 3 s
    const conn = new ClickHouseConnection({ endpoints: ['http://127.0.0.1:1'], database: 'x', maxTries: 10 });
    const gaveUp = new Error('the caller gave up');
    const ac = new AbortController();
    setTimeout(() => ac.abort(gaveUp), 1_500);
    const t0 = performance.now();
    await expect(conn.rows('SELECT 1', {}, ac.signal)).rejects.toBe(gaveUp);
    // given up in the pause after the fourth try, not at the end of it
    expect(performance.now() - t0).toBeLessThan(2_400);
    await conn.close();
  });

  it('joins each span with its parent in the same trace, services apart', () => {
    const sql = dependenciesSql('jaeger');
    expect(sql).toContain('ON c.trace_id = p.trace_id AND c.parent_span_id = p.span_id');
    expect(sql).toContain('p.service != c.service');
    expect(sql).toContain('HAVING min(start_ns) >= {start:Int64}');
  });
});
