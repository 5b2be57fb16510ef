// A runtime whose ClickHouse is not up yet when it starts: it serves, stays unready while the server cannot be
// reached, provisions the database on the first readiness ping the server answers, and only then turns ready; a
// span sent after that is stored and read back.
import { pino } from 'pino';
import { freePort } from '../../src/local/controlplane.js';
import { type RunningRuntime, startRuntime } from '../../src/runtime/server.js';
import { newSpan, serviceBatch } from '../../src/storage/api/index.js';
import { encodeTracesJson } from '../../src/otlp/otlp-json.js';
import { type ClickHouseServer, startClickHouse } from '../env/clickhouse.js';
import { loopbackRuntimeConfig, waitFor } from '../helpers.js';

let rt: RunningRuntime | undefined;
let server: ClickHouseServer | undefined;

afterAll(async () => {
  await rt?.stop();
  await server?.stop();
});

it('provisions once ClickHouse answers, and turns ready only then', async () => {
  const port = await freePort();
  rt = await startRuntime(loopbackRuntimeConfig({ backend: { clickhouse: { endpoints: [`http://127.0.0.1:${port}`], database: 'late_start' } }, ingest: { batchAgeMs: 10 } }), pino({ level: 'silent' }));
  const ready = async () => (await fetch(`http://127.0.0.1:${rt!.ports.admin}/readyz`)).status;
  // nothing listens yet: the first ping (10 s period) finds no server
  await waitFor('the runtime to report its backend unreachable', async () => (await ready()) === 503, 30_000, 200);
  server = await startClickHouse({ port });
  await waitFor('the runtime to turn ready', async () => (await ready()) === 200, 60_000, 200);
  // ready means provisioned: the database and its tables are there
  const tables = await fetch(`${server.url}/?query=${encodeURIComponent("SELECT count() FROM system.tables WHERE database = 'late_start' AND name = 'spans'")}`);
  expect((await tables.text()).trim()).toBe('1');
  const now = BigInt(Date.now()) * 1_000_000n;
  const traceId = '0000000000000000000000000000abcd';
  const r = await fetch(`http://127.0.0.1:${rt.ports.otlpHttp}/v1/traces`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(encodeTracesJson([serviceBatch('late', [newSpan({ traceId, spanId: '00000000000000a1', name: 'op', startTimeUnixNano: now - 1_000_000n, endTimeUnixNano: now })])])),
  });
  expect(r.status).toBe(200);
  const got = await fetch(`http://127.0.0.1:${rt.ports.queryHttp}/api/v3/traces/${traceId}`);
  expect(got.status).toBe(200);
}, 120_000);
