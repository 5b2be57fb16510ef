// `npm start`: a first try on one machine. Without a kubeconfig it starts a local control plane (etcd,
// kube-apiserver, controller-manager, scheduler, kwok); it installs the CRDs, runs the operator, applies
// config/samples/tracestore-memory.yaml and runs the runtime on loopback with the configuration the operator
// rendered (kwok's pods are simulated, so the real runtime process runs here). Ctrl-C stops all of it.
import { PLUGINS } from '../storage/plugins.js';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parse } from 'yaml';
import type { TraceStore } from '../api/tracestore.js';
import { Operator, defaultOperatorOptions } from '../controllers/manager.js';
import { KubeClient, resourcePath } from '../kube/client.js';
import { createLogger } from '../log.js';
import { CONFIG_FILE, LABEL_INSTANCE } from '../api/contract.js';
import { configMapName } from '../reconcilers/tracestore/desired.js';
import { parseRuntimeConfig } from '../api/runtime-config.js';
import { withEnvOverrides } from '../runtime/config.js';
import { startRuntime } from '../runtime/server.js';
import { ControlPlane, REPO_ROOT } from './controlplane.js';
import { installCrds } from './install.js';
import { CONFIGMAPS, PODS, TRACESTORES } from '../kube/resources.js';


function existingKubeconfig(): string | undefined {
  const env = process.env.KUBECONFIG?.split(':').find((p) => p && existsSync(p));
  if (env) return env;
  const home = join(homedir(), '.kube', 'config');
  return existsSync(home) ? home : undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function runLocal(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { 'control-plane': { type: 'boolean', default: false } } });
  const log = createLogger('local', process.env.LOG_LEVEL ?? 'warn');
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  let stopping = false;
  const onSignal = (): void => {
    if (stopping) process.exit(130);
    stopping = true;
    console.log('\nstopping everything local mode started ...');
    stopAll().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    let kubeconfig = values['control-plane'] ? undefined : existingKubeconfig();
    if (kubeconfig) {
      console.log(`using the cluster of ${kubeconfig}`);
    } else {
      console.log('no kubeconfig found: starting a local control plane (first run builds it from Go modules: ~10 min)');
      const cp = new ControlPlane({
        build: true,
        nodes: 1,
        log: (l) => console.log(l),
        beforeControllers: async (kc) => {
          const c = KubeClient.load(kc);
          await installCrds(c);
          c.close();
        },
      });
      stops.push(() => cp.stop());
      kubeconfig = (await cp.start()).kubeconfig;
    }
    const client = KubeClient.load(kubeconfig);
    stops.push(async () => client.close());
    await installCrds(client);
    console.log('CRDs installed: tracestores, samplingpolicies, streamingjobs (storage.jaegertracing.io/v1alpha1)');

    const o = defaultOperatorOptions(PLUGINS);
    o.kubeconfig = kubeconfig;
    o.opsHost = '127.0.0.1';
    o.opsPort = 0;
    o.leaderElection.enabled = false;
    const op = new Operator(o, createLogger('operator', process.env.LOG_LEVEL ?? 'warn'));
    stops.push(() => op.stop());
    await op.start();
    console.log(`operator running: http://127.0.0.1:${op.opsPort}/metrics`);

    if (!values['control-plane'] && existingKubeconfig()) {
      console.log('operator is reconciling TraceStores in that cluster; Ctrl-C to stop');
      return;
    }
    const sample = parse(readFileSync(join(REPO_ROOT, 'config/samples/tracestore-memory.yaml'), 'utf8')) as TraceStore;
    sample.metadata.namespace = 'default';
    await client.apply(resourcePath(TRACESTORES, 'default', sample.metadata.name), sample, 'kubectl-local');
    console.log(`applied config/samples/tracestore-memory.yaml (TraceStore default/${sample.metadata.name})`);

    // wait for Ready, then run the runtime here with the configuration the operator rendered
    const t0 = Date.now();
    let ts: TraceStore | undefined;
    while (Date.now() - t0 < 60_000) {
      ts = await client.get<TraceStore>(resourcePath(TRACESTORES, 'default', sample.metadata.name));
      if (ts.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') && ts.status.configHash) break;
      await sleep(200);
    }
    const ready = ts?.status?.conditions?.find((c) => c.type === 'Ready');
    console.log(`TraceStore Ready=${ready?.status} (${ready?.reason}) after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    if (!ts?.status?.configHash) throw new Error(`the TraceStore did not become Ready: ${ready?.message ?? 'no status'}`);
    const cm = await client.get<{ data: Record<string, string> }>(resourcePath(CONFIGMAPS, 'default', configMapName(ts, ts.status.configHash)));
    // the rendered configuration, moved to loopback; JSO_LISTEN_* overrides still apply
    const rendered = parseRuntimeConfig(parse(cm.data[CONFIG_FILE] ?? ''), `ConfigMap ${configMapName(ts, ts.status.configHash)}`);
    for (const k of Object.keys(rendered.listen ?? {}) as (keyof NonNullable<typeof rendered.listen>)[]) {
      rendered.listen![k] = rendered.listen![k]!.replace(/^0\.0\.0\.0:/, '127.0.0.1:');
    }
    // follow SamplingPolicies through the same API, reporting as the first runtime pod of the store
    const pods = await client.get<{ items: { metadata: { name: string } }[] }>(resourcePath(PODS, 'default'), { labelSelector: `${LABEL_INSTANCE}=${sample.metadata.name}` });
    rendered.sampling = { ...rendered.sampling, kubeconfig, ...(pods.items[0] ? { podName: pods.items[0].metadata.name } : {}) };
    const cfg = withEnvOverrides(rendered);
    const rt = await startRuntime(cfg, log);
    stops.push(() => rt.stop());
    const p = rt.ports;
    console.log(
      [
        '',
        'Local mode is up:',
        `  OTLP gRPC               127.0.0.1:${p.otlpGrpc}`,
        `  OTLP HTTP               http://127.0.0.1:${p.otlpHttp}/v1/traces`,
        `  Jaeger query (api_v3)   http://127.0.0.1:${p.queryHttp}/api/v3/services`,
        `  Remote sampling         http://127.0.0.1:${p.samplingHttp}/sampling?service=NAME  (gRPC 127.0.0.1:${p.samplingGrpc})`,
        `  runtime health/metrics  http://127.0.0.1:${p.admin}/readyz  http://127.0.0.1:${p.admin}/metrics`,
        `  kubectl                 export KUBECONFIG=${kubeconfig}; kubectl get tracestores`,
        'Ctrl-C stops everything.',
      ].join('\n'),
    );
  } catch (e) {
    await stopAll();
    throw e;
  }
}
