// SamplingPolicy end to end on the real control plane: the operator judges policies and reports propagation;
// runtimes (in this process, on loopback) watch their policies through the API, enforce ingest rules and serve
// remote sampling to a client we did not write, @opentelemetry/sampler-jaeger-remote inside the OpenTelemetry
// JS SDK. Two runtimes downsample consistently; a runtime cut off from the API keeps its last policy.
import { randomBytes } from 'node:crypto';
import { SpanKind, TraceFlags } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { JaegerRemoteSampler } from '@opentelemetry/sampler-jaeger-remote';
import { AlwaysOnSampler, BasicTracerProvider, SimpleSpanProcessor, type Sampler } from '@opentelemetry/sdk-trace-base';
import * as grpc from '@grpc/grpc-js';
import type { V1Lease, V1Pod } from '@kubernetes/client-node';
import { pino } from 'pino';
import { backendReportAnnotation, reportAnnotation, runtimeReportLeaseName } from '../../src/api/contract.js';
import type { SamplingPolicy, SamplingPolicySpec } from '../../src/api/samplingpolicy.js';
import type { Operator } from '../../src/controllers/manager.js';
import { type KubeClient, resourcePath } from '../../src/kube/client.js';
import { type RunningRuntime, startRuntime } from '../../src/runtime/server.js';
import { RATIO_ATTRIBUTE } from '../../src/sampling/evaluate.js';
import { encodeTracesProto } from '../../src/otlp/otlp-proto.js';
import { newSpan, serviceBatch, type ResourceSpans } from '../../src/storage/api/index.js';
import { type ApiProxy, applyStore, conditionOf, createNamespace, fetchText, getStore, loopbackRuntimeConfig, memoryStore, startApiProxy, startInProcessOperator, sumMetric, testClient, waitFor, waitReady } from '../helpers.js';
import { loadService } from '../env/protos.js';
import { SAMPLING_POLICIES } from '../../src/kube/resources.js';

let client: KubeClient;
let ns: string;
let op: Operator;
let proxy: ApiProxy;
let podName: string;
const runtimes: RunningRuntime[] = [];
let a: RunningRuntime;
let b: RunningRuntime;

async function runtime(pod?: string): Promise<RunningRuntime> {
  const cfg = loopbackRuntimeConfig({
    traceStore: { namespace: ns, name: 'shop' },
    backend: { memory: { maxTraces: 50_000 } },
    ingest: { batchAgeMs: 10, maxQueuedSpans: 1_000_000 },
    sampling: { watchPolicies: true, kubeconfig: proxy.kubeconfig, adaptiveIntervalMs: 250, ...(pod ? { podName: pod } : {}) },
  });
  const rt = await startRuntime(cfg, pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }));
  runtimes.push(rt);
  return rt;
}

const policyPath = (name: string) => resourcePath(SAMPLING_POLICIES, ns, name);
const applyPolicy = (name: string, spec: Omit<SamplingPolicySpec, 'targetRef'>, target = 'shop') =>
  client.apply<SamplingPolicy>(policyPath(name), { apiVersion: 'storage.jaegertracing.io/v1alpha1', kind: 'SamplingPolicy', metadata: { name, namespace: ns }, spec: { targetRef: { name: target }, ...spec } }, 'jso-test');
const getPolicy = (name: string) => client.get<SamplingPolicy>(policyPath(name));
const condition = (p: SamplingPolicy, type: string) => p.status?.conditions?.find((c) => c.type === type);

async function strategy(rt: RunningRuntime, service: string): Promise<{ strategyType: string; probabilisticSampling?: { samplingRate: number }; operationSampling?: { perOperationStrategies: { operation: string }[] } }> {
  const r = await fetchText(`http://127.0.0.1:${rt.ports.samplingHttp}/sampling?service=${encodeURIComponent(service)}`);
  expect(r.code).toBe(200);
  return JSON.parse(r.body) as never;
}

const enforces = (rt: RunningRuntime, name: string, generation: number) => rt.sampling.policy.enforced.some((e) => e.name === name && e.generation === generation);

async function postOtlp(rt: RunningRuntime, traces: ResourceSpans[]): Promise<void> {
  const r = await fetch(`http://127.0.0.1:${rt.ports.otlpHttp}/v1/traces`, { method: 'POST', headers: { 'Content-Type': 'application/x-protobuf' }, body: new Uint8Array(encodeTracesProto(traces)) });
  expect(r.status).toBe(200);
}

beforeAll(async () => {
  client = testClient();
  ns = await createNamespace(client, 'sampling');
  op = await startInProcessOperator(ns);
  proxy = await startApiProxy();
  await applyStore(client, memoryStore('shop', ns, 1000));
  await waitReady(client, ns, 'shop');
  const pods = await client.get<{ items: V1Pod[] }>(`/api/v1/namespaces/${ns}/pods`, { labelSelector: 'app.kubernetes.io/instance=shop' });
  expect(pods.items).toHaveLength(1);
  podName = pods.items[0]!.metadata!.name!;
  // replica a speaks for the store's (kwok) pod; replica b is a second runtime of the same store
  a = await runtime(podName);
  b = await runtime();
});
afterAll(async () => {
  await Promise.all(runtimes.map((r) => r.stop()));
  await op?.stop();
  await proxy?.close();
  client?.close();
});

describe('SamplingPolicy', () => {
  it('reaches the runtimes, which report it; the operator marks it Accepted and Propagated', async () => {
    const applied = await applyPolicy('main', { default: { type: 'probabilistic', value: 0.5 } });
    expect(applied.metadata.generation).toBe(1);
    await waitFor('both runtimes enforce main=1', async () => enforces(a, 'main', 1) && enforces(b, 'main', 1), 10_000, 20);
    expect(await strategy(a, 'anything')).toEqual({ strategyType: 'PROBABILISTIC', probabilisticSampling: { samplingRate: 0.5 } });
    const p = await waitFor('Propagated=True', async () => {
      const x = await getPolicy('main');
      return condition(x, 'Propagated')?.status === 'True' ? x : undefined;
    });
    expect(condition(p, 'Accepted')).toMatchObject({ status: 'True', reason: 'Accepted' });
    expect(p.status?.runtimes).toEqual([{ generation: 1, replicas: 1 }]);
    expect(p.status?.observedGeneration).toBe(1);
    // the report is on the store's report Lease, keyed by the pod, not on the pod (the runtime may not patch pods)
    const lease = await client.get<V1Lease>(`/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/${runtimeReportLeaseName('shop')}`);
    expect(lease.metadata?.annotations?.[reportAnnotation(podName)]).toBe('main=1');
    const pod = await client.get<V1Pod>(`/api/v1/namespaces/${ns}/pods/${podName}`);
    expect(Object.keys(pod.metadata?.annotations ?? {}).filter((k) => k.includes('sampling'))).toEqual([]);
  });

  it('ignores and prunes reports on the Lease from pods that do not exist', async () => {
    const leasePath = `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/${runtimeReportLeaseName('shop')}`;
    const ghost = reportAnnotation('shop-runtime-gone-12345');
    const ghostBackend = backendReportAnnotation('shop-runtime-gone-12345');
    await client.request('PATCH', leasePath, { body: { metadata: { annotations: { [ghost]: 'main=999', [ghostBackend]: 'disk full' } } }, contentType: 'application/merge-patch+json' });
    await waitFor('the ghost reports are pruned', async () => {
      const l = await client.get<V1Lease>(leasePath);
      const an = l.metadata?.annotations ?? {};
      return an[ghost] === undefined && an[ghostBackend] === undefined && an[reportAnnotation(podName)] !== undefined;
    });
    // a pod that is gone cannot hold the store unready: once its report is pruned, Ready does not say BackendFull
    await waitFor('Ready without the ghost BackendFull', async () => conditionOf(await getStore(client, ns, 'shop'), 'Ready')?.reason !== 'BackendFull', 15_000, 50);
    const p = await getPolicy('main');
    expect(p.status?.runtimes?.some((r) => r.generation === 999)).toBe(false);
  });

  it('drives the decisions of the OpenTelemetry JS remote sampler after its next poll', async () => {
    const sampler = pollingSampler(`http://127.0.0.1:${a.ports.samplingHttp}`, 'web', 100);
    try {
      const provider = new BasicTracerProvider({ sampler: sampler.sampler });
      const tracer = provider.getTracer('t');
      const sampled = (name: string) => {
        const s = tracer.startSpan(name, { kind: SpanKind.SERVER });
        s.end();
        return (s.spanContext().traceFlags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED;
      };
      const rate = (name: string, n = 400) => Array.from({ length: n }, () => sampled(name)).filter(Boolean).length / n;

      await applyPolicy('main', { default: { type: 'probabilistic', value: 0 } });
      await waitFor('the SDK samples nothing', async () => rate('browse', 50) === 0, 10_000, 50);

      await applyPolicy('main', { default: { type: 'probabilistic', value: 0 }, services: [{ name: 'web', operations: [{ name: 'checkout', probability: 1 }] }] });
      await waitFor('the SDK samples checkout', async () => rate('checkout', 50) === 1, 10_000, 50);
      expect(rate('browse')).toBe(0);

      await applyPolicy('main', { default: { type: 'probabilistic', value: 0.25 } });
      await waitFor('the SDK samples browse at 0.25', async () => rate('browse', 50) > 0, 10_000, 50);
      const r = rate('browse', 4000);
      expect(r).toBeGreaterThan(0.2);
      expect(r).toBeLessThan(0.3);
    } finally {
      sampler.stop();
    }
  });

  it('blocklists a service: dropped at ingest even from an SDK that samples everything, and served probability 0', async () => {
    const gen = (await applyPolicy('main', { default: { type: 'probabilistic', value: 1 }, blocklist: { services: ['noisy'], operations: [{ service: 'legit', name: 'GET /health' }] } })).metadata.generation!;
    await waitFor('runtime a enforces the blocklist', async () => enforces(a, 'main', gen), 10_000, 20);
    expect((await strategy(a, 'noisy')).probabilisticSampling?.samplingRate).toBe(0);
    expect((await strategy(a, 'legit')).operationSampling?.perOperationStrategies).toEqual([{ operation: 'GET /health', probabilisticSampling: { samplingRate: 0 } }]);

    const dropped0 = sumMetric((await fetchText(`http://127.0.0.1:${a.ports.admin}/metrics`)).body, 'jso_runtime_spans_dropped_total', { reason: 'blocklist' });
    for (const service of ['noisy', 'legit']) {
      const exporter = new OTLPTraceExporter({ url: `http://127.0.0.1:${a.ports.otlpHttp}/v1/traces` });
      const provider = new BasicTracerProvider({ sampler: new AlwaysOnSampler(), resource: resourceFromAttributes({ 'service.name': service }), spanProcessors: [new SimpleSpanProcessor(exporter)] });
      const tracer = provider.getTracer('t');
      for (let i = 0; i < 5; i++) tracer.startSpan('GET /items').end();
      tracer.startSpan('GET /health').end();
      await provider.forceFlush();
      await provider.shutdown();
    }
    await a.pipeline.idle();
    const services = (await (await fetch(`http://127.0.0.1:${a.ports.queryHttp}/api/v3/services`)).json()) as { services: string[] };
    expect(services.services).toContain('legit');
    expect(services.services).not.toContain('noisy');
    const ops = (await (await fetch(`http://127.0.0.1:${a.ports.queryHttp}/api/v3/operations?service=legit`)).json()) as { operations: { name: string }[] };
    expect(ops.operations.map((o) => o.name)).toEqual(['GET /items']);
    const dropped = sumMetric((await fetchText(`http://127.0.0.1:${a.ports.admin}/metrics`)).body, 'jso_runtime_spans_dropped_total', { reason: 'blocklist' });
    expect(dropped - dropped0).toBe(7);
  });

  it('serves the same strategies over gRPC (jaeger.api_v2.SamplingManager, client built from the published proto)', async () => {
    const Manager = loadService('api_v2/sampling.proto', 'jaeger.api_v2.SamplingManager');
    const c = new Manager(`127.0.0.1:${a.ports.samplingGrpc}`, grpc.credentials.createInsecure());
    const call = (serviceName: string) =>
      new Promise<Record<string, unknown>>((resolve, reject) =>
        (c as unknown as { GetSamplingStrategy: (r: object, cb: (e: grpc.ServiceError | null, v: Record<string, unknown>) => void) => void }).GetSamplingStrategy({ serviceName }, (e, v) => (e ? reject(e) : resolve(v))),
      );
    try {
      expect(await call('noisy')).toMatchObject({ probabilisticSampling: { samplingRate: 0 } });
      const legit = await call('legit');
      expect(legit).toMatchObject({ probabilisticSampling: { samplingRate: 1 }, operationSampling: { defaultSamplingProbability: 1, perOperationStrategies: [{ operation: 'GET /health', probabilisticSampling: {} }] } });
      expect(legit.strategyType ?? 0).toBe(0); // PROBABILISTIC is the enum's zero value
      await expect(call('')).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    } finally {
      c.close();
    }
  });

  it('downsamples consistently across two replicas: every trace whole or absent, kept fraction within bounds', async () => {
    const gen = (await applyPolicy('main', { downsampling: { ratio: 0.25 } })).metadata.generation!;
    await waitFor('both runtimes downsample', async () => enforces(a, 'main', gen) && enforces(b, 'main', gen), 10_000, 20);
    const N = 10_000;
    const ids: string[] = [];
    const toA: ReturnType<typeof newSpan>[] = [];
    const toB: ReturnType<typeof newSpan>[] = [];
    const t0 = BigInt(Date.now()) * 1_000_000n;
    for (let i = 0; i < N; i++) {
      const traceId = randomBytes(16).toString('hex');
      ids.push(traceId);
      for (let s = 0; s < 4; s++) {
        const span = newSpan({ traceId, spanId: randomBytes(8).toString('hex'), name: `op-${s}`, startTimeUnixNano: t0, endTimeUnixNano: t0 + 1000n });
        (s % 2 === 0 ? toA : toB).push(span); // half of each trace's spans reach each replica
      }
    }
    for (let i = 0; i < toA.length; i += 4000) await postOtlp(a, [serviceBatch('orders', toA.slice(i, i + 4000))]);
    for (let i = 0; i < toB.length; i += 4000) await postOtlp(b, [serviceBatch('orders', toB.slice(i, i + 4000))]);
    await Promise.all([a.pipeline.idle(), b.pipeline.idle()]);

    const spansPerTrace = new Map<string, number>();
    for (const rt of [a, b]) {
      for await (const chunk of rt.backend.traceReader().getTraces(ids.map((traceId) => ({ traceId })))) {
        for (const c of chunk) {
          for (const rs of c.resourceSpans) {
            for (const ss of rs.scopeSpans) {
              for (const s of ss.spans) {
                expect(s.attributes).toContainEqual({ key: RATIO_ATTRIBUTE, value: 0.25 });
                spansPerTrace.set(s.traceId, (spansPerTrace.get(s.traceId) ?? 0) + 1);
              }
            }
          }
        }
      }
    }
    expect([...spansPerTrace.values()].filter((n) => n !== 4)).toEqual([]);
    const kept = spansPerTrace.size / N;
    const sigma = Math.sqrt((0.25 * 0.75) / N);
    expect(kept).toBeGreaterThan(0.25 - 4 * sigma);
    expect(kept).toBeLessThan(0.25 + 4 * sigma);
  });

  it('keeps enforcing the last good policy while cut off from the API, and catches up when it returns', async () => {
    const gen = (await applyPolicy('main', { default: { type: 'probabilistic', value: 0.2 } })).metadata.generation!;
    await waitFor('a enforces 0.2', async () => enforces(a, 'main', gen), 10_000, 20);
    proxy.sever(true); // every runtime connection dies and new ones are refused
    await applyPolicy('main', { default: { type: 'probabilistic', value: 0.9 } });
    const until = Date.now() + 1500;
    while (Date.now() < until) {
      expect((await strategy(a, 'web')).probabilisticSampling?.samplingRate).toBe(0.2);
      await new Promise((r) => setTimeout(r, 100));
    }
    proxy.restore();
    await waitFor('a catches up with 0.9', async () => (await strategy(a, 'web')).probabilisticSampling?.samplingRate === 0.9, 20_000, 100);
    await waitFor('b catches up too', async () => (await strategy(b, 'web')).probabilisticSampling?.samplingRate === 0.9, 20_000, 100);
  });

  it('flags contradicting policies of the same priority and lets a higher priority win', async () => {
    await applyPolicy('other', { default: { type: 'probabilistic', value: 0.3 } });
    const rejected = await waitFor('other rejected', async () => {
      const p = await getPolicy('other');
      return condition(p, 'Accepted')?.status === 'False' ? p : undefined;
    });
    expect(condition(rejected, 'Accepted')).toMatchObject({ reason: 'Conflict', message: expect.stringMatching(/spec\.default contradicts SamplingPolicy "main".*spec\.priority/) });
    expect(condition(rejected, 'Propagated')).toMatchObject({ status: 'False', reason: 'NotAccepted', message: expect.stringContaining('(Conflict)') });
    await waitFor('a Warning event Conflict on the rejected policy', async () => {
      const ev = await client.get<{ items: { reason?: string; involvedObject: { kind?: string } }[] }>(`/api/v1/namespaces/${ns}/events`, { fieldSelector: 'type=Warning,involvedObject.name=other' });
      return ev.items.some((e) => e.reason === 'Conflict' && e.involvedObject.kind === 'SamplingPolicy');
    }, 10_000, 100);
    expect((await strategy(a, 'web')).probabilisticSampling?.samplingRate).toBe(0.9);

    await applyPolicy('other', { priority: 5, default: { type: 'probabilistic', value: 0.3 } });
    await waitFor('the higher priority wins at the runtime', async () => (await strategy(a, 'web')).probabilisticSampling?.samplingRate === 0.3, 10_000, 50);
    const main = await waitFor('main accepted and overridden', async () => {
      const p = await getPolicy('main');
      return /overridden by higher priority policies for spec\.default/.test(condition(p, 'Accepted')?.message ?? '') ? p : undefined;
    });
    expect(condition(main, 'Accepted')?.status).toBe('True');
    await waitFor('other accepted and propagated', async () => condition(await getPolicy('other'), 'Propagated')?.status === 'True');
  });

  it('adapts per-operation probabilities toward the target from observed root spans; explicit operations win', async () => {
    const gen = (
      await applyPolicy('adaptive', {
        priority: 20,
        adaptive: { enabled: true, targetSamplesPerSecond: 20, include: ['catalog'] },
        services: [{ name: 'catalog', operations: [{ name: 'GET /pinned', probability: 0.5 }] }],
      })
    ).metadata.generation!;
    await waitFor('a runs adaptive sampling', async () => enforces(a, 'adaptive', gen), 10_000, 20);
    const t0 = BigInt(Date.now()) * 1_000_000n;
    const roots = (service: string, op: string, n: number) =>
      serviceBatch(service, Array.from({ length: n }, () => newSpan({ traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex'), name: op, startTimeUnixNano: t0, endTimeUnixNano: t0 + 1n })));
    const rateOf = async (op: string) => (await strategy(a, 'catalog')).operationSampling?.perOperationStrategies.find((s) => s.operation === op) as { probabilisticSampling: { samplingRate: number } } | undefined;
    // about 400 root spans/s of GET /hot and 2/s of GET /cold, for up to 6 s, against a target of 20/s
    let hot: number | undefined;
    let cold: number | undefined;
    for (let i = 0; i < 60; i++) {
      await postOtlp(a, [roots('catalog', 'GET /hot', 40), roots('catalog', 'GET /pinned', 40), ...(i % 5 === 0 ? [roots('catalog', 'GET /cold', 1)] : []), roots('search', 'GET /x', 40)]);
      await new Promise((r) => setTimeout(r, 100));
      hot = (await rateOf('GET /hot'))?.probabilisticSampling.samplingRate;
      cold = (await rateOf('GET /cold'))?.probabilisticSampling.samplingRate;
      if (hot !== undefined && cold !== undefined && hot < 0.001 && cold > 0.001) break;
    }
    expect(hot).toBeLessThan(0.001); // started at 0.001, observed far above target: lowered
    expect(cold).toBeGreaterThan(0.001); // observed below target: raised
    expect((await rateOf('GET /pinned'))?.probabilisticSampling.samplingRate).toBe(0.5); // explicit probability wins
    expect((await strategy(a, 'search')).operationSampling).toBeUndefined(); // not included
    expect(a.sampling.adaptive.calculations).toBeGreaterThan(0);
    await client.request('DELETE', policyPath('adaptive'));
  });

  it('a runtime whose backend runs out of space makes its TraceStore Ready=False, reason BackendFull, until writes succeed again', async () => {
    const store = (reason: string, text = '') => async () => {
      const ts = await getStore(client, ns, 'shop');
      const ready = conditionOf(ts, 'Ready');
      return ready?.reason === reason && (ready.message ?? '').includes(text) ? ts : undefined;
    };
    // what the pipeline calls when a write fails with ResourceExhausted (the full-disk test drives the real thing)
    a.pipeline.onBackendFull!("the embedded store's disk is full (/data, 0 bytes free)");
    const full = await waitFor('Ready=False BackendFull from this pod', store('BackendFull', podName), 15_000, 50);
    expect(conditionOf(full, 'Ready')?.status).toBe('False');
    expect(conditionOf(full, 'Ready')?.message).toContain(`${podName}: the embedded store's disk is full`);
    await waitFor('a Warning event BackendFull', async () => {
      const ev = await client.get<{ items: { reason?: string; type?: string }[] }>(`/api/v1/namespaces/${ns}/events`);
      return ev.items.some((e) => e.reason === 'BackendFull' && e.type === 'Warning');
    }, 10_000, 100);
    a.pipeline.onBackendFull!(undefined);
    await waitFor('Ready=True again', store('Ready'), 15_000, 50);
  });

  it('reports a policy whose TraceStore does not exist', async () => {
    await applyPolicy('lost', { default: { type: 'probabilistic', value: 0.1 } }, 'nowhere');
    const p = await waitFor('lost rejected', async () => {
      const x = await getPolicy('lost');
      return condition(x, 'Accepted')?.status === 'False' ? x : undefined;
    });
    expect(condition(p, 'Accepted')).toMatchObject({ reason: 'TargetNotFound', message: expect.stringContaining('spec.targetRef.name: TraceStore "nowhere" does not exist') });
  });
});

/** The JS remote sampler polls with setInterval and has no shutdown: capture the timer to stop it. */
function pollingSampler(endpoint: string, serviceName: string, poolingInterval: number): { sampler: Sampler; stop(): void } {
  const original = globalThis.setInterval;
  let timer: ReturnType<typeof setInterval> | undefined;
  globalThis.setInterval = ((fn: () => void, ms: number) => (timer = original(fn, ms))) as typeof setInterval;
  try {
    const sampler = new JaegerRemoteSampler({ endpoint, serviceName, poolingInterval, initialSampler: new AlwaysOnSampler() });
    return { sampler, stop: () => clearInterval(timer) };
  } finally {
    globalThis.setInterval = original;
  }
}
