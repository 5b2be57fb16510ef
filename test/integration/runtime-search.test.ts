// The runtime on OpenSearch and on Elasticsearch (security on: Basic auth from the environment, HTTPS with the CA
// from a mounted file, as the operator sets it up): OTLP in, api_v3 out, no acknowledged span lost when the node is
// killed (-9) and restarted while bulk writes are in flight, and 429 while the cluster blocks writes (disk full).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { BACKEND_PASSWORD_ENV, BACKEND_USERNAME_ENV } from '../../src/api/backend-plugin.js';
import { type RunningRuntime, startRuntime } from '../../src/runtime/server.js';
import { loopbackRuntimeConfig } from '../helpers.js';
import { newSpan, serviceBatch } from '../../src/storage/api/index.js';
import { encodeTracesProto } from '../../src/otlp/otlp-proto.js';
import type { SearchBackend } from '../../src/storage/elasticsearch/store.js';
import { ES_USERS, startElasticsearch } from '../env/elasticsearch.js';
import { startOpenSearch } from '../env/opensearch.js';

interface Node {
  url: string;
  restart(hard?: boolean): Promise<void>;
  stop(): Promise<void>;
  /** a request to the node with admin rights */
  status(method: string, path: string, body: unknown): Promise<number>;
}

// the disk-full test sets the flood-stage block by hand; the server's disk monitor lifts it at its next run, every
// cluster.info.update.interval (30 s; disk usage is fine here, and with the disk threshold off it lifts every such
// block), so that run is put off past the test
const NO_DISK_MONITOR = { 'cluster.info.update.interval': '1h' };

const PRODUCTS: { name: string; start: () => Promise<{ node: Node; backend: Record<string, unknown>; env: Record<string, string>; cleanup: () => void }> }[] = [
  {
    name: 'OpenSearch',
    start: async () => {
      const os = await startOpenSearch({ settings: NO_DISK_MONITOR });
      const status = async (method: string, path: string, body: unknown) => (await fetch(`${os.url}${path}`, { method, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })).status;
      return { node: Object.assign(os, { status }), backend: { opensearch: { endpoints: [os.url], indexPrefix: 'rt', layout: 'daily', shards: 1, replicas: 0 } }, env: {}, cleanup: () => undefined };
    },
  },
  {
    name: 'Elasticsearch with security',
    start: async () => {
      const es = await startElasticsearch({ secure: true, settings: NO_DISK_MONITOR });
      const caDir = mkdtempSync(join(tmpdir(), 'jso-es-ca-'));
      writeFileSync(join(caDir, 'ca.crt'), es.ca!);
      const status = async (method: string, path: string, body: unknown) => (await es.call(method, path, body)).status;
      return {
        node: Object.assign(es, { status }),
        backend: { elasticsearch: { endpoints: [es.url], indexPrefix: 'rt', layout: 'daily', shards: 1, replicas: 0, credentialsSecretRef: { name: 'es' }, tls: { enabled: true, caSecretRef: { name: 'es-ca' } } } },
        env: { [BACKEND_USERNAME_ENV]: ES_USERS.admin.username, [BACKEND_PASSWORD_ENV]: ES_USERS.admin.password, JSO_BACKEND_CA_DIR: caDir },
        cleanup: () => rmSync(caDir, { recursive: true, force: true }),
      };
    },
  },
];

describe.each(PRODUCTS)('runtime on $name', ({ name, start }) => {
  let os: Node;
  let rt: RunningRuntime;
  let cleanup = (): void => undefined;

  beforeAll(async () => {
    const s = await start();
    os = s.node;
    cleanup = s.cleanup;
    const cfg = loopbackRuntimeConfig({ backend: s.backend, ingest: { batchAgeMs: 50, batchSpans: 2000, maxQueuedSpans: 20_000 } });
    // the runtime reads the credentials and the CA directory from its environment when it opens the backend
    const saved = Object.fromEntries(Object.keys(s.env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, s.env);
    try {
      rt = await startRuntime(cfg, pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }));
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  }, 180_000);
  afterAll(async () => {
    await rt?.stop();
    await os?.stop();
    cleanup();
  });

  it('keeps every acknowledged span when the server is killed and restarted during bulk writes', async () => {
    const acked: string[] = [];
    let refused = 0;
    const now = BigInt(Date.now()) * 1_000_000n;
    const send = async (i: number): Promise<void> => {
      const traceId = randomBytes(16).toString('hex');
      const spans = Array.from({ length: 20 }, (_, j) => newSpan({ traceId, spanId: randomBytes(8).toString('hex'), name: `op-${j % 4}`, startTimeUnixNano: now + BigInt(i * 1000 + j), endTimeUnixNano: now + BigInt(i * 1000 + j + 500) }));
      for (let attempt = 0; attempt < 200; attempt++) {
        const r = await fetch(`http://127.0.0.1:${rt.ports.otlpHttp}/v1/traces`, { method: 'POST', headers: { 'Content-Type': 'application/x-protobuf' }, body: new Uint8Array(encodeTracesProto([serviceBatch('restart-test', spans)])) });
        await r.arrayBuffer();
        if (r.status === 200) {
          acked.push(traceId);
          return;
        }
        // the other answers while the server is away: queue full (429), or taken but not committed within
        // ackTimeoutMs (503, when the restart outlasts it); neither acknowledges, and the client sends again
        // (the same span IDs: stored once)
        expect([429, 503]).toContain(r.status);
        refused++;
        await new Promise((res) => setTimeout(res, 100));
      }
      throw new Error(`trace ${i} never accepted`);
    };
    let i = 0;
    for (; i < 100; i++) await send(i);
    const restart = os.restart(true); // kill -9 mid-stream
    for (; i < 300; i++) await send(i);
    await restart;
    for (; i < 400; i++) await send(i);
    await rt.pipeline.idle();
    const store = rt.backend as SearchBackend;
    await store.refresh();
    const found = new Map<string, number>();
    for await (const chunk of rt.backend.traceReader().getTraces(acked.map((traceId) => ({ traceId })))) {
      for (const c of chunk) for (const rs of c.resourceSpans) for (const ss of rs.scopeSpans) found.set(c.traceId, (found.get(c.traceId) ?? 0) + ss.spans.length);
    }
    expect(acked).toHaveLength(400);
    // the kill really hit writes: bulk requests failed and were sent again
    const errors = store.retries + ((await rt.registry.getSingleMetric('jso_runtime_write_errors_total')!.get()).values[0]?.value ?? 0);
    expect(errors).toBeGreaterThan(0);
    expect(acked.filter((id) => found.get(id) !== 20)).toEqual([]);
    // api_v3 reads the same store
    const r = await fetch(`http://127.0.0.1:${rt.ports.queryHttp}/api/v3/traces/${acked[150]}`);
    expect(r.status).toBe(200);
    // ready again once a periodic backend ping (every 10 s) found the server back (Elasticsearch answers GET / with 405)
    let ready = '';
    for (let k = 0; k < 150 && !ready.startsWith('200'); k++) {
      const rr = await fetch(`http://127.0.0.1:${rt.ports.admin}/readyz`);
      ready = `${rr.status} ${await rr.text()}`;
      if (!ready.startsWith('200')) await new Promise((res) => setTimeout(res, 200));
    }
    expect(ready).toMatch(/^200/);
    process.stderr.write(`restart test: ${errors} bulk retries, ${refused} refusals (429/503) while ${name} was down\n`);
  }, 240_000);

  it('refuses new spans with 429 saying the disk is full while the cluster blocks writes, and resumes when the block is lifted', async () => {
    // what the server does past its flood-stage watermark: a read-only-allow-delete block on the indices
    const block = (on: boolean) => os.status('PUT', '/rt*/_settings', { 'index.blocks.read_only_allow_delete': on ? true : null });
    const now = BigInt(Date.now()) * 1_000_000n;
    const post = async () => {
      const traceId = randomBytes(16).toString('hex');
      const r = await fetch(`http://127.0.0.1:${rt.ports.otlpHttp}/v1/traces`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-protobuf' },
        body: new Uint8Array(encodeTracesProto([serviceBatch('disk-block', [newSpan({ traceId, spanId: randomBytes(8).toString('hex'), name: 'op', startTimeUnixNano: now, endTimeUnixNano: now + 5n })])])),
      });
      return { status: r.status, text: Buffer.from(await r.arrayBuffer()).toString('latin1'), traceId };
    };
    expect((await post()).status).toBe(200); // the day's index exists
    expect(await block(true)).toBe(200);
    try {
      const first = await post(); // taken, then refused by the cluster: not acknowledged
      expect(first.status).not.toBe(200);
      let refusal: { status: number; text: string } | undefined;
      for (let i = 0; i < 50 && !refusal; i++) {
        const r = await post();
        expect(r.status).not.toBe(200);
        if (r.status === 429) refusal = r;
        else await new Promise((res) => setTimeout(res, 100));
      }
      expect(refusal?.text).toMatch(/disk is full/);
    } finally {
      expect(await block(false)).toBe(200);
    }
    let ok: { status: number; traceId: string } | undefined;
    for (let i = 0; i < 100 && !ok; i++) {
      const r = await post();
      if (r.status === 200) ok = r;
      else await new Promise((res) => setTimeout(res, 200));
    }
    expect(ok).toBeDefined();
  }, 120_000);
});
