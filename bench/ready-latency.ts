// Time from the API call that creates a memory TraceStore to Ready=True (median of 20), next to the time a
// bare Deployment with the same pod template needs to become Available on the same control plane: the ratio is
// what the operator adds on top of Kubernetes itself. Also: API requests per reconcile while creating, and in
// steady state (a forced resync of every key).
//
//   npm run bench:ready                 # starts a local control plane (built and cached on first use)
//   KUBECONFIG=... npm run bench:ready  # against an existing cluster (creates namespace jso-bench-*)
//   BENCH_N=3 npm run bench:ready       # fewer creates
import { PLUGINS } from '../src/storage/plugins.js';
import { pino } from 'pino';
import type { V1Deployment } from '@kubernetes/client-node';
import type { TraceStore } from '../src/api/tracestore.js';
import { Operator, defaultOperatorOptions } from '../src/controllers/manager.js';
import { KubeClient, resourcePath } from '../src/kube/client.js';
import { Informer, type KubeObject } from '../src/kube/informer.js';
import { ControlPlane } from '../src/local/controlplane.js';
import { installCrds } from '../src/local/install.js';
import { desiredRuntime } from '../src/reconcilers/tracestore/desired.js';
import { DEPLOYMENTS, SERVICEACCOUNTS, TRACESTORES } from '../src/kube/resources.js';

const N = Number(process.env.BENCH_N ?? 20);
const silent = pino({ level: 'silent' });

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Resolves when `pred` holds for the object `key` in the informer's cache (event-driven, bounded). */
function whenCached<T extends KubeObject>(inf: Informer<T>, key: string, pred: (o: T) => boolean, timeoutMs = 60_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const check = (o: T) => {
      if (`${o.metadata.namespace}/${o.metadata.name}` === key && pred(o)) {
        clearTimeout(timer);
        done = true;
        resolve(performance.now());
      }
    };
    let done = false;
    const timer = setTimeout(() => !done && reject(new Error(`timed out waiting for ${key}`)), timeoutMs);
    inf.on({ add: check, update: (_a, b) => !done && check(b) });
    const cur = inf.get(key);
    if (cur) check(cur);
  });
}

async function main(): Promise<void> {
  let cp: ControlPlane | undefined;
  let kubeconfig = process.env.KUBECONFIG;
  if (!kubeconfig) {
    cp = new ControlPlane({ build: true, nodes: 2, log: (l) => console.error(l), beforeControllers: async (kc) => installCrds(KubeClient.load(kc)) });
    kubeconfig = (await cp.start()).kubeconfig;
  }
  const client = KubeClient.load(kubeconfig, { userAgent: 'jso-bench' });
  await installCrds(client);
  const ns = `jso-bench-${Date.now().toString(36)}`;
  await client.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } });
  for (let i = 0; i < 100; i++) {
    try {
      await client.get(`/api/v1/namespaces/${ns}/serviceaccounts/default`);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  const o = defaultOperatorOptions(PLUGINS);
  Object.assign(o, { kubeconfig, namespace: ns, opsHost: '127.0.0.1', opsPort: 0, runtimeImage: 'jaeger-storage-operator:bench' });
  o.leaderElection.enabled = false;
  const op = new Operator(o, silent);
  await op.start();

  const stores = new Informer<TraceStore & KubeObject>(client, TRACESTORES, silent, { namespace: ns });
  const deps = new Informer<V1Deployment & KubeObject>(client, DEPLOYMENTS, silent, { namespace: ns });
  stores.start();
  deps.start();
  await Promise.all([stores.waitForSync(), deps.waitForSync()]);

  const mk = (name: string): TraceStore => ({ apiVersion: 'storage.jaegertracing.io/v1alpha1', kind: 'TraceStore', metadata: { name, namespace: ns }, spec: { backend: { memory: { maxTraces: 1000 } } } });
  const isReady = (t: TraceStore) => !!t.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') && t.status?.observedGeneration === t.metadata.generation;

  // peer: a bare Deployment with the runtime's pod template, created directly. The template names the store's own
  // ServiceAccount, which only the operator creates: the peer gets one of its own before its clock starts, or its
  // ReplicaSet could never create a pod.
  const peer: number[] = [];
  for (let i = 0; i < N; i++) {
    const desired = desiredRuntime({ ...mk(`peer-${i}`), metadata: { name: `peer-${i}`, namespace: ns, uid: 'x' } }, { runtimeImage: 'jaeger-storage-operator:bench', plugins: PLUGINS });
    const d = desired.deployment!;
    const sa = { ...desired.serviceAccount, metadata: { name: d.spec!.template.spec!.serviceAccountName!, namespace: ns } };
    await client.apply(resourcePath(SERVICEACCOUNTS, ns, sa.metadata.name), sa, 'jso-bench');
    d.metadata = { name: `peer-${i}`, namespace: ns };
    d.spec!.selector = { matchLabels: { bench: `peer-${i}` } };
    d.spec!.template.metadata = { labels: { bench: `peer-${i}` } };
    d.spec!.template.spec!.volumes = [];
    d.spec!.template.spec!.containers[0]!.volumeMounts = [];
    const key = `${ns}/peer-${i}`;
    const t0 = performance.now();
    const available = whenCached(deps, key, (x) => (x.status?.availableReplicas ?? 0) >= 1 && (x.status?.observedGeneration ?? 0) >= (x.metadata.generation ?? 1));
    await client.apply(resourcePath(DEPLOYMENTS, ns, `peer-${i}`), d, 'jso-bench');
    peer.push((await available) - t0);
  }

  const reqBefore = op.client.stats.reads + op.client.stats.writes;
  const recBefore = (await op.metrics.reconcileTotal.get()).values.reduce((a, v) => a + v.value, 0);
  const ours: number[] = [];
  for (let i = 0; i < N; i++) {
    const key = `${ns}/bench-${i}`;
    const t0 = performance.now();
    const ready = whenCached(stores, key, isReady);
    await client.apply(resourcePath(TRACESTORES, ns, `bench-${i}`), mk(`bench-${i}`), 'jso-bench');
    ours.push((await ready) - t0);
  }
  await new Promise((r) => setTimeout(r, 2000));
  const recCreate = (await op.metrics.reconcileTotal.get()).values.reduce((a, v) => a + v.value, 0) - recBefore;
  const reqCreate = op.client.stats.reads + op.client.stats.writes - reqBefore;

  // steady state: reconcile every key again
  const reqSteadyBefore = op.client.stats.reads + op.client.stats.writes;
  const recSteadyBefore = (await op.metrics.reconcileTotal.get()).values.reduce((a, v) => a + v.value, 0);
  for (let i = 0; i < N; i++) op.controller.enqueue(`${ns}/bench-${i}`);
  await new Promise((r) => setTimeout(r, 2000));
  const recSteady = (await op.metrics.reconcileTotal.get()).values.reduce((a, v) => a + v.value, 0) - recSteadyBefore;
  const reqSteady = op.client.stats.reads + op.client.stats.writes - reqSteadyBefore;

  const fmt = (x: number) => `${x.toFixed(0)} ms`;
  console.log(`\nready-latency benchmark (${N} sequential creates, namespace ${ns}, API server ${client.serverUrl})`);
  console.log(`  TraceStore apply -> Ready=True          median ${fmt(median(ours))}  p90 ${fmt(quantile(ours, 0.9))}  max ${fmt(Math.max(...ours))}`);
  console.log(`  peer: Deployment apply -> Available      median ${fmt(median(peer))}  p90 ${fmt(quantile(peer, 0.9))}  max ${fmt(Math.max(...peer))}`);
  console.log(`  ratio (TraceStore / bare Deployment)     ${(median(ours) / median(peer)).toFixed(2)}x`);
  console.log(`  API requests per reconcile, creating     ${(reqCreate / recCreate).toFixed(2)}  (${reqCreate} requests / ${recCreate} reconciles)`);
  console.log(`  API requests per reconcile, steady state ${(reqSteady / Math.max(1, recSteady)).toFixed(2)}  (${reqSteady} requests / ${recSteady} reconciles)`);
  console.log(`  requests by kind while creating: ${[...op.client.stats.byKey].map(([k, v]) => `${k}=${v}`).join(', ')}`);

  await stores.stop();
  await deps.stop();
  await op.stop();
  await client.request('DELETE', `/api/v1/namespaces/${ns}`).catch(() => undefined);
  client.close();
  await cp?.stop();
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
