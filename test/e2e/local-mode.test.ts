// `npm start` on a machine without a cluster: a control plane of its own, the CRDs, the operator, the memory
// sample Ready, its runtime pod running as a real process on the pod's own loopback address (rolled when the
// TraceStore changes, stopped when it is deleted, reporting SamplingPolicies from the live pod). Ctrl-C, SIGTERM or
// SIGHUP (to npm or to its node process) and the death of the parent stop every process it started, judged by the
// process tree in /proc; a second start and a taken port end in one line without starting anything. One file, so
// no two local modes run at once (they would share the pod address range).
// Then every TraceStore sample applied at once, against real servers on loopback (OpenSearch, Elasticsearch with
// TLS and credentials, Cassandra with TLS and password authentication, ClickHouse over HTTPS with a password, a remote
// storage with TLS and a token): each store gets runtime processes of its own, one
// per pod on its pod's address; the embedded store's claim gets a directory from local mode's provisioner, its spans
// outlive a pod restart, and deletionPolicy Delete removes claim, volume and directory. The samples change only
// where the test servers differ: addresses, no TLS and a single shard for OpenSearch (no security plugin), one
// Cassandra node (its datacenter, one replica), the name on the remote storage's certificate.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, existsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { SECRET_ALLOW_LABEL } from '../../src/api/contract.js';
import { DEFAULT_PORTS } from '../../src/api/runtime-config.js';
import type { SamplingPolicy } from '../../src/api/samplingpolicy.js';
import type { TraceStore } from '../../src/api/tracestore.js';
import { KubeClient, resourcePath } from '../../src/kube/client.js';
import { PERSISTENTVOLUMECLAIMS, PODS, SAMPLING_POLICIES, SECRETS, TRACESTORES } from '../../src/kube/resources.js';
import { LOCAL_STORAGE_CLASS, PERSISTENTVOLUMES } from '../../src/local/provisioner.js';
import type { RunningRuntime } from '../../src/runtime/server.js';
import { CASSANDRA_DC, type RunningCassandra, startCassandra } from '../env/cassandra.js';
import { type ClickHouseServer, startClickHouse } from '../env/clickhouse.js';
import { ES_USERS, type RunningElasticsearch, startElasticsearch } from '../env/elasticsearch.js';
import { type RunningOpenSearch, startOpenSearch } from '../env/opensearch.js';
import { ROOT, type TestPki, startSecuredRemoteStorage, testPki, waitFor } from '../helpers.js';
import { IP, type Started, components, cmdline, exitWithin, expectTreeGone, fetchText, living, runtimes, startLocal, tree, waitUp } from './local-process.js';

it('starts everything, runs each runtime pod as a process, refuses a second start in one line, and stops everything on Ctrl-C', async () => {
  const s = startLocal('node');
  try {
    await waitUp(s);
    const out = s.out();
    expect(out).toMatch(/TraceStore Ready=True \(Ready\)/);
    // the runtime pod's process serves on the pod's own loopback address, on the well-known ports
    const admin = new RegExp(`runtime health/metrics\\s+http://(${IP}:\\d+)/readyz`).exec(out)?.[1];
    expect(admin).toMatch(new RegExp(`^${IP}:${DEFAULT_PORTS.admin}$`));
    expect((await fetchText(`http://${admin}/readyz`)).code).toBe(200);
    expect((await fetchText(`http://${admin}/metrics`)).body).toContain('jso_runtime_info{backend="memory"} 1');
    // a span sent to the printed OTLP address comes back from the printed query address
    const otlp = new RegExp(`OTLP HTTP\\s+(http://${IP}:\\d+/v1/traces)`).exec(out)?.[1];
    const query = new RegExp(`Jaeger query \\(api_v3\\)\\s+(http://${IP}:\\d+)/api/v3/services`).exec(out)?.[1];
    expect(otlp && query).toBeTruthy();
    const now = BigInt(Date.now()) * 1_000_000n;
    const body = { resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'local-check' } }] }, scopeSpans: [{ spans: [{ traceId: '10ca1000000000000000000000000001', spanId: '10ca100000000001', name: 'hello', startTimeUnixNano: String(now), endTimeUnixNano: String(now + 1000n) }] }] }] };
    const sent = await fetch(otlp!, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    expect(sent.status).toBe(200);
    await waitFor('span readable', async () => (await fetchText(`${query}/api/v3/traces/10ca1000000000000000000000000001`)).code === 200, 10_000);
    const kubeconfig = /export KUBECONFIG=(\S+);/.exec(out)?.[1];
    expect(kubeconfig).toBeDefined();
    const pids = tree(s.proc.pid!);
    expect(pids.filter((p) => components.test(cmdline(p))).length).toBeGreaterThanOrEqual(6);
    const [runtime] = runtimes(s.proc.pid!);
    expect(runtime).toBeDefined();

    // a second start: one line saying where the first one is, non-zero, nothing started
    const second = startLocal('node', {}, s.stateFile);
    const code = await exitWithin(second, 20_000);
    if (code === 'still running') second.proc.kill('SIGKILL');
    expect(code).toBe(1);
    const lines = second.out().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`already running (pid ${s.proc.pid})`);
    expect(lines[0]).toContain(kubeconfig);
    expect(lines[0]).toContain(otlp!.replace(/^http:\/\/|\/v1\/traces$/g, ''));

    const client = KubeClient.load(kubeconfig!, { userAgent: 'jso-test' });
    try {
      // a SamplingPolicy: the live pod serves it and reports that it enforces it
      const policy = parse(readFileSync(join(ROOT, 'config/samples/samplingpolicy-probabilistic.yaml'), 'utf8')) as SamplingPolicy;
      policy.metadata.namespace = 'default';
      await client.apply(resourcePath(SAMPLING_POLICIES, 'default', policy.metadata.name), policy, 'jso-test');
      const sampling = admin!.replace(/:\d+$/, `:${DEFAULT_PORTS.samplingHttp}`);
      await waitFor('the pod serves the policy', async () => (await fetchText(`http://${sampling}/sampling?service=checkout`)).body.includes('0.5'), 30_000, 250);
      await waitFor('the policy reports one pod enforcing it', async () => {
        const p = await client.get<SamplingPolicy>(resourcePath(SAMPLING_POLICIES, 'default', policy.metadata.name));
        return p.status?.runtimes?.some((r) => r.generation === p.metadata.generation && r.replicas === 1);
      }, 30_000, 250);

      // spec.query: stock Jaeger (the binary) runs as the query front pod's process, reads through the runtime's
      // remote storage, and answers through its own API as the runtime does
      await client.request('PATCH', resourcePath(TRACESTORES, 'default', 'demo'), { body: { spec: { query: { enabled: true, basePath: '/jaeger' } } }, contentType: 'application/merge-patch+json' });
      const withUi = await waitFor('the query front available', async () => {
        const ts = await client.get<TraceStore>(resourcePath(TRACESTORES, 'default', 'demo'));
        return ts.status?.conditions?.some((c) => c.type === 'QueryAvailable' && c.status === 'True') && ts.status.observedGeneration === ts.metadata.generation ? ts : undefined;
      }, 60_000, 250);
      expect(withUi.status?.endpoints?.ui).toBe('http://demo-query.default.svc:16686/jaeger/');
      expect(withUi.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
      const frontIp = async () => (await client.get<{ items: { status?: { podIP?: string } }[] }>('/api/v1/namespaces/default/pods', { labelSelector: 'app.kubernetes.io/name=jaeger-storage-query' })).items[0]?.status?.podIP;
      const front = `http://${await frontIp()}:16686/jaeger`;
      expect(s.out()).toMatch(new RegExp(`query front pod default/demo-query-\\S+ of TraceStore demo: Jaeger on ${IP}`));
      expect(JSON.parse((await fetchText(`${front}/api/v3/services`)).body)).toEqual(JSON.parse((await fetchText(`${query}/api/v3/services`)).body));
      expect(JSON.parse((await fetchText(`${front}/api/services`)).body).data).toContain('local-check');
      const viaJaeger = JSON.parse((await fetchText(`${front}/api/traces/10ca1000000000000000000000000001`)).body) as { data: { spans: { spanID: string; operationName: string }[] }[] };
      expect(viaJaeger.data[0]!.spans.map((x) => [x.spanID, x.operationName])).toEqual([['10ca100000000001', 'hello']]);

      // an edited TraceStore rolls the process: a new one for the new pod, the old one gone
      await client.request('PATCH', resourcePath(TRACESTORES, 'default', 'demo'), { body: { spec: { backend: { memory: { maxTraces: 5000 } } } }, contentType: 'application/merge-patch+json' });
      const rolled = await waitFor('a new runtime process', async () => {
        const now = runtimes(s.proc.pid!);
        return now.length === 1 && now[0] !== runtime ? now[0] : undefined;
      }, 60_000, 250);
      expect(living([runtime!])).toEqual([]);
      await waitFor('the TraceStore Ready again', async () => {
        const ts = await client.get<TraceStore>(resourcePath(TRACESTORES, 'default', 'demo'));
        return ts.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') && ts.status.observedGeneration === ts.metadata.generation;
      }, 60_000, 250);
      expect(s.out()).toMatch(new RegExp(`runtime pod default/demo-runtime-\\S+ of TraceStore demo: process on ${IP}`));
      // the query front follows the runtime's new pod: its answers are the new runtime's
      await waitFor('the query front reading from the new runtime pod', async () => {
        const ip = await frontIp();
        const got = await fetchText(`http://${ip}:16686/jaeger/api/v3/services`).catch(() => undefined);
        const rt = (await client.get<{ items: { status?: { podIP?: string } }[] }>('/api/v1/namespaces/default/pods', { labelSelector: 'app.kubernetes.io/name=jaeger-storage-runtime' })).items.map((x) => x.status?.podIP);
        if (rt.length !== 1 || !rt[0]) return false;
        const mine = await fetchText(`http://${rt[0]}:${DEFAULT_PORTS.queryHttp}/api/v3/services`).catch(() => undefined);
        // Jaeger leaves an empty list out of its JSON ({}); ours sends {"services":[]}
        const list = (body: string) => JSON.stringify((JSON.parse(body) as { services?: string[] }).services ?? []);
        return got?.code === 200 && mine?.code === 200 && list(got.body) === list(mine.body);
      }, 60_000, 500);
      // the policy is Propagated again, reported by the new pod (not the deleted one)
      await waitFor('the policy Propagated=True after the rollout', async () => {
        const p = await client.get<SamplingPolicy>(resourcePath(SAMPLING_POLICIES, 'default', policy.metadata.name));
        const c = p.status?.conditions?.find((x) => x.type === 'Propagated');
        return c?.status === 'True' && p.status?.runtimes?.some((r) => r.generation === p.metadata.generation && r.replicas === 1);
      }, 30_000, 250);

      // a crashed process is restarted, and the pod says so
      process.kill(rolled, 'SIGKILL');
      const restarted = await waitFor('the runtime restarted', async () => {
        const now = runtimes(s.proc.pid!);
        return now.length === 1 && now[0] !== rolled ? now[0] : undefined;
      }, 30_000, 250);
      await waitFor('the pod Ready with one restart', async () => {
        const pods = await client.get<{ items: { status?: { conditions?: { type: string; status: string }[]; containerStatuses?: { restartCount: number }[] } }[] }>('/api/v1/namespaces/default/pods', { labelSelector: 'app.kubernetes.io/instance=demo,app.kubernetes.io/name=jaeger-storage-runtime' });
        const st = pods.items[0]?.status;
        return pods.items.length === 1 && st?.containerStatuses?.[0]?.restartCount === 1 && st.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      }, 30_000, 250);

      // a deleted TraceStore stops its process
      await client.request('DELETE', resourcePath(TRACESTORES, 'default', 'demo'));
      await waitFor('no runtime process left', async () => runtimes(s.proc.pid!).length === 0 && living([restarted]).length === 0, 60_000, 250);
      await waitFor('no Jaeger process left', async () => !tree(s.proc.pid!).some((p) => /jaeger --config/.test(cmdline(p))), 60_000, 250);
    } finally {
      client.close();
    }

    s.proc.kill('SIGINT');
    expect(await s.exited).toBe(0);
    await expectTreeGone(pids);
    await expect(fetchText(`http://${admin}/readyz`)).rejects.toThrow();
    expect(existsSync(s.stateFile)).toBe(false);
  } finally {
    if (s.proc.exitCode === null) s.proc.kill('SIGKILL');
  }
}, 240_000);

it.each([
  ['SIGTERM to `npm start` stops every process it started', 'SIGTERM'],
  ['the death of the parent (kill -9 of npm) stops every process local mode started', 'SIGKILL'],
] as const)('%s', async (_name, signal) => {
  const s = startLocal('npm');
  try {
    await waitUp(s);
    const pids = tree(s.proc.pid!);
    expect(pids.filter((p) => components.test(cmdline(p))).length).toBeGreaterThanOrEqual(5);
    s.proc.kill(signal);
    await s.exited;
    await expectTreeGone(pids);
    expect(existsSync(s.stateFile)).toBe(false);
  } finally {
    if (s.proc.exitCode === null) s.proc.kill('SIGKILL');
  }
}, 240_000);

it('Ctrl-C in a terminal (SIGINT to the whole foreground process group of `npm start`) stops everything in order', async () => {
  const s = startLocal('npm', {}, undefined, true);
  try {
    await waitUp(s);
    const pids = tree(s.proc.pid!);
    expect(pids.filter((p) => components.test(cmdline(p))).length).toBeGreaterThanOrEqual(5);
    // npm forwards the SIGINT its node process already got from the terminal: that second one must not cut the
    // orderly stop short
    process.kill(-s.proc.pid!, 'SIGINT');
    expect(await s.exited).toBe(0);
    expect(s.out()).not.toContain('stopping now');
    await expectTreeGone(pids);
  } finally {
    if (s.proc.exitCode === null) process.kill(-s.proc.pid!, 'SIGKILL');
  }
}, 240_000);

it('SIGHUP to the node process of `npm start` stops every process it started', async () => {
  const s = startLocal('npm');
  try {
    await waitUp(s);
    const pids = tree(s.proc.pid!);
    const node = pids.find((p) => /cli\.js local/.test(cmdline(p)));
    expect(node).toBeDefined();
    process.kill(node!, 'SIGHUP');
    await s.exited;
    await expectTreeGone(pids);
  } finally {
    if (s.proc.exitCode === null) s.proc.kill('SIGKILL');
  }
}, 240_000);

it('a taken well-known port is reported in one line before anything starts; a stale state file does not block', async () => {
  // the address local mode probes for its pods' ports (it is never a pod's): holding it takes the port from pods
  const taken = createServer();
  await new Promise<void>((r, j) => {
    taken.once('error', j);
    taken.listen(DEFAULT_PORTS.otlpGrpc, '127.1.255.254', () => r());
  });
  // the state file of a local mode killed with -9: its pid is gone
  const dead = spawn('true');
  await new Promise((r) => dead.on('exit', r));
  const stateFile = join(mkdtempSync(join(tmpdir(), 'jso-local-')), 'local.json');
  writeFileSync(stateFile, JSON.stringify({ pid: dead.pid, startedAt: new Date().toISOString(), phase: 'up', kubeconfig: '/nonexistent' }));
  const s = startLocal('node', {}, stateFile);
  try {
    const code = await exitWithin(s, 20_000);
    expect(code).toBe(1);
    const lines = s.out().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`port ${DEFAULT_PORTS.otlpGrpc} (otlpGrpc) is taken`);
    expect(lines[0]).toContain(`ss -ltnp 'sport = :${DEFAULT_PORTS.otlpGrpc}'`);
    expect(s.out()).not.toMatch(/control plane|\n\s+at /);
    expect(existsSync(stateFile)).toBe(false);
  } finally {
    if (s.proc.exitCode === null) s.proc.kill('SIGKILL');
    taken.close();
  }
}, 60_000);

interface Pod {
  metadata: { name: string; uid: string };
  spec: { volumes?: { persistentVolumeClaim?: { claimName: string } }[] };
  status?: { podIP?: string; conditions?: { type: string; status: string }[] };
}

const NS = 'default';
const TOKEN = 'local-remote-storage-token';
const SAMPLES = readdirSync(join(ROOT, 'config/samples'))
  .filter((f) => /^tracestore-.*\.yaml$/.test(f))
  .sort();

let os: RunningOpenSearch | undefined;
let es: RunningElasticsearch | undefined;
let remote: RunningRuntime | undefined;
let cql: RunningCassandra | undefined;
let ch: ClickHouseServer | undefined;
let pki: TestPki;
const CH_USER = { username: 'jaeger', password: 'clickhouse-sample-password' };

/** A sample with the addresses of the servers on loopback. */
function localized(file: string): TraceStore {
  const ts = parse(readFileSync(join(ROOT, 'config/samples', file), 'utf8')) as TraceStore;
  ts.metadata.namespace = NS;
  const b = ts.spec.backend;
  if (b.opensearch) {
    // the OpenSearch test server has no security plugin: plain http, no CA; shards and replicas of one node
    b.opensearch.endpoints = [os!.url];
    delete b.opensearch.tls;
    b.opensearch.allowPlaintextCredentials = true;
    b.opensearch.shards = 1;
    b.opensearch.replicas = 0;
  } else if (b.elasticsearch) {
    b.elasticsearch.endpoints = [es!.url];
  } else if (b.cassandra) {
    b.cassandra.endpoints = [`${cql!.host}:${cql!.port}`];
    b.cassandra.datacenter = CASSANDRA_DC;
    b.cassandra.replication = { strategy: 'NetworkTopologyStrategy', factor: 1 };
  } else if (b.clickhouse) {
    b.clickhouse.endpoints = [ch!.url];
  } else if (b.grpc) {
    b.grpc.endpoint = `127.0.0.1:${remote!.ports.remoteStorage}`;
    delete b.grpc.writerEndpoint;
    b.grpc.tls!.serverName = 'localhost';
  }
  return ts;
}

const replicasOf = (ts: TraceStore): number => (ts.spec.backend.embedded ? 1 : (ts.spec.runtime?.replicas ?? 1));
const backendOf = (ts: TraceStore): string => Object.keys(ts.spec.backend)[0]!;

async function putSecret(client: KubeClient, name: string, data: Record<string, string>): Promise<void> {
  await client.apply(resourcePath(SECRETS, NS, name), { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: NS, labels: { [SECRET_ALLOW_LABEL]: 'true' } }, stringData: data }, 'kubectl');
}

/** the runtime pods of a TraceStore (not those of its query front) */
const podsOf = async (client: KubeClient, instance: string): Promise<Pod[]> =>
  (await client.get<{ items: Pod[] }>(resourcePath(PODS, NS), { labelSelector: `app.kubernetes.io/instance=${instance},app.kubernetes.io/name=jaeger-storage-runtime` })).items;

const isReady = (p: Pod): boolean => !!p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');

const admin = (p: Pod): string => `http://${p.status!.podIP}:${DEFAULT_PORTS.admin}`;

/** One span of trace `id` sent by OTLP/HTTP JSON to the pod. */
async function sendSpan(p: Pod, id: string): Promise<number> {
  const now = BigInt(Date.now()) * 1_000_000n;
  const body = { resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'embedded-check' } }] }, scopeSpans: [{ spans: [{ traceId: id, spanId: id.slice(0, 16), name: 'kept', startTimeUnixNano: String(now), endTimeUnixNano: String(now + 1000n) }] }] }] };
  const r = await fetch(`http://${p.status!.podIP}:${DEFAULT_PORTS.otlpHttp}/v1/traces`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(5000) });
  await r.body?.cancel();
  return r.status;
}

const trace = (p: Pod, id: string): Promise<{ code: number; body: string }> => fetchText(`http://${p.status!.podIP}:${DEFAULT_PORTS.queryHttp}/api/v3/traces/${id}`);

describe('every TraceStore sample', () => {
  beforeAll(async () => {
    pki = testPki();
    const [o, e, r, q, k] = await Promise.allSettled([
      startOpenSearch(),
      startElasticsearch({ secure: true }),
      startSecuredRemoteStorage(pki, TOKEN),
      startCassandra({ auth: true, tls: { certFile: pki.certFile, keyFile: pki.keyFile, ca: pki.ca } }),
      startClickHouse({ user: CH_USER.username, password: CH_USER.password, tls: { certFile: pki.certFile, keyFile: pki.keyFile } }),
    ]);
    if (o.status === 'fulfilled') os = o.value;
    if (e.status === 'fulfilled') es = e.value;
    if (r.status === 'fulfilled') remote = r.value;
    if (q.status === 'fulfilled') cql = q.value;
    if (k.status === 'fulfilled') ch = k.value;
    for (const x of [o, e, r, q, k]) if (x.status === 'rejected') throw x.reason;
  }, 240_000);
  afterAll(async () => {
    await Promise.all([os?.stop(), es?.stop(), remote?.stop(), cql?.stop(), ch?.stop()]);
  });

  it('runs every TraceStore sample as processes of its own; the embedded store keeps its spans across a pod restart', async () => {
    const s: Started = startLocal('node');
    let client: KubeClient | undefined;
    try {
      await waitUp(s);
      const kubeconfig = /export KUBECONFIG=(\S+);/.exec(s.out())?.[1];
      expect(kubeconfig).toBeDefined();
      client = KubeClient.load(kubeconfig!, { userAgent: 'jso-test' });
      const c = client;

      // the Secrets the samples' comments ask for
      await putSecret(c, 'opensearch-credentials', { username: 'jaeger', password: 'not-checked-without-security' });
      await putSecret(c, 'elasticsearch-credentials', { username: ES_USERS.admin.username, password: ES_USERS.admin.password });
      await putSecret(c, 'elasticsearch-ca', { 'ca.crt': es!.ca! });
      await putSecret(c, 'remote-storage-ca', { 'ca.crt': pki.ca });
      await putSecret(c, 'remote-storage-token', { token: TOKEN });
      await putSecret(c, 'cassandra-credentials', { ...cql!.credentials! });
      await putSecret(c, 'cassandra-ca', { 'ca.crt': pki.ca });
      await putSecret(c, 'clickhouse-credentials', CH_USER);
      await putSecret(c, 'clickhouse-ca', { 'ca.crt': pki.ca });

      const stores = SAMPLES.map(localized);
      expect(stores.map(backendOf).sort()).toEqual(expect.arrayContaining(['cassandra', 'clickhouse', 'elasticsearch', 'embedded', 'grpc', 'memory', 'opensearch']));
      for (const ts of stores) await c.apply(resourcePath(TRACESTORES, NS, ts.metadata.name), ts, 'kubectl');

      // each store Ready, each of its pods Ready on an address of its own, served by a runtime of its backend
      const ips = new Set<string>();
      for (const ts of stores) {
        const name = ts.metadata.name;
        const pods = await waitFor(`${name}: ${replicasOf(ts)} pods Ready`, async () => {
          const st = await c.get<TraceStore>(resourcePath(TRACESTORES, NS, name));
          const ready = st.status?.conditions?.find((x) => x.type === 'Ready');
          if (ready?.status !== 'True' || st.status?.observedGeneration !== st.metadata.generation) return undefined;
          const list = await podsOf(c, name);
          return list.length === replicasOf(ts) && list.every(isReady) ? list : undefined;
        }, 180_000, 500).catch(async (e: Error) => {
          const st = await c.get<TraceStore>(resourcePath(TRACESTORES, NS, name));
          throw new Error(`${e.message}; conditions: ${JSON.stringify(st.status?.conditions)}\n${s.out().slice(-3000)}`);
        });
        for (const p of pods) {
          expect(p.status?.podIP).toMatch(/^127\.1\.\d+\.\d+$/);
          ips.add(p.status!.podIP!);
          expect((await fetchText(`${admin(p)}/readyz`)).code).toBe(200);
          expect((await fetchText(`${admin(p)}/metrics`)).body).toContain(`jso_runtime_info{backend="${backendOf(ts)}"} 1`);
        }
      }
      // the sample with the Jaeger UI: its front (the Jaeger binary) answers under its base path from its runtime
      const ui = stores.find((ts) => ts.spec.query?.enabled)!;
      const [front] = (await c.get<{ items: Pod[] }>(resourcePath(PODS, NS), { labelSelector: `app.kubernetes.io/instance=${ui.metadata.name},app.kubernetes.io/name=jaeger-storage-query` })).items;
      expect(isReady(front!)).toBe(true);
      expect((await fetchText(`http://${front!.status!.podIP}:16686${ui.spec.query!.basePath ?? ''}/api/v3/services`)).code).toBe(200);
      const total = stores.reduce((n, ts) => n + replicasOf(ts), 0);
      expect(ips.size).toBe(total);
      await waitFor(`${total} runtime processes`, async () => runtimes(s.proc.pid!).length === total, 30_000, 250);

      // embedded: its claim is bound to a directory of local mode
      const embedded = stores.find((ts) => ts.spec.backend.embedded)!.metadata.name;
      const [before] = await podsOf(c, embedded);
      const claimName = before!.spec.volumes!.find((v) => v.persistentVolumeClaim)!.persistentVolumeClaim!.claimName;
      const claim = await c.get<{ spec: { storageClassName?: string; volumeName?: string }; status?: { phase?: string } }>(resourcePath(PERSISTENTVOLUMECLAIMS, NS, claimName));
      expect(claim).toMatchObject({ spec: { storageClassName: LOCAL_STORAGE_CLASS }, status: { phase: 'Bound' } });
      const pv = await c.get<{ spec: { hostPath?: { path: string } } }>(resourcePath(PERSISTENTVOLUMES, undefined, claim.spec.volumeName));
      const dir = pv.spec.hostPath!.path;
      expect(dir.startsWith(join(kubeconfig!, '..'))).toBe(true);

      // spans written, pod deleted: the pod that replaces it reads them from the same directory
      const ids = ['e0bedded000000000000000000000001', 'e0bedded000000000000000000000002'];
      for (const id of ids) expect(await sendSpan(before!, id)).toBe(200);
      for (const id of ids) await waitFor('span readable', async () => (await trace(before!, id)).code === 200, 10_000, 100);
      const runtimeOf = (p: Pod): number[] => runtimes(s.proc.pid!).filter((x) => cmdline(x).includes(`_${p.metadata.uid}/`));
      const oldProcess = runtimeOf(before!);
      expect(oldProcess).toHaveLength(1);
      await c.request('DELETE', resourcePath(PODS, NS, before!.metadata.name));
      const after = await waitFor('a new embedded pod Ready', async () => {
        const [p] = await podsOf(c, embedded);
        return p && p.metadata.uid !== before!.metadata.uid && isReady(p) ? p : undefined;
      }, 90_000, 250);
      for (const id of ids) {
        const got = await trace(after, id);
        expect(got.code).toBe(200);
        expect(got.body).toContain('kept');
      }
      // the new pod has a process of its own; the old pod's is gone
      expect(runtimeOf(after)).toHaveLength(1);
      expect(living(oldProcess)).toEqual([]);

      // deletionPolicy Delete: the claim goes with the TraceStore, and the volume and its directory with the claim
      // (once the StatefulSet owns the claim: deleting sooner would orphan it)
      await c.request('PATCH', resourcePath(TRACESTORES, NS, embedded), { body: { spec: { deletionPolicy: 'Delete' } }, contentType: 'application/merge-patch+json' });
      await waitFor('the StatefulSet owns the claim', async () => {
        const pvc = await c.get<{ metadata: { ownerReferences?: { kind: string; name: string }[] } }>(resourcePath(PERSISTENTVOLUMECLAIMS, NS, claimName));
        return pvc.metadata.ownerReferences?.some((o) => o.kind === 'StatefulSet');
      }, 60_000, 250);
      await c.request('DELETE', resourcePath(TRACESTORES, NS, embedded));
      await waitFor('claim, volume and directory gone', async () => {
        const claims = await c.get<{ items: { metadata: { name: string } }[] }>(resourcePath(PERSISTENTVOLUMECLAIMS, NS));
        const volumes = await c.get<{ items: { metadata: { name: string } }[] }>(resourcePath(PERSISTENTVOLUMES));
        return !claims.items.some((x) => x.metadata.name === claimName) && !volumes.items.some((x) => x.metadata.name === claim.spec.volumeName) && !existsSync(dir);
      }, 90_000, 250);
      await waitFor('its process gone', async () => runtimes(s.proc.pid!).length === total - 1, 30_000, 250);

      const pids = tree(s.proc.pid!);
      s.proc.kill('SIGTERM');
      expect(await s.exited).toBe(0);
      await expectTreeGone(pids);
    } catch (e) {
      // what the runtimes said (the state directory goes when local mode stops)
      const kc = /export KUBECONFIG=(\S+);/.exec(s.out())?.[1];
      const podsDir = kc ? join(kc, '..', 'pods') : undefined;
      const logs = podsDir && existsSync(podsDir) ? readdirSync(podsDir).map((d) => `${d}: ${existsSync(join(podsDir, d, 'runtime.log')) ? readFileSync(join(podsDir, d, 'runtime.log'), 'utf8').slice(-600) : '(no log)'}`) : [];
      throw new Error(`${(e as Error).message}\nruntime logs:\n${logs.join('\n')}\nprocesses: ${tree(s.proc.pid!).map((p) => `${p} ${cmdline(p)}`).join('\n')}`);
    } finally {
      client?.close();
      if (s.proc.exitCode === null) s.proc.kill('SIGKILL');
    }
  }, 600_000);
});
