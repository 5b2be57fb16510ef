// The kubelet of local mode: kwok's nodes only simulate pods, so each runtime pod scheduled to them runs here as a
// real process (`cli.js runtime --config FILE`) with the configuration its ConfigMap holds, listening on the pod's
// own loopback address. Started when the pod appears, stopped when it goes, restarted when it crashes; its
// readiness (/readyz) goes into the pod status, which kwok leaves alone once the pod is Running. A query front pod
// (spec.query) runs the Jaeger v2 binary likewise, reading from a runtime pod of its TraceStore.
import { type ChildProcess, execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { BACKEND_CA_DIR, BACKEND_CA_DIR_ENV, BACKEND_PASSWORD_ENV, BACKEND_TOKEN_ENV, BACKEND_USERNAME_ENV } from '../api/backend-plugin.js';
import { CONFIG_FILE, LABEL_INSTANCE, LABEL_NAME, POD_NAMESPACE_ENV, POD_NAME_ENV, QUERY_APP, QUERY_PORTS, RUNTIME_APP } from '../api/contract.js';
import { DEFAULT_PORTS } from '../api/runtime-config.js';
import { type KubeClient, isNotFound, resourcePath } from '../kube/client.js';
import { CONFIGMAPS, PERSISTENTVOLUMECLAIMS, PODS, SECRETS } from '../kube/resources.js';
import { REPO_ROOT, spawnSupervised, stopGroup } from './controlplane.js';
import { PERSISTENTVOLUMES, volumeDirectory } from './provisioner.js';

type PortName = keyof typeof DEFAULT_PORTS;

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string; optional?: boolean } };
}

export interface Pod {
  metadata: { name: string; namespace: string; uid: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec: {
    nodeName?: string;
    containers: { name: string; env?: EnvVar[]; volumeMounts?: { name: string; mountPath: string }[] }[];
    volumes?: { name: string; configMap?: { name: string }; secret?: { secretName: string; items?: { key: string; path: string }[] }; persistentVolumeClaim?: { claimName: string } }[];
  };
  status?: { podIP?: string; phase?: string };
}

interface Running {
  pod: Pod;
  ip: string;
  dir: string;
  /** directories of its claims' volumes */
  volumes: string[];
  proc?: ChildProcess;
  /** answers 200 when the process is ready: the runtime's /readyz, Jaeger's health check */
  probeUrl: string;
  listen: Record<string, string>;
  /** a query front: the runtime address it reads from (undefined for a runtime pod) */
  target?: string;
  ready: boolean;
  restarts: number;
  reportedRestarts: number;
  stopping: boolean;
  restartTimer?: NodeJS.Timeout;
}

export interface RunningPod {
  namespace: string;
  name: string;
  /** the TraceStore */
  instance: string;
  ip: string;
  ready: boolean;
  /** the watchdog's pid, leader of the process group of the runtime */
  pid?: number;
  listen: Record<PortName, string>;
}

export interface RunningFront {
  namespace: string;
  name: string;
  instance: string;
  ip: string;
  ready: boolean;
  /** http://ip:16686<basePath>/ */
  ui: string;
  /** the runtime's remote-storage address it reads from */
  target: string;
}

interface Prepared {
  ip: string;
  dir: string;
  claims: string[];
  paths: [string, string][];
  config: Record<string, unknown>;
  penv: NodeJS.ProcessEnv;
}

/** overrides the Jaeger v2 binary query front pods run (default: the one test/env/build-jaeger.sh builds) */
export const JAEGER_BINARY_ENV = 'JSO_JAEGER_BINARY';

let builtJaeger: string | undefined;

function jaegerBinary(): string {
  const set = process.env[JAEGER_BINARY_ENV];
  if (set) return set;
  builtJaeger ??= join(execFileSync('bash', ['-c', 'source "$1"; echo "$JAEGER_BIN_DIR"', 'versions', join(REPO_ROOT, 'test/env/versions.sh')], { encoding: 'utf8' }).trim(), 'jaeger');
  return builtJaeger;
}

const isQuery = (pod: Pod): boolean => pod.metadata.labels?.[LABEL_NAME] === QUERY_APP;

/** the object at `path` under `o`, created when absent (a configuration the kubelet fills in) */
function objectAt(o: Record<string, unknown>, ...path: string[]): Record<string, unknown> {
  let cur = o;
  for (const k of path) {
    const next = cur[k];
    if (next && typeof next === 'object' && !Array.isArray(next)) cur = next as Record<string, unknown>;
    else cur = cur[k] = {};
  }
  return cur;
}

export interface KubeletOptions {
  client: KubeClient;
  kubeconfig: string;
  /** per-pod files (configuration, volumes, logs) go under it */
  dir: string;
  log: (line: string) => void;
}

const env = (k: PortName): string => `JSO_LISTEN_${k.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;

export class LocalKubelet {
  private pods = new Map<string, Running>();
  /** pods whose volume is not there yet, with what was last said about them */
  private waiting = new Map<string, string>();
  private timer?: NodeJS.Timeout;
  private syncing = false;
  private stopped = false;

  constructor(private readonly o: KubeletOptions) {}

  start(): void {
    const tick = (): void => {
      if (this.syncing || this.stopped) return;
      this.syncing = true;
      this.sync()
        .catch((e: unknown) => this.o.log(`local kubelet: ${e instanceof Error ? e.message : String(e)}`))
        .finally(() => (this.syncing = false));
    };
    this.timer = setInterval(tick, 500);
    tick();
  }

  /** The runtime pods this kubelet runs, with their addresses. */
  running(): RunningPod[] {
    return [...this.pods.values()].filter((r) => !r.target).map((r) => ({ namespace: r.pod.metadata.namespace, name: r.pod.metadata.name, instance: r.pod.metadata.labels?.[LABEL_INSTANCE] ?? '', ip: r.ip, ready: r.ready, pid: r.proc?.pid, listen: r.listen as Record<PortName, string> }));
  }

  /** The query front pods (spec.query) this kubelet runs, with their UI address. */
  fronts(): RunningFront[] {
    return [...this.pods.values()].filter((r) => r.target).map((r) => ({ namespace: r.pod.metadata.namespace, name: r.pod.metadata.name, instance: r.pod.metadata.labels?.[LABEL_INSTANCE] ?? '', ip: r.ip, ready: r.ready, ui: r.listen.ui!, target: r.target! }));
  }

  /** Whether a pod this kubelet runs (or is stopping) has the directory as a volume. */
  usesDirectory(path: string): boolean {
    return [...this.pods.values()].some((r) => r.volumes.includes(path));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await Promise.all([...this.pods.keys()].map((uid) => this.kill(uid)));
  }

  private async sync(): Promise<void> {
    const list = await this.o.client.get<{ items: Pod[] }>(resourcePath(PODS), { labelSelector: `${LABEL_NAME} in (${RUNTIME_APP},${QUERY_APP})` });
    // only pods on loopback addresses: an address of a real cluster is never dialled or bound here; runtime pods
    // first, so that a query front finds the runtime it reads from
    const pods = list.items.filter((p) => p.spec.nodeName && p.status?.podIP?.startsWith('127.') && !p.metadata.deletionTimestamp);
    pods.sort((a, b) => Number(a.metadata.labels?.[LABEL_NAME] === QUERY_APP) - Number(b.metadata.labels?.[LABEL_NAME] === QUERY_APP));
    const live = new Map(pods.map((p) => [p.metadata.uid, p]));
    for (const uid of this.pods.keys()) if (!live.has(uid)) await this.kill(uid);
    // a query front whose runtime pod is gone reads from its successor: started again
    for (const [uid, r] of this.pods) {
      if (r.target && this.runtimeAddress(r.pod.metadata.namespace, r.pod.metadata.labels?.[LABEL_INSTANCE]) !== r.target) await this.kill(uid);
    }
    for (const uid of this.waiting.keys()) if (!live.has(uid)) this.waiting.delete(uid);
    for (const [uid, pod] of live) {
      if (this.pods.has(uid)) continue;
      // one pod that cannot start (its ConfigMap gone, a volume directory not writable) does not hold up the others
      await this.launch(pod).catch((e: unknown) => this.wait(pod, e instanceof Error ? e.message : String(e)));
    }
    await Promise.all([...this.pods.values()].map((r) => this.probe(r)));
  }

  private async secretValue(ns: string, name: string, key: string): Promise<string | undefined> {
    const s = await this.o.client.get<{ data?: Record<string, string> }>(resourcePath(SECRETS, ns, name)).catch(() => undefined);
    const v = s?.data?.[key];
    return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
  }

  /**
   * The directory of the PersistentVolume bound to a claim, or why there is none yet. A claim is bound before the
   * scheduler places its pod, so this waits only when a volume is not a directory (not hostPath or local).
   */
  private async claimDirectory(ns: string, claimName: string): Promise<{ path?: string; waiting?: string }> {
    const claim = await this.o.client.get<{ spec: { volumeName?: string }; status?: { phase?: string } }>(resourcePath(PERSISTENTVOLUMECLAIMS, ns, claimName)).catch((e: unknown) => {
      if (isNotFound(e)) return undefined;
      throw e;
    });
    if (!claim) return { waiting: `its PersistentVolumeClaim ${ns}/${claimName} does not exist` };
    if (claim.status?.phase !== 'Bound' || !claim.spec.volumeName) return { waiting: `its PersistentVolumeClaim ${ns}/${claimName} is not bound` };
    const pv = await this.o.client.get<Parameters<typeof volumeDirectory>[0]>(resourcePath(PERSISTENTVOLUMES, undefined, claim.spec.volumeName)).catch((e: unknown) => {
      if (isNotFound(e)) return undefined;
      throw e;
    });
    const path = pv && volumeDirectory(pv);
    if (!path) return { waiting: `PersistentVolume ${claim.spec.volumeName} of claim ${ns}/${claimName} is not a directory on this machine (hostPath or local)` };
    mkdirSync(path, { recursive: true });
    return { path };
  }

  /** A pod that does not start yet: said once per reason, tried again on the next sync. */
  private wait(pod: Pod, why: string): void {
    const { namespace: ns, name, uid } = pod.metadata;
    if (this.waiting.get(uid) !== why) this.o.log(`${isQuery(pod) ? 'query front' : 'runtime'} pod ${ns}/${name} waits: ${why}`);
    this.waiting.set(uid, why);
  }

  /**
   * What every pod needs before its process starts: its directory, its volumes as local directories (claims, the
   * configuration of its ConfigMap, Secrets as files), its configuration with mount paths mapped to them, and its
   * environment (the container's env resolved; never this shell's listen, backend or kubeconfig settings).
   * undefined: it waits (a claim not bound yet; the next sync tries again).
   */
  private async prepare(pod: Pod): Promise<Prepared | undefined> {
    const { namespace: ns, name, uid } = pod.metadata;
    const c = pod.spec.containers[0]!;
    const dir = join(this.o.dir, 'pods', `${ns}_${name}_${uid}`);
    // claims first: a pod whose volume is not there yet does not start (the next sync tries again)
    const claims = new Map<string, string>();
    for (const v of pod.spec.volumes ?? []) {
      if (!v.persistentVolumeClaim) continue;
      const d = await this.claimDirectory(ns, v.persistentVolumeClaim.claimName);
      if (d.waiting) return void this.wait(pod, d.waiting);
      claims.set(v.name, d.path!);
    }
    // env first, so that a pod whose Secret key cannot be read waits before anything of it is written: a runtime
    // process inherits this shell's environment (PATH, HOME, NODE_*) but never its listen, backend or
    // kubeconfig settings; a query front (Jaeger) gets only PATH and HOME: nothing of this shell reaches its config
    const penv: NodeJS.ProcessEnv = isQuery(pod) ? { PATH: process.env.PATH, HOME: process.env.HOME } : { ...process.env };
    for (const k of Object.keys(DEFAULT_PORTS) as PortName[]) delete penv[env(k)];
    for (const k of [BACKEND_CA_DIR_ENV, BACKEND_USERNAME_ENV, BACKEND_PASSWORD_ENV, BACKEND_TOKEN_ENV]) delete penv[k];
    delete penv.KUBECONFIG;
    for (const e of c.env ?? []) {
      const f = e.valueFrom?.fieldRef?.fieldPath;
      const s = e.valueFrom?.secretKeyRef;
      const v = e.value ?? (f === 'metadata.name' ? name : f === 'metadata.namespace' ? ns : s ? await this.secretValue(ns, s.name, s.key) : undefined);
      // as a kubelet does: a pod whose Secret key cannot be read does not start
      if (v === undefined && s && s.optional !== true) return void this.wait(pod, `env ${e.name}: key ${s.key} of Secret ${ns}/${s.name} cannot be read`);
      if (v !== undefined) penv[e.name] = v;
    }
    // volumes: the configuration from its ConfigMap, Secrets as files, a claim as its volume's directory (which
    // outlives the pod), anything else as a directory of the pod
    const paths: [string, string][] = [];
    let config: Record<string, unknown> = {};
    for (const m of c.volumeMounts ?? []) {
      const v = pod.spec.volumes?.find((x) => x.name === m.name);
      const local = claims.get(m.name) ?? join(dir, 'volumes', m.name);
      mkdirSync(local, { recursive: true });
      paths.push([m.mountPath, local]);
      if (v?.configMap) {
        const cm = await this.o.client.get<{ data?: Record<string, string> }>(resourcePath(CONFIGMAPS, ns, v.configMap.name));
        config = (parse(cm.data?.[CONFIG_FILE] ?? '') ?? {}) as Record<string, unknown>;
      } else if (v?.secret) {
        const s = await this.o.client.get<{ data?: Record<string, string> }>(resourcePath(SECRETS, ns, v.secret.secretName)).catch(() => undefined);
        // the listed keys only, under their paths, as a kubelet projects them
        const items = v.secret.items ?? Object.keys(s?.data ?? {}).map((k) => ({ key: k, path: k }));
        for (const { key, path } of items) {
          const val = s?.data?.[key];
          if (val !== undefined) writeFileSync(join(local, path), Buffer.from(val, 'base64'), { mode: 0o600 });
        }
      }
    }
    const remap = (x: unknown): unknown => {
      if (typeof x === 'string') {
        for (const [from, to] of paths) if (x === from || x.startsWith(`${from}/`)) return to + x.slice(from.length);
        return x;
      }
      if (Array.isArray(x)) return x.map(remap);
      if (x && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, remap(v)]));
      return x;
    };
    penv[POD_NAME_ENV] = name;
    penv[POD_NAMESPACE_ENV] = ns;
    this.waiting.delete(uid);
    mkdirSync(dir, { recursive: true });
    return { ip: pod.status!.podIP!, dir, claims: [...claims.values()], paths, config: remap(config) as Record<string, unknown>, penv };
  }

  private async launch(pod: Pod): Promise<void> {
    if (isQuery(pod)) return this.launchQuery(pod);
    const p = await this.prepare(pod);
    if (!p) return;
    const { namespace: ns, name, uid } = pod.metadata;
    const { ip, dir, paths, penv } = p;
    const cfg = p.config as { listen?: Record<string, string>; sampling?: Record<string, unknown> };
    // every listener on the pod's own address: each pod has the well-known ports to itself
    cfg.listen = Object.fromEntries((Object.keys(DEFAULT_PORTS) as PortName[]).map((k) => [k, `${ip}:${(cfg.listen?.[k] ?? `:${DEFAULT_PORTS[k]}`).split(':').pop()}`]));
    cfg.sampling = { ...cfg.sampling, kubeconfig: this.o.kubeconfig, podName: name };
    const file = join(dir, CONFIG_FILE);
    writeFileSync(file, stringify(cfg));
    // paths the runtime knows by convention rather than from its configuration: the backend's CA
    const ca = paths.find(([from]) => from === BACKEND_CA_DIR);
    if (ca) penv[BACKEND_CA_DIR_ENV] = ca[1];
    const adminPort = cfg.listen.admin!.split(':').pop()!;
    const r: Running = { pod, ip, dir, volumes: p.claims, probeUrl: `http://${ip}:${adminPort}/readyz`, listen: cfg.listen, ready: false, restarts: 0, reportedRestarts: 0, stopping: false };
    this.pods.set(uid, r);
    this.o.log(`runtime pod ${ns}/${name} of TraceStore ${pod.metadata.labels?.[LABEL_INSTANCE] ?? '?'}: process on ${ip} (OTLP ${cfg.listen.otlpGrpc}, query http://${cfg.listen.queryHttp})`);
    this.run(r, process.execPath, [join(REPO_ROOT, 'dist/src/cli.js'), 'runtime', '--config', file], penv);
  }

  /** the remote-storage address of a runtime pod of TraceStore `instance` in `ns` this kubelet runs, if any */
  private runtimeAddress(ns: string, instance: string | undefined): string | undefined {
    const r = [...this.pods.values()].find((x) => !x.target && !x.stopping && x.pod.metadata.namespace === ns && x.pod.metadata.labels?.[LABEL_INSTANCE] === instance);
    return r?.listen.remoteStorage;
  }

  /**
   * A query front pod (spec.query): the Jaeger v2 binary with the configuration of its ConfigMap, listening on the
   * pod's address, its storage the remote-storage port of a runtime pod of the same TraceStore (the Service name in
   * the configuration resolves nowhere here). It waits for that runtime pod and for the binary.
   */
  private async launchQuery(pod: Pod): Promise<void> {
    const { namespace: ns, name, uid } = pod.metadata;
    const instance = pod.metadata.labels?.[LABEL_INSTANCE];
    const target = this.runtimeAddress(ns, instance);
    if (!target) return this.wait(pod, `no runtime pod of TraceStore ${ns}/${instance ?? '?'} runs yet`);
    const binary = jaegerBinary();
    if (!existsSync(binary)) return this.wait(pod, `the Jaeger v2 binary ${binary} is missing: build it with 'bash test/env/build-jaeger.sh' (or set ${JAEGER_BINARY_ENV} to a Jaeger v2 binary)`);
    const p = await this.prepare(pod);
    if (!p) return;
    const { ip, dir, penv } = p;
    const ext = objectAt(p.config, 'extensions');
    objectAt(ext, 'healthcheckv2', 'http').endpoint = `${ip}:${QUERY_PORTS.health}`;
    const query = objectAt(ext, 'jaeger_query');
    objectAt(query, 'http').endpoint = `${ip}:${QUERY_PORTS.http}`;
    objectAt(query, 'grpc').endpoint = `${ip}:${QUERY_PORTS.grpc}`;
    for (const b of Object.values(objectAt(ext, 'jaeger_storage', 'backends'))) {
      const grpc = objectAt(b as Record<string, unknown>, 'grpc');
      grpc.endpoint = target;
      objectAt(grpc, 'writer').endpoint = target;
    }
    const file = join(dir, CONFIG_FILE);
    writeFileSync(file, stringify(p.config));
    const basePath = typeof query.base_path === 'string' ? query.base_path : '';
    const listen = { http: `${ip}:${QUERY_PORTS.http}`, grpc: `${ip}:${QUERY_PORTS.grpc}`, ui: `http://${ip}:${QUERY_PORTS.http}${basePath}/` };
    // reportedRestarts -1: the first probe reports, also for a pod whose previous process (same UID) was Ready
    const r: Running = { pod, ip, dir, volumes: p.claims, probeUrl: `http://${ip}:${QUERY_PORTS.health}/status`, listen, target, ready: false, restarts: 0, reportedRestarts: -1, stopping: false };
    this.pods.set(uid, r);
    this.o.log(`query front pod ${ns}/${name} of TraceStore ${instance ?? '?'}: Jaeger on ${ip} (UI ${listen.ui}), reading from the runtime at ${target}`);
    this.run(r, binary, ['--config', file], penv);
  }

  private run(r: Running, bin: string, args: string[], penv: NodeJS.ProcessEnv): void {
    const fd = openSync(join(r.dir, r.target ? 'jaeger.log' : 'runtime.log'), 'a');
    const proc = spawnSupervised(bin, args, fd, penv);
    closeSync(fd);
    r.proc = proc;
    proc.on('exit', () => {
      if (r.stopping || this.stopped) return;
      // crashed: restart with a backoff, as a kubelet would
      r.restarts++;
      this.o.log(`${r.target ? 'Jaeger' : 'runtime'} of pod ${r.pod.metadata.namespace}/${r.pod.metadata.name} exited; restarting (see ${join(r.dir, r.target ? 'jaeger.log' : 'runtime.log')})`);
      r.restartTimer = setTimeout(() => this.run(r, bin, args, penv), Math.min(10_000, 500 * 2 ** Math.min(r.restarts, 5)));
    });
  }

  private async probe(r: Running): Promise<void> {
    if (r.stopping) return;
    let ready = false;
    try {
      const res = await fetch(r.probeUrl, { signal: AbortSignal.timeout(1000) });
      ready = res.status === 200;
      await res.body?.cancel();
    } catch {
      ready = false;
    }
    if (ready === r.ready && r.restarts === r.reportedRestarts) return;
    r.ready = ready;
    r.reportedRestarts = r.restarts;
    const now = new Date().toISOString();
    const status = ready ? 'True' : 'False';
    await this.o.client
      .request('PATCH', resourcePath(PODS, r.pod.metadata.namespace, r.pod.metadata.name, 'status'), {
        body: {
          // the uid: a pod of a StatefulSet comes back under the same name, and this status is not the new one's
          metadata: { uid: r.pod.metadata.uid },
          status: {
            conditions: [
              { type: 'ContainersReady', status, lastTransitionTime: now },
              { type: 'Ready', status, lastTransitionTime: now },
            ],
            containerStatuses: r.pod.spec.containers.map((c) => ({ name: c.name, ready, started: true, restartCount: r.restarts, image: 'local', imageID: '', state: { running: { startedAt: now } } })),
          },
        },
        contentType: 'application/strategic-merge-patch+json',
      })
      .catch((e: unknown) => {
        r.reportedRestarts = -1; // try again on the next probe
        this.o.log(`local kubelet: reporting readiness of ${r.pod.metadata.name}: ${e instanceof Error ? e.message : String(e)}`);
      });
  }

  private async kill(uid: string): Promise<void> {
    const r = this.pods.get(uid);
    if (!r) return;
    r.stopping = true;
    clearTimeout(r.restartTimer);
    if (r.proc) await stopGroup(r.proc);
    this.pods.delete(uid);
    rmSync(r.dir, { recursive: true, force: true });
  }
}
