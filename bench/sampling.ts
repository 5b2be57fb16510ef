// Sampling benchmarks.
//  1. Propagation: from the API write of a SamplingPolicy to both of two runtimes enforcing it (100 updates,
//     p50/p99; runtimes in this process, watching through the API server of a local control plane). Peer: the
//     Jaeger v2 binary's file strategy provider (reload_interval 1s, its documented way to change strategies
//     without a restart), from the file write (at a random point of its period) to /sampling answering the new value.
//  2. Policy cost on the ingest path: ns per span of the ingest rules with a 50-rule policy (in process), and
//     OTLP/gRPC ingest throughput of a runtime process with that policy vs none (same load as bench:ingest).
//
//   npm run bench:sampling                      starts a local control plane (built and cached on first use)
//   BENCH_UPDATES=20 BENCH_SPANS=100000 npm run bench:sampling
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { SamplingPolicy, StaticSamplingPolicy } from '../src/api/samplingpolicy.js';
import { KubeClient, resourcePath } from '../src/kube/client.js';
import { ControlPlane } from '../src/local/controlplane.js';
import { installCrds } from '../src/local/install.js';
import { listenAll, parseRuntimeConfig } from '../src/api/runtime-config.js';
import { compileStatic } from '../src/runtime/sampling/runtime.js';
import { type RunningRuntime, startRuntime } from '../src/runtime/server.js';
import { applyIngestRules } from '../src/sampling/evaluate.js';
import { EMPTY_SAMPLING } from '../src/sampling/policy.js';
import { decodeTracesProto } from '../src/otlp/otlp-proto.js';
import { startJaeger } from '../test/env/jaeger.js';
import { PER_REQUEST, PER_TRACE, SPANS, TRACES, load, request, startOurs } from './otlp-load.js';
import { SAMPLING_POLICIES } from '../src/kube/resources.js';

const UPDATES = Number(process.env.BENCH_UPDATES ?? 100);
const silent = pino({ level: 'silent' });
const pct = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** 50 rules over the services and operations of the load: 10 blocked services and 20 blocked operations that
 * never match, and 20 downsampling overrides that keep 99.5% (every span is hashed and tagged). */
export function fiftyRules(): StaticSamplingPolicy {
  return {
    name: 'fifty',
    rules: {
      blocklist: {
        services: Array.from({ length: 10 }, (_, i) => `retired-${i}`),
        operations: Array.from({ length: 20 }, (_, i) => ({ service: `service-${i}`, name: `GET /health-${i}` })),
      },
      downsampling: { ratio: 0.999, overrides: Array.from({ length: 20 }, (_, i) => ({ service: `service-${i}`, operation: `op-${i % 10}`, ratio: 0.995 })) },
    },
  };
}

async function propagation(kubeconfig: string): Promise<number[]> {
  const client = KubeClient.load(kubeconfig, { userAgent: 'jso-bench' });
  const ns = `jso-bench-${Date.now().toString(36)}`;
  await client.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } });
  const listen = listenAll('127.0.0.1:0');
  const runtimes: RunningRuntime[] = [];
  for (let i = 0; i < 2; i++) {
    const cfg = parseRuntimeConfig({ apiVersion: 'storage.jaegertracing.io/v1alpha1', kind: 'RuntimeConfig', traceStore: { namespace: ns, name: 'bench' }, backend: { memory: {} }, listen, sampling: { watchPolicies: true, kubeconfig } });
    runtimes.push(await startRuntime(cfg, silent));
  }
  const path = resourcePath(SAMPLING_POLICIES, ns, 'bench');
  const apply = (value: number) =>
    client.apply<SamplingPolicy>(path, { apiVersion: 'storage.jaegertracing.io/v1alpha1', kind: 'SamplingPolicy', metadata: { name: 'bench', namespace: ns }, spec: { targetRef: { name: 'bench' }, default: { type: 'probabilistic', value } } }, 'jso-bench');
  const enforced = (value: number) =>
    Promise.all(
      runtimes.map(
        (rt) =>
          new Promise<void>((resolve) => {
            if (rt.sampling.policy.defaultStrategy?.value === value) return resolve();
            rt.sampling.watcher!.onChange((c) => c.defaultStrategy?.value === value && resolve());
          }),
      ),
    );
  const out: number[] = [];
  try {
    await apply(0.5);
    await enforced(0.5);
    for (let i = 1; i <= UPDATES; i++) {
      const value = i / 10_000;
      const done = enforced(value);
      const t0 = performance.now();
      await apply(value);
      await Promise.race([done, sleep(10_000).then(() => Promise.reject(new Error(`update ${i} not enforced within 10 s`)))]);
      out.push(performance.now() - t0);
    }
  } finally {
    await Promise.all(runtimes.map((r) => r.stop()));
    client.close();
  }
  return out;
}

async function jaegerFileReload(): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), 'jso-bench-sampling-'));
  const file = join(dir, 'strategies.json');
  const write = (p: number) => writeFileSync(file, JSON.stringify({ default_strategy: { type: 'probabilistic', param: p } }));
  write(0.5);
  const j = await startJaeger(`        memory:\n          max_traces: 1000`, { sampling: { file, reloadInterval: '1s' } });
  const current = async () => ((await (await fetch(`http://127.0.0.1:${j.samplingHttp}/sampling?service=x`)).json()) as { probabilisticSampling?: { samplingRate?: number } }).probabilisticSampling?.samplingRate;
  const out: number[] = [];
  try {
    for (let i = 1; i <= UPDATES; i++) {
      const value = i / 10_000;
      await sleep(Math.random() * 1000); // writes land at random points of Jaeger's reload period
      const t0 = performance.now();
      write(value);
      for (let k = 0; ; k++) {
        if ((await current()) === value) break;
        if (k > 2000) throw new Error(`jaeger did not pick up update ${i}`);
        await sleep(5);
      }
      out.push(performance.now() - t0);
    }
  } finally {
    await j.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

function evaluationCost(): { noneNs: number; fiftyNs: number } {
  const base = BigInt(Date.now()) * 1_000_000n;
  const bodies = Array.from({ length: 40 }, (_, k) => request(k * (PER_REQUEST / PER_TRACE), base));
  const policy = compileStatic([fiftyRules()]);
  const measure = (c: typeof policy): number => {
    let ns = 0n;
    let spans = 0;
    for (let round = 0; round < 5; round++) {
      for (const b of bodies) {
        const traces = decodeTracesProto(b, { lazy: true }).traces; // fresh, as the receivers decode it: the rules tag kept spans in place
        const t0 = process.hrtime.bigint();
        const r = applyIngestRules(c, traces);
        ns += process.hrtime.bigint() - t0;
        spans += r.kept + r.blocked + r.downsampled;
      }
    }
    return Number(ns) / spans;
  };
  // warm up both paths, then measure each twice and keep the better (JIT, GC)
  measure(EMPTY_SAMPLING);
  measure(policy);
  return { noneNs: Math.min(measure(EMPTY_SAMPLING), measure(EMPTY_SAMPLING)), fiftyNs: Math.min(measure(policy), measure(policy)) };
}

async function ingest(): Promise<{ none: number; fifty: number }> {
  const base = BigInt(Date.now() - 600_000) * 1_000_000n;
  const bodies: Buffer[] = [];
  for (let i = 0; i < TRACES; i += PER_REQUEST / PER_TRACE) bodies.push(request(i, base));
  const dir = mkdtempSync(join(tmpdir(), 'jso-bench-sampling-'));
  const result = { none: 0, fifty: 0 };
  try {
    for (const [key, extra] of [
      ['none', {}],
      ['fifty', { sampling: { policies: [fiftyRules()] } }],
    ] as const) {
      const t = await startOurs(dir, extra, `ours, ${key === 'none' ? 'no policy' : '50-rule policy'}`);
      try {
        const { ackS } = await load(t, bodies, { lastTraceWhole: false });
        result[key] = SPANS / ackS;
      } finally {
        t.proc.kill('SIGTERM');
        await new Promise((r) => t.proc.once('exit', r));
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return result;
}

async function main(): Promise<void> {
  let cp: ControlPlane | undefined;
  let kubeconfig = process.env.KUBECONFIG;
  if (!kubeconfig) {
    cp = new ControlPlane({ build: true, nodes: 1, log: (l) => console.error(l), beforeControllers: async (kc) => installCrds(KubeClient.load(kc)) });
    kubeconfig = (await cp.start()).kubeconfig;
  }
  try {
    await installCrds(KubeClient.load(kubeconfig));
    const ours = await propagation(kubeconfig);
    console.log(`propagation, API write -> both of 2 runtimes enforcing (${UPDATES} updates): p50 ${pct(ours, 0.5).toFixed(1)} ms, p99 ${pct(ours, 0.99).toFixed(1)} ms, max ${Math.max(...ours).toFixed(1)} ms`);
    const peer = await jaegerFileReload();
    console.log(`jaeger v2 file strategies (reload_interval 1s), file write -> /sampling answers it (${UPDATES} updates): p50 ${pct(peer, 0.5).toFixed(1)} ms, p99 ${pct(peer, 0.99).toFixed(1)} ms`);
    console.log(`ratio ours/jaeger: p50 ${(pct(ours, 0.5) / pct(peer, 0.5)).toFixed(3)}x, p99 ${(pct(ours, 0.99) / pct(peer, 0.99)).toFixed(3)}x (lower is better)`);
  } finally {
    await cp?.stop();
  }
  const cost = evaluationCost();
  console.log(`ingest rules per span (in process): no policy ${cost.noneNs.toFixed(1)} ns, 50-rule policy ${cost.fiftyNs.toFixed(1)} ns`);
  const t = await ingest();
  console.log(
    `OTLP/gRPC ingest of ${SPANS.toLocaleString('en')} spans: no policy ${Math.round(t.none).toLocaleString('en')} spans/s, 50-rule policy ${Math.round(t.fifty).toLocaleString('en')} spans/s = ${(t.fifty / t.none).toFixed(2)}x`,
  );
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
