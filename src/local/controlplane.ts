// A real Kubernetes control plane on loopback, from binaries built by test/env/build-binaries.sh:
// etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (simulated nodes, so Deployments get
// ReplicaSets and Pods that turn Running). Used by the tests and by `npm start` when there is no cluster.
// Pod IPs that kwok assigns are fiction (nothing here dials them), except in local mode: there they come from a
// loopback range and the local kubelet (kubelet.ts) runs each runtime pod as a process bound to its pod IP.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as https from 'node:https';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export interface ControlPlaneOptions {
  /** state directory (default: a new temp dir, removed on stop) */
  dir?: string;
  /** simulated nodes to create */
  nodes?: number;
  /** print progress lines */
  log?: (line: string) => void;
  /** build missing binaries first (can take minutes on a cold machine) */
  build?: boolean;
  /** runs once the API server is ready and before the controllers start (e.g. install CRDs, so the garbage
   * collector knows them from its first discovery instead of after its 30 s resync) */
  beforeControllers?: (kubeconfig: string) => Promise<void>;
  /** pod addresses kwok hands out (default 10.244.0.0/16, never dialled); local mode uses a loopback range */
  podCidr?: string;
  /** kwok stages file (default test/env/kwok-stages.yaml: pods turn Ready at once) */
  kwokStages?: string;
}

export interface ControlPlaneInfo {
  dir: string;
  kubeconfig: string;
  server: string;
  token: string;
  etcdUrl: string;
  pids: Record<string, number>;
}

interface Binaries {
  etcd: string;
  apiserver: string;
  controllerManager: string;
  scheduler: string;
  kwok: string;
}

export function binaryPaths(): Binaries {
  const script = join(REPO_ROOT, 'test/env/versions.sh');
  const out = execFileSync('bash', ['-c', `source "${script}"; echo "$K8S_BIN_DIR"; echo "$ETCD_BIN_DIR"; echo "$KWOK_BIN_DIR"`], { encoding: 'utf8' });
  const [k8s, etcd, kwok] = out.trim().split('\n') as [string, string, string];
  return {
    etcd: join(etcd, 'etcd'),
    apiserver: join(k8s, 'kube-apiserver'),
    controllerManager: join(k8s, 'kube-controller-manager'),
    scheduler: join(k8s, 'kube-scheduler'),
    kwok: join(kwok, 'kwok'),
  };
}

export function missingBinaries(): string[] {
  return Object.values(binaryPaths()).filter((p) => !existsSync(p));
}

export function buildBinaries(log: (l: string) => void = (l) => process.stderr.write(`${l}\n`)): void {
  log('building control-plane binaries (cold: ~10 min on 2 cores; cached afterwards)');
  execFileSync('bash', [join(REPO_ROOT, 'test/env/build-binaries.sh'), 'all'], { stdio: ['ignore', 'inherit', 'inherit'] });
}

/** The kernel's range for outgoing connections' local ports (Linux default 32768-60999). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 2048 ? low : 32768;
  } catch {
    return 32768;
  }
}

const handedOut = new Set<number>();

function tryBind(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const s = createServer();
    s.unref();
    s.on('error', () => resolve(undefined));
    s.listen(port, '127.0.0.1', () => {
      const addr = s.address();
      const got = typeof addr === 'object' && addr ? addr.port : undefined;
      s.close(() => resolve(got));
    });
  });
}

/**
 * A loopback port nothing listens on now. Chosen below the kernel's ephemeral range: a port the kernel hands out
 * for bind(0) is also what it gives the next outgoing connection, so between this check and the caller's bind a
 * client socket anywhere on the machine could take it. Never the same port twice in one process.
 */
export async function freePort(): Promise<number> {
  const high = ephemeralLow() - 1;
  const low = Math.max(10000, high - 16000);
  for (let i = 0; i < 64; i++) {
    const candidate = low + Math.floor(Math.random() * (high - low));
    if (handedOut.has(candidate)) continue;
    const got = await tryBind(candidate);
    if (got !== undefined) {
      handedOut.add(got);
      return got;
    }
  }
  const got = await tryBind(0);
  if (got === undefined) throw new Error('no free loopback port: binding 127.0.0.1 failed');
  handedOut.add(got);
  return got;
}

const WATCHDOG = `"$@" & c=$!
stop() { kill -TERM $c 2>/dev/null; for i in $(seq 50); do kill -0 $c 2>/dev/null || exit 0; sleep 0.1; done; kill -KILL $c 2>/dev/null; exit 0; }
trap stop TERM INT
while kill -0 "$JSO_PARENT_PID" 2>/dev/null && kill -0 $c 2>/dev/null; do sleep 1 & wait $!; done
stop`;

/** Only what Deployments, garbage collection and namespaces need: fewer controllers start faster on 2 cores. */
const CONTROLLERS = [
  'deployment-controller',
  'replicaset-controller',
  'garbage-collector-controller',
  'namespace-controller',
  'serviceaccount-controller',
  'serviceaccount-token-controller',
  'root-ca-certificate-publisher-controller',
  'endpointslice-controller',
  'pod-garbage-collector-controller',
  'statefulset-controller',
  'job-controller',
  'cronjob-controller',
  // data volumes of StatefulSets (embedded backend): claims bind to PersistentVolumes, and the protection
  // finalizers the API server adds to claims and volumes are removed once they are no longer in use
  'persistentvolume-binder-controller',
  'persistentvolume-protection-controller',
  'persistentvolumeclaim-protection-controller',
];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function httpsGet(url: string, token: string, ca?: Buffer): Promise<{ code: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { headers: { Authorization: `Bearer ${token}` }, ca, rejectUnauthorized: !!ca, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ code: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

// Process groups of components still running; whatever way this process exits (process.exit from a second
// Ctrl-C, an error), they get SIGKILL on the way out.
const groups = new Set<number>();
let exitHookInstalled = false;

function trackGroup(pgid: number): void {
  groups.add(pgid);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const g of groups) killGroup(g, 'SIGKILL');
    });
  }
}

function untrackGroup(pgid: number): void {
  groups.delete(pgid);
}

function killGroup(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch {
    /* the group is gone */
  }
}

/** Whether any process of the group is left (signal 0 to the group). */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts bin under a bash watchdog: it also stops when this process dies without cleaning up (kill -9, crash).
 * Its own process group: a terminal's Ctrl-C reaches only us (we stop children in order), and stopGroup() signals
 * the watchdog and the child together.
 */
export function spawnSupervised(bin: string, args: string[], logFd: number, env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const proc = spawn('bash', ['-c', WATCHDOG, 'watchdog', bin, ...args], {
    stdio: ['ignore', logFd, logFd],
    env: { ...env, JSO_PARENT_PID: String(process.pid) },
    detached: true,
  });
  if (proc.pid) trackGroup(proc.pid);
  return proc;
}

/** SIGTERM to the group of a spawnSupervised process, SIGKILL after timeoutMs. */
export async function stopGroup(proc: ChildProcess, timeoutMs = 10_000): Promise<void> {
  if (!proc.pid) return;
  killGroup(proc.pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (groupAlive(proc.pid) && Date.now() < deadline) await sleep(50);
  killGroup(proc.pid, 'SIGKILL');
  untrackGroup(proc.pid);
}

export class ControlPlane {
  private procs: { name: string; proc: ChildProcess }[] = [];
  private ownsDir: boolean;
  readonly dir: string;
  info?: ControlPlaneInfo;

  constructor(private readonly o: ControlPlaneOptions = {}) {
    this.ownsDir = !o.dir;
    this.dir = o.dir ?? mkdtempSync(join(tmpdir(), 'jso-controlplane-'));
  }

  private log(line: string): void {
    (this.o.log ?? ((l: string) => process.stderr.write(`${l}\n`)))(`[control-plane] ${line}`);
  }

  private spawnLogged(name: string, bin: string, args: string[]): ChildProcess {
    mkdirSync(join(this.dir, 'logs'), { recursive: true });
    const fd = openSync(join(this.dir, 'logs', `${name}.log`), 'a');
    const proc = spawnSupervised(bin, args, fd);
    closeSync(fd);
    proc.on('exit', (code, sig) => {
      if (!this.stopping) this.log(`${name} exited unexpectedly (code ${code}, signal ${sig}); see ${join(this.dir, 'logs', `${name}.log`)}`);
    });
    this.procs.push({ name, proc });
    return proc;
  }

  private stopping = false;

  logTail(name: string, lines = 30): string {
    try {
      return readFileSync(join(this.dir, 'logs', `${name}.log`), 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  async start(): Promise<ControlPlaneInfo> {
    const missing = missingBinaries();
    if (missing.length) {
      if (!this.o.build) throw new Error(`control-plane binaries missing: ${missing.join(', ')}\nbuild them with: bash test/env/build-binaries.sh`);
      buildBinaries((l) => this.log(l));
    }
    const bin = binaryPaths();
    const t0 = Date.now();
    mkdirSync(this.dir, { recursive: true });
    const certDir = join(this.dir, 'certs');
    mkdirSync(certDir, { recursive: true });

    // service-account signing key and the admin token
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(this.dir, 'sa.key'), privateKey.export({ type: 'pkcs1', format: 'pem' }));
    writeFileSync(join(this.dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    const token = randomBytes(24).toString('hex');
    writeFileSync(join(this.dir, 'tokens.csv'), `${token},admin,admin-uid,system:masters\n`);

    const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
    const etcdUrl = `http://127.0.0.1:${etcdClient}`;
    this.log(`starting etcd on ${etcdUrl}`);
    this.spawnLogged('etcd', bin.etcd, [
      `--data-dir=${join(this.dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`,
      '--unsafe-no-fsync=true',
      '--listen-metrics-urls=',
      '--log-level=warn',
    ]);

    // audit log of every write (metadata only): lets tests prove from the server side what a client wrote
    writeFileSync(
      join(this.dir, 'audit-policy.yaml'),
      ['apiVersion: audit.k8s.io/v1', 'kind: Policy', 'omitStages: [RequestReceived]', 'rules:', '- level: Metadata', '  verbs: [create, update, patch, delete, deletecollection]', '- level: None', ''].join('\n'),
    );
    const server = `https://127.0.0.1:${apiPort}`;
    this.log(`starting kube-apiserver on ${server}`);
    this.spawnLogged('kube-apiserver', bin.apiserver, [
      `--etcd-servers=${etcdUrl}`,
      `--cert-dir=${certDir}`,
      `--secure-port=${apiPort}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      '--service-cluster-ip-range=10.96.0.0/16',
      '--authorization-mode=RBAC',
      `--token-auth-file=${join(this.dir, 'tokens.csv')}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${join(this.dir, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(this.dir, 'sa.key')}`,
      '--allow-privileged=true',
      '--endpoint-reconciler-type=none',
      '--enable-priority-and-fairness=false',
      '--profiling=false',
      `--audit-policy-file=${join(this.dir, 'audit-policy.yaml')}`,
      `--audit-log-path=${join(this.dir, 'audit.log')}`,
      '--audit-log-mode=batch',
      '--audit-log-batch-max-wait=1s',
      '--v=0',
    ]);
    await this.waitReady(`${server}/readyz`, token, 'kube-apiserver', 120_000);
    const ca = join(certDir, 'apiserver.crt');
    const kubeconfig = join(this.dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: local',
        '  cluster:',
        `    server: ${server}`,
        `    certificate-authority-data: ${readFileSync(ca).toString('base64')}`,
        'users:',
        '- name: admin',
        '  user:',
        `    token: ${token}`,
        'contexts:',
        '- name: local',
        '  context: {cluster: local, user: admin, namespace: default}',
        'current-context: local',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );

    await this.o.beforeControllers?.(kubeconfig);
    this.log('starting kube-controller-manager, kube-scheduler and kwok');
    this.spawnLogged('kube-controller-manager', bin.controllerManager, [
      `--kubeconfig=${kubeconfig}`,
      '--leader-elect=false',
      '--secure-port=0',
      '--use-service-account-credentials=false',
      `--service-account-private-key-file=${join(this.dir, 'sa.key')}`,
      `--root-ca-file=${ca}`,
      `--controllers=${CONTROLLERS.join(',')}`,
      '--concurrent-deployment-syncs=10',
      '--concurrent-replicaset-syncs=10',
      '--concurrent-gc-syncs=10',
      '--v=0',
    ]);
    this.spawnLogged('kube-scheduler', bin.scheduler, [`--kubeconfig=${kubeconfig}`, '--leader-elect=false', '--secure-port=0', '--v=0']);
    this.spawnLogged('kwok', bin.kwok, [
      `--kubeconfig=${kubeconfig}`,
      '--manage-all-nodes=false',
      '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
      `--cidr=${this.o.podCidr ?? '10.244.0.0/16'}`,
      `--node-ip=${(this.o.podCidr ?? '10.244.0.0/16').replace(/\.\d+\.\d+\/\d+$/, '.255.1')}`,
      `--config=${this.o.kwokStages ?? join(REPO_ROOT, 'test/env/kwok-stages.yaml')}`,
    ]);

    for (let i = 0; i < (this.o.nodes ?? 2); i++) await this.createNode(server, token, ca, `kwok-node-${i}`);
    this.info = { dir: this.dir, kubeconfig, server, token, etcdUrl, pids: Object.fromEntries(this.procs.map((p) => [p.name, p.proc.pid ?? 0])) };
    writeFileSync(join(this.dir, 'state.json'), JSON.stringify(this.info, null, 2));
    await this.waitDefaultServiceAccount(server, token, ca);
    this.log(`ready in ${((Date.now() - t0) / 1000).toFixed(1)} s; kubeconfig: ${kubeconfig}`);
    return this.info;
  }

  private async waitReady(url: string, token: string, name: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      try {
        const r = await httpsGet(url, token);
        if (r.code === 200) return;
        last = `${r.code} ${r.body.slice(0, 200)}`;
      } catch (e) {
        last = e instanceof Error ? e.message : String(e);
      }
      if (this.procs.some((p) => p.proc.exitCode !== null)) break;
      await sleep(250);
    }
    throw new Error(`${name} did not become ready (${last}). Log tail:\n${this.logTail(name)}\n--- etcd:\n${this.logTail('etcd', 10)}`);
  }

  private async api(method: string, url: string, token: string, ca: string, body?: unknown, contentType = 'application/json'): Promise<{ code: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = https.request(url, { method, headers: { Authorization: `Bearer ${token}`, 'Content-Type': contentType }, ca: readFileSync(ca) }, (res) => {
        let b = '';
        res.on('data', (c: Buffer) => (b += c.toString()));
        res.on('end', () => resolve({ code: res.statusCode ?? 0, body: b }));
      });
      req.on('error', reject);
      if (body) req.write(JSON.stringify(body));
      req.end();
    });
  }

  private async createNode(server: string, token: string, ca: string, name: string): Promise<void> {
    const node = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name,
        annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
        labels: { type: 'kwok', 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' },
      },
      status: { allocatable: { cpu: '32', memory: '256Gi', pods: '110' }, capacity: { cpu: '32', memory: '256Gi', pods: '110' } },
    };
    const r = await this.api('POST', `${server}/api/v1/nodes`, token, ca, node);
    if (r.code !== 201 && r.code !== 409) throw new Error(`creating node ${name}: ${r.code} ${r.body}`);
    // The apiserver taints new nodes not-ready; node-lifecycle-controller (not run: simulated nodes send no
    // heartbeats) would lift it. Lift it ourselves so pods schedule.
    const p = await this.api('PATCH', `${server}/api/v1/nodes/${name}`, token, ca, { spec: { taints: null } }, 'application/merge-patch+json');
    if (p.code !== 200) throw new Error(`untainting node ${name}: ${p.code} ${p.body}`);
  }

  private async waitDefaultServiceAccount(server: string, token: string, ca: string): Promise<void> {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const r = await this.api('GET', `${server}/api/v1/namespaces/default/serviceaccounts/default`, token, ca);
      if (r.code === 200) return;
      await sleep(250);
    }
    throw new Error(`the default ServiceAccount did not appear: is kube-controller-manager running?\n${this.logTail('kube-controller-manager')}`);
  }

  /** Kills one component (for failure tests) and returns a function that starts it again. */
  processOf(name: string): ChildProcess | undefined {
    return this.procs.find((p) => p.name === name)?.proc;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const { proc } of [...this.procs].reverse()) if (proc.pid) killGroup(proc.pid, 'SIGTERM');
    const deadline = Date.now() + 10_000;
    for (const { proc } of this.procs) {
      while (proc.pid && groupAlive(proc.pid) && Date.now() < deadline) await sleep(50);
      if (proc.pid) {
        killGroup(proc.pid, 'SIGKILL');
        untrackGroup(proc.pid);
      }
    }
    this.procs = [];
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Stops the processes recorded in a state file (used by jest's global teardown, which runs in another context). */
export function killFromState(stateFile: string): void {
  if (!existsSync(stateFile)) return;
  const info = JSON.parse(readFileSync(stateFile, 'utf8')) as ControlPlaneInfo;
  for (const pid of Object.values(info.pids).reverse()) {
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
  }
}
