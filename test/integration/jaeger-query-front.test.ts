// The query front of spec.query as the operator configures it (its generated configuration, only the listen
// addresses and the runtime's address moved to loopback ports): the stock Jaeger v2 binary reading through our
// runtime's remote storage. For the same data its APIs (classic /api and /api/v3) answer what our runtime's own
// query API answers: services, operations, a trace by ID, searches by service, operation, attribute and duration.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { freePort } from '../../src/local/controlplane.js';
import { encodeTracesJson } from '../../src/otlp/otlp-json.js';
import { queryConfig } from '../../src/reconcilers/tracestore/builders/query-config.js';
import { type RunningRuntime, startRuntime } from '../../src/runtime/server.js';
import { BASE, NS_PER_S, SHOP_TRACE, SUMMARY_TRACE, loadFixtures } from '../../src/storage/testing/fixtures.js';
import { jaegerBinary } from '../env/jaeger.js';
import { loopbackRuntimeConfig, testPki, waitFor } from '../helpers.js';

let rt: RunningRuntime;
let jaeger: ChildProcess | undefined;
let dir = '';
let front = '';
let ours = '';
const fx = loadFixtures();

beforeAll(async () => {
  rt = await startRuntime(loopbackRuntimeConfig({ backend: { memory: { maxTraces: 10_000 } }, ingest: { batchAgeMs: 20 } }), pino({ level: 'silent' }));
  ours = `http://127.0.0.1:${rt.ports.queryHttp}`;
  for (const b of fx.batches.filter((x) => ['shop', 'queue', 'queue-consumer', 'search', 'summary-children', 'summary-root'].includes(x.name))) {
    const r = await fetch(`http://127.0.0.1:${rt.ports.otlpHttp}/v1/traces`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(encodeTracesJson(b.traces)) });
    expect(r.status).toBe(200);
  }
  const f = await startFront({ backend: { memory: {} }, query: { enabled: true, basePath: '/jaeger' } }, 'demo-runtime.obs.svc', rt.ports.remoteStorage);
  jaeger = f.proc;
  dir = f.dir;
  const http = f.http;
  front = `http://127.0.0.1:${http}/jaeger`;
  await waitFor('the fixtures readable', async () => ((await get(ours, '/api/v3/services')) as { services: string[] }).services.includes('sum-front'), 20_000, 50);
}, 90_000);

afterAll(async () => {
  await stopFront(jaeger, dir);
  await rt?.stop();
});

interface Front {
  proc: ChildProcess;
  dir: string;
  http: number;
  log: () => string;
}

/**
 * Jaeger with the configuration the operator renders for `spec` (runtime host `host`), moved to loopback: its
 * listeners on free ports, the runtime at `port`, file paths by `paths`; `env` for the token; healthy when it returns.
 */
async function startFront(spec: Parameters<typeof queryConfig>[0]['spec'], host: string, port: number, paths: Record<string, string> = {}, env: Record<string, string> = {}): Promise<Front> {
  const [http, grpc, health] = [await freePort(), await freePort(), await freePort()];
  const c = queryConfig({ spec, runtimeHost: host }) as { extensions: Record<string, Record<string, Record<string, unknown>>> };
  const ext = c.extensions;
  ext.healthcheckv2!.http!.endpoint = `127.0.0.1:${health}`;
  ext.jaeger_query!.http!.endpoint = `127.0.0.1:${http}`;
  ext.jaeger_query!.grpc!.endpoint = `127.0.0.1:${grpc}`;
  const client = (ext.jaeger_storage!.backends as unknown as { runtime: { grpc: { endpoint: string; tls: Record<string, string>; writer: { endpoint: string; tls: Record<string, string> } } } }).runtime.grpc;
  expect(client.endpoint).toBe(`${host}:17271`);
  client.endpoint = client.writer.endpoint = `127.0.0.1:${port}`;
  for (const tls of [client.tls, client.writer.tls]) for (const [k, v] of Object.entries(tls)) if (typeof v === 'string' && paths[v]) tls[k] = paths[v];
  const d = mkdtempSync(join(tmpdir(), 'jso-front-'));
  writeFileSync(join(d, 'config.yaml'), stringify(c));
  let out = '';
  const proc = spawn(jaegerBinary(), ['--config', join(d, 'config.yaml')], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH, ...env } });
  proc.stdout?.on('data', (b: Buffer) => (out = (out + b.toString()).slice(-8000)));
  proc.stderr?.on('data', (b: Buffer) => (out = (out + b.toString()).slice(-8000)));
  await waitFor('Jaeger healthy', async () => {
    if (proc.exitCode !== null) throw new Error(`jaeger exited: ${out}`);
    return (await fetch(`http://127.0.0.1:${health}/status`).catch(() => undefined))?.status === 200;
  }, 30_000, 100);
  return { proc, dir: d, http, log: () => out };
}

async function stopFront(proc: ChildProcess | undefined, d: string): Promise<void> {
  if (proc && proc.exitCode === null) {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
  }
  if (d) rmSync(d, { recursive: true, force: true });
}

async function get(base: string, path: string): Promise<unknown> {
  const r = await fetch(`${base}${path}`);
  const text = await r.text();
  if (r.status !== 200) throw new Error(`${base}${path}: ${r.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

const iso = (ns: bigint) => new Date(Number(ns / 1_000_000n)).toISOString();
const window = () => `query.start_time_min=${iso(fx.at(BASE))}&query.start_time_max=${iso(fx.at(BASE + 3600n * NS_PER_S))}`;
const classicWindow = () => `start=${fx.at(BASE) / 1000n}&end=${fx.at(BASE + 3600n * NS_PER_S) / 1000n}`;

type V3 = { result: { resourceSpans: { resource: { attributes: { key: string; value: unknown }[] }; scopeSpans: { spans: { traceId: string; spanId: string; name: string; startTimeUnixNano: string }[] }[] }[] } };
/** the spans of an api_v3 answer as comparable tuples, sorted */
const v3Spans = (x: unknown) =>
  (x as V3).result.resourceSpans
    .flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => [s.traceId, s.spanId, s.name, s.startTimeUnixNano, JSON.stringify(rs.resource.attributes.find((a) => a.key === 'service.name')?.value)])))
    .sort((a, b) => a.join().localeCompare(b.join()));
type Classic = { data: { traceID: string; spans: { spanID: string; operationName: string; startTime: number; duration: number }[] }[] };
const classicSpans = (x: unknown) =>
  (x as Classic).data.flatMap((t) => t.spans.map((s) => [t.traceID, s.spanID, s.operationName, s.startTime, s.duration])).sort((a, b) => a.join().localeCompare(b.join()));
const sortedList = (x: unknown, key: string) => [...((x as Record<string, string[]>)[key] ?? [])].sort();

describe('stock Jaeger v2 as the query front over our runtime', () => {
  it('lists the same services and operations', async () => {
    expect(sortedList(await get(front, '/api/v3/services'), 'services')).toEqual(sortedList(await get(ours, '/api/v3/services'), 'services'));
    expect(sortedList(await get(front, '/api/services'), 'data')).toEqual(sortedList(await get(ours, '/api/services'), 'data'));
    for (const service of ['shop-checkout', 'mail-producer', 'sum-back']) {
      // Jaeger leaves an empty spanKind out of its JSON; ours sends ""
      const byName = (x: unknown) => (x as { operations: { name: string; spanKind?: string }[] }).operations.map((o) => ({ name: o.name, spanKind: o.spanKind ?? '' })).sort((a, b) => a.name.localeCompare(b.name) || a.spanKind.localeCompare(b.spanKind));
      expect(byName(await get(front, `/api/v3/operations?service=${service}`))).toEqual(byName(await get(ours, `/api/v3/operations?service=${service}`)));
    }
  });

  it('returns the same trace by ID', async () => {
    for (const id of [SHOP_TRACE, SUMMARY_TRACE]) {
      const mine = v3Spans(await get(ours, `/api/v3/traces/${id}`));
      expect(mine.length).toBeGreaterThan(0);
      expect(v3Spans(await get(front, `/api/v3/traces/${id}`))).toEqual(mine);
      expect(classicSpans(await get(front, `/api/traces/${id}`))).toEqual(classicSpans(await get(ours, `/api/traces/${id}`)));
    }
  });

  it('finds the same traces by service, operation, attribute and duration', async () => {
    const searches = [
      'query.service_name=search-service&query.num_traces=50',
      'query.service_name=search-service&query.operation_name=search&query.num_traces=50',
      'query.service_name=search-service&query.duration_min=20ms&query.num_traces=50',
      'query.service_name=sum-db&query.num_traces=50',
    ];
    for (const q of searches) {
      const mine = v3Spans(await get(ours, `/api/v3/traces?${q}&${window()}`));
      expect([q, mine.length > 0]).toEqual([q, true]);
      expect([q, v3Spans(await get(front, `/api/v3/traces?${q}&${window()}`))]).toEqual([q, mine]);
    }
    // attributes through the classic API: Jaeger v2.13's api_v3 HTTP search takes none (it reads only service,
    // operation, times, durations and num_traces)
    const classic = `/api/traces?service=search-service&tags=%7B%22parity%22%3A%22even%22%7D&limit=50&${classicWindow()}`;
    const mine = classicSpans(await get(ours, classic));
    expect(mine).toHaveLength(30);
    expect(classicSpans(await get(front, classic))).toEqual(mine);
  });
});

describe('the query front over a remote storage with mTLS and a bearer token', () => {
  it('reads with the CA, its own client certificate and the token from env, and not without the token', async () => {
    const pki = testPki();
    const tokens = join(pki.dir, 'tokens');
    writeFileSync(tokens, 'ui-token\n');
    const secured = await startRuntime(
      loopbackRuntimeConfig({
        backend: { memory: { maxTraces: 100 } },
        ingest: { batchAgeMs: 20 },
        security: { remoteStorage: { tls: { certFile: pki.certFile, keyFile: pki.keyFile, clientCaFile: pki.caFile }, auth: { bearerTokenFile: tokens } } },
      }),
      pino({ level: 'silent' }),
    );
    const spec = {
      backend: { memory: {} },
      runtime: { security: { remoteStorage: { tls: { secretRef: { name: 'rs-tls' }, requireClientCert: true }, auth: { tokenSecretRef: { name: 'rs-tokens' } } } } },
      query: { enabled: true, remoteStorageToken: { secretRef: { name: 'ui-token' } }, remoteStorageClientTls: { secretRef: { name: 'ui-client' } } },
    };
    // the runtime's certificate names localhost: the runtime host the configuration verifies
    const paths = { '/etc/jaeger-remote-storage-tls/ca.crt': pki.caFile, '/etc/jaeger-remote-storage-client-tls/tls.crt': pki.clientCertFile, '/etc/jaeger-remote-storage-client-tls/tls.key': pki.clientKeyFile };
    const fronts: Front[] = [];
    try {
      const shop = fx.batches.find((b) => b.name === 'shop')!.traces;
      expect((await fetch(`http://127.0.0.1:${secured.ports.otlpHttp}/v1/traces`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(encodeTracesJson(shop)) })).status).toBe(200);
      const good = await startFront(spec as Parameters<typeof queryConfig>[0]['spec'], 'localhost', secured.ports.remoteStorage, paths, { JSO_REMOTE_STORAGE_TOKEN: 'ui-token' });
      fronts.push(good);
      await waitFor('the shop trace through the secured front', async () => ((await get(`http://127.0.0.1:${good.http}`, '/api/v3/services')) as { services?: string[] }).services?.includes('shop-frontend'), 20_000, 100);
      expect(v3Spans(await get(`http://127.0.0.1:${good.http}`, `/api/v3/traces/${SHOP_TRACE}`))).toHaveLength(6);
      const tokenless = await startFront(spec as Parameters<typeof queryConfig>[0]['spec'], 'localhost', secured.ports.remoteStorage, paths, { JSO_REMOTE_STORAGE_TOKEN: 'wrong' });
      fronts.push(tokenless);
      const r = await fetch(`http://127.0.0.1:${tokenless.http}/api/v3/services`);
      expect([r.status, await r.text()]).toEqual([500, expect.stringMatching(/Unauthenticated|unauthenticated|token/)]);
    } finally {
      for (const f of fronts) await stopFront(f.proc, f.dir);
      await secured.stop();
    }
  }, 90_000);
});
