// `npm start`: a first try on one machine. Without a kubeconfig it starts a local control plane (etcd,
// kube-apiserver, controller-manager, scheduler, kwok); it installs the CRDs, runs the operator, applies
// config/samples/tracestore-memory.yaml; kwok's pods are simulated, so a local kubelet (kubelet.ts) runs each
// runtime pod as a real process on the pod's own loopback address with its ConfigMap's configuration, and a
// provisioner (provisioner.ts) answers volume claims with directories. Ctrl-C, SIGTERM, SIGHUP or the death of
// the parent process (npm, a terminal, an IDE) stops all of it. One local mode per machine: a second start says
// where the first one is and exits.
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
import { DEFAULT_PORTS, type RuntimeConfig, defaultRuntimeConfig } from '../api/runtime-config.js';
import { LocalLock, LocalModeError, procStat } from './lock.js';
import { ControlPlane, REPO_ROOT } from './controlplane.js';
import { installCrds } from './install.js';
import { LocalKubelet, type RunningPod } from './kubelet.js';
import { LocalVolumeProvisioner } from './provisioner.js';
import { TRACESTORES } from '../kube/resources.js';


function existingKubeconfig(): string | undefined {
  const env = process.env.KUBECONFIG?.split(':').find((p) => p && existsSync(p));
  if (env) return env;
  const home = join(homedir(), '.kube', 'config');
  return existsSync(home) ? home : undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type PortName = keyof typeof DEFAULT_PORTS;

/** An address of the pod range kwok never hands out: binding it shows whether pods can have the well-known ports. */
const PROBE_IP = '127.1.255.254';

function bindable(host: string, port: number): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e));
    s.listen({ host, port, exclusive: true }, () => s.close(() => resolve(undefined)));
  });
}

/** Fails in one line naming the first well-known runtime port something else already holds for every address. */
async function checkPorts(cfg: RuntimeConfig, host: string): Promise<void> {
  for (const k of Object.keys(DEFAULT_PORTS) as PortName[]) {
    const port = Number(cfg.listen?.[k]?.split(':').pop() ?? DEFAULT_PORTS[k]);
    if (!port) continue;
    const e = await bindable(host, port);
    if (e?.code === 'EADDRINUSE') {
      throw new LocalModeError(`local mode cannot start: port ${port} (${k}) is taken on every address (a listener on 0.0.0.0:${port} or ${host}:${port}), and each runtime pod serves it on its own 127.1.x.y address; stop that process (find it with: ss -ltnp 'sport = :${port}')`);
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
    if (!kubeconfig) await checkPorts(defaultRuntimeConfig(), PROBE_IP);
    if (kubeconfig) {
      console.log(`using the cluster of ${kubeconfig}`);
    } else {
      console.log('no kubeconfig found: starting a local control plane (first run builds it from Go modules: ~10 min)');
      const cp = new ControlPlane({
        build: true,
        nodes: 1,
        podCidr: '127.1.0.0/16',
        kwokStages: join(REPO_ROOT, 'src/local/kwok-stages.yaml'),
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
    // claims (the embedded backend's data volume) get a directory on this machine, kept across pod restarts; it
    // lives as long as local mode (under its state directory)
    const kubelet = new LocalKubelet({ client, kubeconfig, dir: join(kubeconfig, '..'), log: (l) => console.log(l) });
    const volumes = new LocalVolumeProvisioner({ client, dir: join(kubeconfig, '..', 'volumes'), log: (l) => console.log(l), inUse: (p) => kubelet.usesDirectory(p) });
    stops.push(async () => volumes.stop());
    await volumes.start();
    stops.push(() => kubelet.stop());
    kubelet.start();
    const sample = parse(readFileSync(join(REPO_ROOT, 'config/samples/tracestore-memory.yaml'), 'utf8')) as TraceStore;
    sample.metadata.namespace = 'default';
    await client.apply(resourcePath(TRACESTORES, 'default', sample.metadata.name), sample, 'kubectl-local');
    console.log(`applied config/samples/tracestore-memory.yaml (TraceStore default/${sample.metadata.name})`);

    // wait for Ready: the operator's Deployment is available once the runtime process of its pod answers /readyz
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
    const pods = kubelet.running().filter((r) => r.ready);
    const addresses = (r: RunningPod): string[] => {
      const l = r.listen;
      return [
        `TraceStore ${r.namespace}/${r.instance}, pod ${r.name}:`,
        `  OTLP gRPC               ${l.otlpGrpc}`,
        `  OTLP HTTP               http://${l.otlpHttp}/v1/traces`,
        `  Jaeger query (api_v3)   http://${l.queryHttp}/api/v3/services`,
        `  Remote sampling         http://${l.samplingHttp}/sampling?service=NAME  (gRPC ${l.samplingGrpc})`,
        `  runtime health/metrics  http://${l.admin}/readyz  http://${l.admin}/metrics`,
      ];
    };
    const first = pods.find((r) => r.namespace === 'default' && r.instance === sample.metadata.name);
    lock.update({
      phase: 'up',
      kubeconfig,
      addresses: first ? { 'OTLP gRPC': first.listen.otlpGrpc, 'OTLP HTTP': first.listen.otlpHttp, query: first.listen.queryHttp, sampling: first.listen.samplingHttp, admin: first.listen.admin } : {},
    });
    console.log(
      [
        '',
        'Local mode is up: every runtime pod runs as a process on its own loopback address (127.1.x.y)',
        ...pods.flatMap(addresses),
        `  kubectl                 export KUBECONFIG=${kubeconfig}; kubectl get tracestores`,
        'TraceStores applied later start their processes too (their addresses are printed as they start).',
        'Ctrl-C stops everything.',
      ].join('\n'),
    );
  } catch (e) {
    await stopAll();
    throw e;
  }
}
