// `npm start`: a first try on one machine. Without a kubeconfig it starts a local control plane (etcd,
// kube-apiserver, controller-manager, scheduler, kwok); it installs the CRDs, runs the operator, applies
// config/samples/tracestore-memory.yaml and runs the runtime on loopback with the configuration the operator
// rendered (kwok's pods are simulated, so the real runtime process runs here). Ctrl-C, SIGTERM, SIGHUP or the
// death of the parent process (npm, a terminal, an IDE) stops all of it. One local mode per machine: a second
// start says where the first one is and exits.
import { PLUGINS } from '../storage/plugins.js';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
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
import { DEFAULT_PORTS, type RuntimeConfig, defaultRuntimeConfig, parseRuntimeConfig } from '../api/runtime-config.js';
import { withEnvOverrides } from '../runtime/config.js';
import { splitHostPort } from '../runtime/components.js';
import { LocalLock, LocalModeError, procStat } from './lock.js';
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

type PortName = keyof typeof DEFAULT_PORTS;
const envName = (k: PortName): string => `JSO_LISTEN_${k.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;

/** The listen addresses moved to loopback (the runtime here serves this machine only). */
function onLoopback(cfg: RuntimeConfig): RuntimeConfig {
  const listen = { ...cfg.listen } as Record<PortName, string>;
  for (const k of Object.keys(DEFAULT_PORTS) as PortName[]) listen[k] = (listen[k] ?? `0.0.0.0:${DEFAULT_PORTS[k]}`).replace(/^0\.0\.0\.0:/, '127.0.0.1:');
  return { ...cfg, listen };
}

function bindable(host: string, port: number): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e));
    s.listen({ host, port, exclusive: true }, () => s.close(() => resolve(undefined)));
  });
}

/** Fails in one line naming the first runtime address something else already holds. */
async function checkPorts(cfg: RuntimeConfig): Promise<void> {
  for (const k of Object.keys(DEFAULT_PORTS) as PortName[]) {
    const addr = cfg.listen?.[k];
    if (!addr) continue;
    const { host, port } = splitHostPort(addr);
    if (port === 0) continue;
    const e = await bindable(host, port);
    if (e?.code === 'EADDRINUSE') {
      throw new LocalModeError(`local mode cannot start: ${addr} (${k}) is already in use by another process; stop that process (e.g. find it with: ss -ltnp 'sport = :${port}') or pick another address, e.g. ${envName(k)}=127.0.0.1:0`);
    }
  }
}

/** Calls onGone once the process that started this one has exited (its parent pid changes on Linux). */
function watchParent(onGone: () => void): () => void {
  const first = procStat('self')?.ppid ?? process.ppid;
  const t = setInterval(() => {
    const now = procStat('self')?.ppid;
    let gone = now !== undefined ? now !== first : false;
    if (now === undefined) {
      try {
        process.kill(first, 0);
      } catch (e) {
        gone = (e as NodeJS.ErrnoException).code === 'ESRCH';
      }
    }
    if (gone) {
      clearInterval(t);
      onGone();
    }
  }, 500);
  t.unref();
  return () => clearInterval(t);
}

export async function runLocal(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { 'control-plane': { type: 'boolean', default: false } } });
  const log = createLogger('local', process.env.LOG_LEVEL ?? 'warn');
  // before anything starts: a second local mode or a taken port ends here, in one line
  const lock = LocalLock.acquire();
  process.once('exit', () => lock.release());
  const stops: (() => Promise<void>)[] = [async () => lock.release()];
  const stopAll = async (): Promise<void> => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  let stopping = false;
  let firstSignalAt = 0;
  const stop = (why: string): void => {
    if (stopping) {
      // npm forwards the terminal's Ctrl-C that already reached us: only a later one means "now"
      if (Date.now() - firstSignalAt < 2000) return;
      console.log('stopping now (SIGKILL to what is left)');
      process.exit(130); // the exit hooks kill the component process groups and remove the state file
    }
    stopping = true;
    firstSignalAt = Date.now();
    console.log(`\n${why}: stopping everything local mode started ...`);
    const force = setTimeout(() => process.exit(1), 30_000);
    force.unref();
    stopAll().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => stop(sig));
  const unwatch = watchParent(() => stop('the parent process exited'));
  stops.push(async () => unwatch());

  try {
    let kubeconfig = values['control-plane'] ? undefined : existingKubeconfig();
    if (!kubeconfig) await checkPorts(onLoopback(withEnvOverrides(defaultRuntimeConfig())));
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
    lock.update({ kubeconfig });
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
      lock.update({ phase: 'up', addresses: { operator: `http://127.0.0.1:${op.opsPort}/metrics` } });
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
    const rendered = onLoopback(parseRuntimeConfig(parse(cm.data[CONFIG_FILE] ?? ''), `ConfigMap ${configMapName(ts, ts.status.configHash)}`));
    // follow SamplingPolicies through the same API, reporting as the first runtime pod of the store
    const pods = await client.get<{ items: { metadata: { name: string } }[] }>(resourcePath(PODS, 'default'), { labelSelector: `${LABEL_INSTANCE}=${sample.metadata.name}` });
    rendered.sampling = { ...rendered.sampling, kubeconfig, ...(pods.items[0] ? { podName: pods.items[0].metadata.name } : {}) };
    const cfg = withEnvOverrides(rendered);
    await checkPorts(cfg);
    const rt = await startRuntime(cfg, log);
    stops.push(() => rt.stop());
    const p = rt.ports;
    lock.update({
      phase: 'up',
      kubeconfig,
      addresses: { 'OTLP gRPC': `127.0.0.1:${p.otlpGrpc}`, 'OTLP HTTP': `127.0.0.1:${p.otlpHttp}`, 'query': `127.0.0.1:${p.queryHttp}`, 'sampling': `127.0.0.1:${p.samplingHttp}`, 'admin': `127.0.0.1:${p.admin}` },
    });
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
