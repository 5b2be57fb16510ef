// The ClickHouse test server itself (test/env/clickhouse.ts, test/env/clickhouse-front.ts): @clickhouse/client talks to
// it over HTTP as to a ClickHouse server, and what it asks runs on the ClickHouse engine: DDL of the table engines the
// storage uses, inserts, parameters, formats, per-query settings, errors with ClickHouse's codes, credentials,
// compression, concurrent requests, and data that outlives a stop, a kill -9 and the death of the starting process.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { type ClickHouseClient, ClickHouseError, createClient } from '@clickhouse/client';
import { REPO_ROOT } from '../../src/local/controlplane.js';
import { type ClickHouseServer, startClickHouse } from '../env/clickhouse.js';
import { startJaeger } from '../env/jaeger.js';
import { sleep } from '../env/server-process.js';
import { testPki } from '../helpers.js';

const USER = 'jaeger';
const PASSWORD = 'ch-test-password';

let server: ClickHouseServer | undefined;
const clients: ClickHouseClient[] = [];

function client(o: Parameters<typeof createClient>[0] = {}): ClickHouseClient {
  const c = createClient({ url: server!.url, username: USER, password: PASSWORD, request_timeout: 60_000, ...o });
  clients.push(c);
  return c;
}

/** the error a promise rejects with (fails the test when it resolves) */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

async function count(c: ClickHouseClient, table: string): Promise<number> {
  const rows = await (await c.query({ query: `SELECT count() AS n FROM ${table}`, format: 'JSONEachRow' })).json<{ n: number | string }>();
  return Number(rows[0]!.n);
}

/** the process exists and is not a zombie */
function alive(pid: number): boolean {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

beforeAll(async () => {
  server = await startClickHouse({ user: USER, password: PASSWORD });
}, 120_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await server?.stop();
}, 60_000);

describe('ClickHouse test server', () => {
  it('answers ping, GET / and a GET query with the headers of a ClickHouse server', async () => {
    expect(await client().ping()).toEqual({ success: true });
    expect(await (await fetch(`${server!.url}/`)).text()).toBe('Ok.\n');
    expect(await (await fetch(`${server!.url}/ping`)).text()).toBe('Ok.\n');

    const auth = { Authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}` };
    const res = await fetch(`${server!.url}/?query=${encodeURIComponent('SELECT 1 AS a, version() AS v')}&default_format=JSONCompactEachRow&query_id=my-query`, { headers: auth });
    expect(res.status).toBe(200);
    const [a, v] = JSON.parse(await res.text()) as [number, string];
    expect(a).toBe(1);
    expect(v).toMatch(/^26\.7\./);
    expect(res.headers.get('x-clickhouse-query-id')).toBe('my-query');
    expect(res.headers.get('x-clickhouse-format')).toBe('JSONCompactEachRow');
    expect(res.headers.get('x-clickhouse-timezone')).toBe('UTC');
    expect(res.headers.get('x-clickhouse-server-display-name')).toBeTruthy();
    const summary = JSON.parse(res.headers.get('x-clickhouse-summary')!) as Record<string, string>;
    expect(Object.keys(summary).sort()).toEqual(['elapsed_ns', 'read_bytes', 'read_rows', 'result_bytes', 'result_rows', 'total_rows_to_read', 'written_bytes', 'written_rows']);
    expect(Object.values(summary).every((x) => typeof x === 'string' && /^\d+$/.test(x))).toBe(true);

    // TabSeparated without a FORMAT clause, and the content type of the format
    const tsv = await fetch(`${server!.url}/`, { method: 'POST', headers: auth, body: "SELECT 'a', 2" });
    expect(await tsv.text()).toBe('a\t2\n');
    expect(tsv.headers.get('content-type')).toBe('text/tab-separated-values; charset=UTF-8');
    // the URL's query, a newline, then the body
    const split = await fetch(`${server!.url}/?query=${encodeURIComponent('SELECT')}`, { method: 'POST', headers: auth, body: '40 + 2 FORMAT CSV' });
    expect(await split.text()).toBe('42\n');
    expect(split.headers.get('content-type')).toBe('text/csv; charset=UTF-8; header=absent');
  });

  it('runs DDL, a 20,000-row JSONEachRow insert and counts it; reports the written rows', async () => {
    const c = client();
    await c.command({ query: 'CREATE TABLE spans (trace_id String, ts DateTime64(9), duration Int64, tags Array(String)) ENGINE = MergeTree ORDER BY (trace_id, ts)' });
    const rows = Array.from({ length: 20_000 }, (_, i) => ({ trace_id: `t${i % 500}`, ts: `2026-01-01 00:00:${String(i % 60).padStart(2, '0')}.123456789`, duration: i * 1000, tags: [`k${i % 7}`] }));
    const r = await c.insert({ table: 'spans', values: rows, format: 'JSONEachRow' });
    expect(r.executed).toBe(true);
    expect(r.summary?.written_rows).toBe('20000');
    expect(await count(c, 'spans')).toBe(20_000);

    // the insert rate of 20,000-row batches through HTTP
    const batches = 5;
    const t0 = Date.now();
    for (let b = 0; b < batches; b++) await c.insert({ table: 'spans', values: rows, format: 'JSONEachRow' });
    const rate = Math.round((batches * rows.length) / ((Date.now() - t0) / 1000));
    console.log(`clickhouse test server: ${rate} rows/s in 20,000-row JSONEachRow inserts`);
    expect(await count(c, 'spans')).toBe(20_000 * (batches + 1));
  }, 120_000);

  it('binds query_params of String, Int64, Array(String) and DateTime64(9) on the engine', async () => {
    const rs = await client().query({
      query: 'SELECT {s:String} AS s, {i:Int64} AS i, {a:Array(String)} AS a, {t:DateTime64(9)} AS t, toTypeName(t) AS tt',
      format: 'JSONEachRow',
      query_params: { s: "it's a\ttab \\ and 'quotes'", i: '-9223372036854775808', a: ["o'ne", 'two\\', ''], t: '2026-03-04 05:06:07.123456789' },
      clickhouse_settings: { output_format_json_quote_64bit_integers: 1 },
    });
    expect(await rs.json()).toEqual([{ s: "it's a\ttab \\ and 'quotes'", i: '-9223372036854775808', a: ["o'ne", 'two\\', ''], t: '2026-03-04 05:06:07.123456789', tt: 'DateTime64(9)' }]);
    // a parameter the query does not get a value for is the engine's error
    const e = await rejection(client().query({ query: 'SELECT {missing:String}', format: 'JSONEachRow' }));
    expect(e).toBeInstanceOf(ClickHouseError);
    expect((e as ClickHouseError).code).toBe('456');
  });

  it("returns JSONEachRow and JSON results in the engine's shape", async () => {
    const c = client();
    const each = await (await c.query({ query: "SELECT trace_id, count() AS n FROM spans WHERE trace_id IN ('t1', 't2') GROUP BY trace_id ORDER BY trace_id", format: 'JSONEachRow' })).json<{ trace_id: string; n: number }>();
    expect(each).toEqual([
      { trace_id: 't1', n: 240 },
      { trace_id: 't2', n: 240 },
    ]);
    const json = await (await c.query({ query: "SELECT trace_id, max(ts) AS last FROM spans WHERE trace_id = 't3' GROUP BY trace_id", format: 'JSON' })).json<{ trace_id: string; last: string }>();
    expect(json.meta).toEqual([
      { name: 'trace_id', type: 'String' },
      { name: 'last', type: 'DateTime64(9)' },
    ]);
    expect(json.data).toEqual([{ trace_id: 't3', last: '2026-01-01 00:00:43.123456789' }]);
    expect(json.rows).toBe(1);
  });

  it('applies clickhouse_settings to that query only', async () => {
    const c = client();
    const q = (settings?: Record<string, number | string>) =>
      c.query({ query: 'SELECT toInt64(5) AS i', format: 'JSONEachRow', ...(settings ? { clickhouse_settings: settings } : {}) }).then((r) => r.json<{ i: number | string }>());
    expect(await q()).toEqual([{ i: 5 }]);
    expect(await q({ output_format_json_quote_64bit_integers: 1 })).toEqual([{ i: '5' }]);
    expect(await q()).toEqual([{ i: 5 }]);

    const e = await rejection(c.query({ query: 'SELECT number FROM numbers(100)', format: 'JSONEachRow', clickhouse_settings: { max_result_rows: '10', result_overflow_mode: 'throw' } }));
    expect((e as ClickHouseError).code).toBe('396');
    expect((e as ClickHouseError).type).toBe('TOO_MANY_ROWS_OR_BYTES');
    // neither limit stays on the session
    expect((await (await c.query({ query: 'SELECT number FROM numbers(100)', format: 'JSONEachRow' })).json()).length).toBe(100);
    const e2 = await rejection(c.query({ query: 'SELECT 1', format: 'JSONEachRow', clickhouse_settings: { no_such_setting_x: 1 } as Record<string, number> }));
    expect((e2 as ClickHouseError).code).toBe('115');

    // a SET statement of a request does not stay either (no session_id)
    await c.command({ query: 'SET max_result_rows = 1, result_overflow_mode = \'throw\'' });
    expect((await (await c.query({ query: 'SELECT number FROM numbers(3)', format: 'JSONEachRow' })).json()).length).toBe(3);
    // database: the client's default database
    await c.command({ query: 'CREATE DATABASE IF NOT EXISTS other' });
    await c.command({ query: 'CREATE TABLE other.only_here (x UInt8) ENGINE = MergeTree ORDER BY x' });
    const inOther = client({ database: 'other' });
    expect(await (await inOther.query({ query: 'SELECT currentDatabase() AS db, count() AS n FROM only_here', format: 'JSONEachRow' })).json()).toEqual([{ db: 'other', n: 0 }]);
    expect(await (await c.query({ query: 'SELECT currentDatabase() AS db', format: 'JSONEachRow' })).json()).toEqual([{ db: 'default' }]);
    // async_insert is a setting like any other
    await c.insert({ table: 'other.only_here', values: [{ x: 7 }], format: 'JSONEachRow', clickhouse_settings: { async_insert: 1, wait_for_async_insert: 1 } });
    expect(await count(c, 'other.only_here')).toBe(1);
  });

  it('INSERT ... SELECT FROM input(...) takes the data of exec() from a stream', async () => {
    const c = client();
    await c.command({ query: 'CREATE TABLE from_input (name String, doubled Int64) ENGINE = MergeTree ORDER BY name' });
    const lines = Array.from({ length: 1000 }, (_, i) => `${JSON.stringify({ n: `r${i}`, v: i })}\n`);
    const r = await c.exec({
      query: "INSERT INTO from_input SELECT n, v * 2 FROM input('n String, v Int64') FORMAT JSONEachRow",
      values: Readable.from(lines),
    });
    await r.stream.resume();
    const rows = await (await c.query({ query: "SELECT count() AS c, sum(doubled) AS s, anyIf(doubled, name = 'r10') AS r10 FROM from_input", format: 'JSONEachRow' })).json();
    expect(rows).toEqual([{ c: 1000, s: 999 * 1000, r10: 20 }]);
  });

  it("surfaces the engine's errors as ClickHouseError with ClickHouse's codes and HTTP statuses", async () => {
    const c = client();
    // (lower case: the client takes the first parenthesized upper-case word of the message for the type, and the
    // engine's syntax error quotes the failing token in parentheses, as a server's does)
    const syntax = await rejection(c.query({ query: 'selec 1' }));
    expect(syntax).toBeInstanceOf(ClickHouseError);
    expect([(syntax as ClickHouseError).code, (syntax as ClickHouseError).type]).toEqual(['62', 'SYNTAX_ERROR']);
    const table = await rejection(c.query({ query: 'SELECT * FROM no_such_table' }));
    expect([(table as ClickHouseError).code, (table as ClickHouseError).type]).toEqual(['60', 'UNKNOWN_TABLE']);
    const multi = await rejection(c.command({ query: 'SELECT 1; SELECT 2' }));
    expect((multi as ClickHouseError).code).toBe('62');
    const badRow = await rejection(c.insert({ table: 'spans', values: [{ trace_id: 'x', ts: 'not a time', duration: 1, tags: [] }], format: 'JSONEachRow' }));
    expect((badRow as ClickHouseError).code).toMatch(/^\d+$/);

    const auth = { Authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}` };
    const res = await fetch(`${server!.url}/?query=${encodeURIComponent('SELECT * FROM no_such_table')}`, { headers: auth });
    expect(res.status).toBe(404);
    expect(res.headers.get('x-clickhouse-exception-code')).toBe('60');
    expect(await res.text()).toMatch(/^Code: 60\. DB::Exception: .*\(UNKNOWN_TABLE\) \(version 26\.7\.[\d.]+ \(official build\)\)\n$/s);
    const syntaxRes = await fetch(`${server!.url}/`, { method: 'POST', headers: auth, body: 'SELEC 1' });
    expect(syntaxRes.status).toBe(400);
  });

  it('refuses a wrong password, an unknown user and no credentials with AUTHENTICATION_FAILED', async () => {
    for (const [username, password] of [
      [USER, 'wrong'],
      ['nobody', PASSWORD],
    ] as const) {
      const e = await rejection(client({ username, password }).query({ query: 'SELECT 1' }));
      expect(e).toBeInstanceOf(ClickHouseError);
      expect([(e as ClickHouseError).code, (e as ClickHouseError).type]).toEqual(['516', 'AUTHENTICATION_FAILED']);
      expect((e as ClickHouseError).message).toContain(`${username}: Authentication failed`);
    }
    const res = await fetch(`${server!.url}/?query=SELECT%201`);
    expect(res.status).toBe(403);
    expect(res.headers.get('x-clickhouse-exception-code')).toBe('516');
    // the user and password as headers and as URL parameters
    expect(await (await fetch(`${server!.url}/?query=SELECT%207`, { headers: { 'X-ClickHouse-User': USER, 'X-ClickHouse-Key': PASSWORD } })).text()).toBe('7\n');
    expect(await (await fetch(`${server!.url}/?query=SELECT%208&user=${USER}&password=${PASSWORD}`)).text()).toBe('8\n');
  });

  it('takes gzip request bodies and answers gzip when asked', async () => {
    const c = client({ compression: { request: true, response: true } });
    await c.command({ query: 'CREATE TABLE gz (i UInt32, s String) ENGINE = MergeTree ORDER BY i' });
    await c.insert({ table: 'gz', values: Array.from({ length: 5000 }, (_, i) => ({ i, s: 'x'.repeat(50) })), format: 'JSONEachRow' });
    const rs = await c.query({ query: 'SELECT count() AS n, sum(i) AS s FROM gz', format: 'JSONEachRow' });
    expect(rs.response_headers['content-encoding']).toBe('gzip');
    expect(await rs.json()).toEqual([{ n: 5000, s: (4999 * 5000) / 2 }]);

    const raw = await fetch(`${server!.url}/?enable_http_compression=1&user=${USER}&password=${PASSWORD}`, { method: 'POST', body: 'SELECT 42', headers: { 'Accept-Encoding': 'gzip' } });
    // fetch inflates on its own: the header says what came over the wire
    expect(raw.headers.get('content-encoding')).toBe('gzip');
    expect(await raw.text()).toBe('42\n');
  });

  it('takes INSERT data in the body after the statement, in Values and in binary formats (RowBinary)', async () => {
    const c = client();
    await c.command({ query: 'CREATE TABLE raw_formats (s String, n Int64) ENGINE = MergeTree ORDER BY s' });
    const post = (query: string | undefined, body: Uint8Array<ArrayBuffer> | string) =>
      fetch(`${server!.url}/${query === undefined ? '' : `?query=${encodeURIComponent(query)}`}`, { method: 'POST', headers: { 'X-ClickHouse-User': USER, 'X-ClickHouse-Key': PASSWORD }, body });
    expect((await post(undefined, "INSERT INTO raw_formats VALUES ('values', 1), ('values', 2)")).status).toBe(200);
    expect((await post('INSERT INTO raw_formats FORMAT CSVWithNames', 's,n\n"csv",3\n')).status).toBe(200);
    expect((await post('INSERT INTO raw_formats', 'FORMAT TabSeparated\ntsv\t4\n')).status).toBe(200);
    // RowBinary: a length-prefixed string and a little-endian Int64, with zero bytes in it
    const n = Buffer.alloc(8);
    n.writeBigInt64LE(-5n);
    const res = await post('INSERT INTO raw_formats FORMAT RowBinary', new Uint8Array(Buffer.concat([Buffer.from([3]), Buffer.from('bin'), n])));
    expect(res.status).toBe(200);
    expect((JSON.parse(res.headers.get('x-clickhouse-summary')!) as { written_rows: string }).written_rows).toBe('1');
    expect(await (await c.query({ query: 'SELECT s, sum(n) AS n FROM raw_formats GROUP BY s ORDER BY s', format: 'JSONEachRow' })).json()).toEqual([
      { s: 'bin', n: -5 },
      { s: 'csv', n: 3 },
      { s: 'tsv', n: 4 },
      { s: 'values', n: 3 },
    ]);
    // a RowBinary result comes back as bytes, zeros and all
    const out = await post(undefined, "SELECT toInt64(-5) FORMAT RowBinary");
    expect(out.headers.get('content-type')).toBe('application/octet-stream');
    expect(Buffer.from(await out.arrayBuffer()).equals(n)).toBe(true);
  });

  it('keeps INSERT data whole across empty lines ("\\n\\n" in text and in binary data), with or without SETTINGS', async () => {
    const c = client();
    await c.command({ query: 'CREATE TABLE blank_lines (s String, n UInt32 DEFAULT 0) ENGINE = MergeTree ORDER BY s' });
    const post = (query: string, body: Uint8Array<ArrayBuffer> | string) =>
      fetch(`${server!.url}/?query=${encodeURIComponent(query)}`, { method: 'POST', headers: { 'X-ClickHouse-User': USER, 'X-ClickHouse-Key': PASSWORD }, body });
    // an empty string in TSV is an empty line
    expect((await post('INSERT INTO blank_lines (s) FORMAT TabSeparated', 'a\n\nb\n')).status).toBe(200);
    expect((await post('INSERT INTO blank_lines (s) SETTINGS max_insert_block_size = 1000 FORMAT TSV', 'c\n\n\nd\n')).status).toBe(200);
    expect((await post('INSERT INTO blank_lines SETTINGS max_insert_block_size = 1000 VALUES', "('e', 1),\n\n('f', 2)")).status).toBe(200);
    // RowBinary: 2570 as a UInt32 is 0a 0a 00 00
    const rows = Buffer.concat(Array.from({ length: 3 }, (_, i) => Buffer.concat([Buffer.from([1, 0x67 + i]), Buffer.from(new Uint32Array([2570 + i]).buffer)])));
    const res = await post('INSERT INTO blank_lines FORMAT RowBinary', new Uint8Array(rows));
    expect(res.status).toBe(200);
    expect((JSON.parse(res.headers.get('x-clickhouse-summary')!) as { written_rows: string }).written_rows).toBe('3');
    expect(await (await c.query({ query: 'SELECT s, n FROM blank_lines ORDER BY s, n', format: 'JSONCompactEachRow' })).json()).toEqual([
      ['', 0], ['', 0], ['', 0], ['a', 0], ['b', 0], ['c', 0], ['d', 0], ['e', 1], ['f', 2], ['g', 2570], ['h', 2571], ['i', 2572],
    ]);
  });

  it('answers 20 concurrent queries, each with its own result', async () => {
    const c = client({ max_open_connections: 20 });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        c.query({ query: 'SELECT {i:UInt32} * 3 AS v, sleep(0.02) AS z, count() AS n FROM spans', format: 'JSONEachRow', query_params: { i }, clickhouse_settings: { max_threads: (i % 4) + 1 } }).then((r) => r.json<{ v: number; n: number }>()),
      ),
    );
    expect(results.map((r) => r[0]!.v)).toEqual(Array.from({ length: 20 }, (_, i) => i * 3));
    expect(results.every((r) => r[0]!.n === 120_000)).toBe(true);
  });

  it('accepts the DDL of the storage: ReplacingMergeTree, AggregatingMergeTree, a materialized view, TTL', async () => {
    const c = client();
    await c.command({
      query: `CREATE TABLE svc (service String, operation String, ts DateTime, version UInt64) ENGINE = ReplacingMergeTree(version)
              ORDER BY (service, operation) TTL ts + INTERVAL 7 DAY`,
    });
    await c.command({
      query: `CREATE TABLE svc_counts (service String, day Date, calls AggregateFunction(count), p99 AggregateFunction(quantile(0.99), UInt64))
              ENGINE = AggregatingMergeTree ORDER BY (service, day) TTL day + INTERVAL 30 DAY`,
    });
    await c.command({
      query: `CREATE MATERIALIZED VIEW svc_counts_mv TO svc_counts AS
              SELECT service, toDate(ts) AS day, countState() AS calls, quantileState(0.99)(version) AS p99 FROM svc GROUP BY service, day`,
    });
    const now = new Date().toISOString().slice(0, 19).replace('T', ' ');
    await c.insert({ table: 'svc', values: [{ service: 'a', operation: 'op', ts: now, version: 1 }, { service: 'a', operation: 'op', ts: now, version: 2 }, { service: 'b', operation: 'op', ts: now, version: 5 }], format: 'JSONEachRow' });
    expect(await (await c.query({ query: 'SELECT service, version FROM svc FINAL ORDER BY service', format: 'JSONEachRow' })).json()).toEqual([
      { service: 'a', version: 2 },
      { service: 'b', version: 5 },
    ]);
    expect(await (await c.query({ query: 'SELECT service, countMerge(calls) AS calls FROM svc_counts GROUP BY service ORDER BY service', format: 'JSONEachRow' })).json()).toEqual([
      { service: 'a', calls: 2 },
      { service: 'b', calls: 1 },
    ]);
    // rows past their TTL are gone once the table is merged
    await c.command({ query: 'CREATE TABLE expiring (ts DateTime, v UInt8) ENGINE = MergeTree ORDER BY ts TTL ts + INTERVAL 1 DAY' });
    await c.insert({ table: 'expiring', values: [{ ts: '2020-01-01 00:00:00', v: 1 }, { ts: now, v: 2 }], format: 'JSONEachRow' });
    await c.command({ query: 'OPTIMIZE TABLE expiring FINAL' });
    expect(await (await c.query({ query: 'SELECT v FROM expiring', format: 'JSONEachRow' })).json()).toEqual([{ v: 2 }]);
  });

  it('writes Native for the client_protocol_version of the request: BlockInfo, then a custom-serialization byte per column', async () => {
    const auth = { 'X-ClickHouse-User': USER, 'X-ClickHouse-Key': PASSWORD };
    const native = async (query: string, revision?: number): Promise<Buffer> => {
      const res = await fetch(`${server!.url}/?query=${encodeURIComponent(query)}&default_format=Native${revision === undefined ? '' : `&client_protocol_version=${revision}`}`, { headers: auth });
      expect(res.status).toBe(200);
      return Buffer.from(await res.arrayBuffer());
    };
    const str = (s: string) => Buffer.concat([Buffer.from([Buffer.byteLength(s)]), Buffer.from(s)]);
    const blockInfo = Buffer.from('010002ffffffff00', 'hex');
    const q = "SELECT toUInt8(1) AS x, 'ab' AS y";
    // revision 0 (no client_protocol_version): columns and rows, then per column its name, type and data
    const plain = Buffer.concat([Buffer.from([2, 1]), str('x'), str('UInt8'), Buffer.from([1]), str('y'), str('String'), str('ab')]);
    expect((await native(q)).toString('hex')).toBe(plain.toString('hex'));
    // clickhouse-go's revision (54460): BlockInfo first, a 0 after each column's type
    const current = Buffer.concat([blockInfo, Buffer.from([2, 1]), str('x'), str('UInt8'), Buffer.from([0, 1]), str('y'), str('String'), Buffer.from([0]), str('ab')]);
    expect((await native(q, 54460)).toString('hex')).toBe(current.toString('hex'));
    // before custom serialization (54454): BlockInfo only
    expect((await native(q, 54453)).toString('hex')).toBe(Buffer.concat([blockInfo, plain]).toString('hex'));

    // every block gets its BlockInfo
    const numbers = await native('SELECT number FROM numbers(10) SETTINGS max_block_size = 3', 54460);
    const block = (from: number, rows: number) => {
      const data = Buffer.alloc(rows * 8);
      for (let i = 0; i < rows; i++) data.writeBigUInt64LE(BigInt(from + i), i * 8);
      return Buffer.concat([blockInfo, Buffer.from([1, rows]), str('number'), str('UInt64'), Buffer.from([0]), data]);
    };
    expect(numbers.toString('hex')).toBe(Buffer.concat([block(0, 3), block(3, 3), block(6, 3), block(9, 1)]).toString('hex'));

    // the columns of a block are found by their types: all columns at once are the single columns side by side
    const c = client();
    await c.command({
      query: `CREATE TABLE native_types (s String, n Nullable(Int32), lc LowCardinality(String), lcn LowCardinality(Nullable(String)), a Array(Array(String)),
              m Map(String, UInt64), t Tuple(a String, b Float64), ev Nested(name String, attrs Nested(key String, value Bool)), d DateTime64(9, 'UTC'),
              fs FixedString(3), dec Decimal(20, 4), e Enum8('a' = 1, 'b' = 2), u UUID, ip IPv6, ns Array(Nullable(String)), b Bool) ENGINE = MergeTree ORDER BY s`,
    });
    await c.command({
      query: `INSERT INTO native_types VALUES
              ('r1', NULL, 'x', NULL, [['a', 'b'], []], {'k': 1, 'l': 2}, ('t', 1.5), ['e1', 'e2'], [[('k1', true)], []], '2026-01-01 00:00:00.123456789', 'abc', 12.5, 'a', generateUUIDv4(), '::1', [NULL, 'z'], true),
              ('r2', 7, 'y', 'w', [], {}, ('', 0), [], [], '2026-01-02 00:00:00', 'de', -1, 'b', generateUUIDv4(), '2001:db8::1', [], false),
              ('r3', -1, 'x', 'w', [['ü']], {'m': 3}, ('🙂', -2), ['e3'], [[('k', false), ('l', true)]], '2026-01-03 00:00:00', 'xyz', 0, 'a', generateUUIDv4(), '::', [NULL], true)`,
    });
    const names = (await (await c.query({ query: 'DESCRIBE TABLE native_types', format: 'JSONEachRow' })).json<{ name: string }>()).map((r) => r.name);
    expect(names).toContain('ev.attrs');
    const whole = await native('SELECT * FROM native_types ORDER BY s', 54460);
    const columns: Buffer[] = [];
    for (const name of names) {
      // one column of three rows: [1, 3], name, type, data
      const one = (await native(`SELECT \`${name}\` FROM native_types ORDER BY s`)).subarray(2);
      const typeEnd = 1 + one[0]! + 1 + one[1 + one[0]!]!;
      columns.push(one.subarray(0, typeEnd), Buffer.from([0]), one.subarray(typeEnd));
    }
    expect(whole.toString('hex')).toBe(Buffer.concat([blockInfo, Buffer.from([names.length, 3]), ...columns]).toString('hex'));
  });

  it('takes a Native INSERT as clickhouse-go sends it: the statement in the URL, a streamed binary block in the body', async () => {
    const c = client();
    await c.command({ query: 'CREATE TABLE native_in (a UInt32, b Array(String), c Nullable(String)) ENGINE = MergeTree ORDER BY a' });
    const str = (s: string) => Buffer.concat([Buffer.from([Buffer.byteLength(s)]), Buffer.from(s)]);
    const u32 = (...v: number[]) => Buffer.concat(v.map((x) => Buffer.from(new Uint32Array([x]).buffer)));
    const u64 = (...v: number[]) => Buffer.concat(v.map((x) => Buffer.from(new BigUint64Array([BigInt(x)]).buffer)));
    // revision 0, as clickhouse-go encodes INSERT data: 3 columns, 2 rows; a: 7, 8; b: ['x', 'y'], []; c: 'z', NULL
    const block = Buffer.concat([
      Buffer.from([3, 2]),
      str('a'), str('UInt32'), u32(7, 8),
      str('b'), str('Array(String)'), u64(2, 2), str('x'), str('y'),
      str('c'), str('Nullable(String)'), Buffer.from([0, 1]), str('z'), str(''),
    ]);
    const body = Readable.toWeb(Readable.from([block.subarray(0, 5), block.subarray(5)])) as ReadableStream<Uint8Array>;
    const res = await fetch(`${server!.url}/?query=${encodeURIComponent('INSERT INTO native_in (a, b, c) FORMAT Native')}&default_format=Native&client_protocol_version=54460`, {
      method: 'POST',
      headers: { 'X-ClickHouse-User': USER, 'X-ClickHouse-Key': PASSWORD, 'Content-Type': 'application/octet-stream' },
      body,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(200);
    expect((JSON.parse(res.headers.get('x-clickhouse-summary')!) as { written_rows: string }).written_rows).toBe('2');
    expect(await (await c.query({ query: 'SELECT a, b, c FROM native_in ORDER BY a', format: 'JSONEachRow' })).json()).toEqual([
      { a: 7, b: ['x', 'y'], c: 'z' },
      { a: 8, b: [], c: null },
    ]);
  });

  it("serves Jaeger v2's ClickHouse storage (clickhouse-go over HTTP): schema, span writes, traces, services and operations", async () => {
    const c = client();
    await c.command({ query: 'CREATE DATABASE jaeger_e2e' });
    const jaeger = await startJaeger(
      `        clickhouse:\n          protocol: http\n          addresses: [127.0.0.1:${server!.port}]\n          database: jaeger_e2e\n          create_schema: true\n          auth:\n            basic:\n              username: ${USER}\n              password: ${PASSWORD}`,
      { batch: false },
    );
    try {
      const traceId = '5d0b4c3a2f1e0d9c8b7a695847362514';
      const at = BigInt(Date.now() - 60_000) * 1_000_000n;
      const span = (spanId: string, name: string, extra: Record<string, unknown> = {}) => ({ traceId, spanId, name, startTimeUnixNano: String(at), endTimeUnixNano: String(at + 2_000_000n), ...extra });
      const otlp = {
        resourceSpans: [
          {
            resource: { attributes: [{ key: 'service.name', value: { stringValue: 'checkout' } }] },
            scopeSpans: [
              {
                scope: { name: 'test', version: '1' },
                spans: [
                  span('a1a2a3a4a5a6a7a8', 'GET /cart', { kind: 2, attributes: [{ key: 'http.status_code', value: { intValue: '200' } }, { key: 'cached', value: { boolValue: true } }], events: [{ name: 'hit', timeUnixNano: String(at + 1000n), attributes: [{ key: 'ratio', value: { doubleValue: 0.5 } }] }] }),
                  span('b1b2b3b4b5b6b7b8', 'SELECT cart', { parentSpanId: 'a1a2a3a4a5a6a7a8', kind: 3, status: { code: 2, message: 'timeout' } }),
                ],
              },
            ],
          },
        ],
      };
      const sent = await fetch(`http://127.0.0.1:${jaeger.otlpHttp}/v1/traces`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(otlp) });
      expect(sent.status).toBe(200);
      expect(await count(c, 'jaeger_e2e.spans')).toBe(2);

      const got = await fetch(`http://127.0.0.1:${jaeger.queryHttp}/api/v3/traces/${traceId}`);
      expect(got.status).toBe(200);
      const trace = (await got.json()) as { result: { resourceSpans: { scopeSpans: { spans: { spanId: string; name: string; attributes?: unknown[]; events?: { name: string }[]; status?: { message?: string } }[] }[] }[] } };
      const spans = trace.result.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)).sort((x, y) => x.name.localeCompare(y.name));
      expect(spans.map((s) => s.name)).toEqual(['GET /cart', 'SELECT cart']);
      expect(spans[0]!.attributes).toHaveLength(2);
      expect(spans[0]!.events?.[0]?.name).toBe('hit');
      expect(spans[1]!.status?.message).toBe('timeout');
      expect(await (await fetch(`http://127.0.0.1:${jaeger.queryHttp}/api/v3/services`)).json()).toEqual({ services: ['checkout'] });
      const ops = (await (await fetch(`http://127.0.0.1:${jaeger.queryHttp}/api/v3/operations?service=checkout`)).json()) as { operations: { name: string }[] };
      expect(ops.operations.map((o) => o.name).sort()).toEqual(['GET /cart', 'SELECT cart']);
    } finally {
      await jaeger.stop();
      await c.command({ query: 'DROP DATABASE jaeger_e2e' });
    }
  }, 120_000);

  it('keeps the data over stop() + restart() and over kill -9 + restart()', async () => {
    const c = client();
    await c.command({ query: 'CREATE TABLE durable (i UInt32) ENGINE = MergeTree ORDER BY i' });
    await c.insert({ table: 'durable', values: Array.from({ length: 300 }, (_, i) => ({ i })), format: 'JSONEachRow' });
    const { port, dataDir } = server!;

    let pid = server!.proc.pid!;
    await server!.restart();
    expect(alive(pid)).toBe(false);
    expect([server!.port, server!.dataDir]).toEqual([port, dataDir]);
    expect(await count(c, 'durable')).toBe(300);

    await c.insert({ table: 'durable', values: [{ i: 1000 }], format: 'JSONEachRow' });
    pid = server!.proc.pid!;
    await server!.kill();
    expect(alive(pid)).toBe(false);
    await server!.restart();
    expect(await count(c, 'durable')).toBe(301);
    expect(await count(c, 'spans')).toBe(120_000);
  }, 120_000);

  it('serves HTTPS with tls, and keeps a given data dir over stop()', async () => {
    const pki = testPki();
    const dataDir = mkdtempSync(join(tmpdir(), 'jso-clickhouse-data-'));
    try {
      const secure = await startClickHouse({ tls: { certFile: pki.certFile, keyFile: pki.keyFile }, dataDir });
      try {
        expect(secure.url).toBe(`https://127.0.0.1:${secure.port}`);
        const c = createClient({ url: secure.url, tls: { ca_cert: Buffer.from(pki.ca) } });
        try {
          await c.command({ query: 'CREATE TABLE kept (x UInt8) ENGINE = MergeTree ORDER BY x' });
          await c.insert({ table: 'kept', values: [{ x: 1 }], format: 'JSONEachRow' });
          expect(await count(c, 'kept')).toBe(1);
        } finally {
          await c.close();
        }
        // no credentials configured: the user default with an empty password, and nobody else
        const e = await rejection(createClient({ url: secure.url, tls: { ca_cert: Buffer.from(pki.ca) }, username: 'other' }).query({ query: 'SELECT 1' }));
        expect((e as ClickHouseError).code).toBe('516');
      } finally {
        await secure.stop();
      }
      expect(existsSync(join(dataDir, 'metadata'))).toBe(true);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(pki.dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('the server dies with the process that started it (kill -9, no stop())', async () => {
    const script = `const { startClickHouse } = await import(${JSON.stringify(join(REPO_ROOT, 'dist/test/env/clickhouse.js'))});
const s = await startClickHouse();
process.stdout.write(JSON.stringify({ pid: s.proc.pid, dataDir: s.dataDir }) + '\\n');
setInterval(() => {}, 1000);`;
    const parent = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    parent.stdout.on('data', (c: Buffer) => (out += c.toString()));
    parent.stderr.on('data', (c: Buffer) => (err += c.toString()));
    try {
      const t0 = Date.now();
      while (!out.includes('\n') && parent.exitCode === null && Date.now() - t0 < 60_000) await sleep(100);
      if (!out.includes('\n')) throw new Error(`the parent process started no server (exit ${parent.exitCode}):\n${err}`);
      const started = JSON.parse(out.split('\n')[0]!) as { pid: number; dataDir: string };
      expect(alive(started.pid)).toBe(true);
      parent.kill('SIGKILL');
      try {
        const t1 = Date.now();
        while (alive(started.pid) && Date.now() - t1 < 10_000) await sleep(100);
        expect(alive(started.pid)).toBe(false);
      } finally {
        if (alive(started.pid)) process.kill(started.pid, 'SIGKILL');
        rmSync(dirname(started.dataDir), { recursive: true, force: true });
      }
    } finally {
      if (parent.exitCode === null) parent.kill('SIGKILL');
    }
  }, 90_000);
});
