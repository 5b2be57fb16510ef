// Shared helpers for tests against the real control plane started by test/env/jest-global-setup.ts.
import { PLUGINS } from '../src/storage/plugins.js';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect, createServer, type Socket } from 'node:net';
import * as http from 'node:http';
import * as https from 'node:https';
import { join } from 'node:path';
import { pino } from 'pino';
import type { TraceStore } from '../src/api/tracestore.js';
import { Operator, defaultOperatorOptions, type OperatorOptions } from '../src/controllers/manager.js';
import { KubeClient, isNotFound, res, resourcePath } from '../src/kube/client.js';
import { type RuntimeConfig, listenAll, parseRuntimeConfig } from '../src/api/runtime-config.js';
import { TRACESTORES } from '../src/kube/resources.js';
import { type RunningRuntime, startRuntime } from '../src/runtime/server.js';
import { ROOT } from './root.js';

export { ROOT };
export const NAMESPACES = res('', 'v1', 'Namespace', 'namespaces', false);
export { TRACESTORES };

export function kubeconfig(): string {
  const k = process.env.JSO_TEST_KUBECONFIG;
  if (!k) throw new Error('JSO_TEST_KUBECONFIG is not set: run the tests with `npm test` or `npm run test:integration` (the global setup of the integration project starts the control plane; tests under test/unit get none)');
  return k;
}

export const testClient = (): KubeClient => KubeClient.load(kubeconfig(), { userAgent: 'jso-test' });

export async function createNamespace(client: KubeClient, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await client.request('POST', resourcePath(NAMESPACES), { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } });
  // the namespace's default ServiceAccount must exist before pods can be created in it
  await waitFor(`ServiceAccount ${name}/default`, async () => {
    try {
      await client.get(`/api/v1/namespaces/${name}/serviceaccounts/default`);
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  });
  return name;
}

/** Polls `check` every `intervalMs` until it returns a truthy value or the deadline passes (bounded). */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 30_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? ` (last error: ${String(lastErr)})` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Waits until the TraceStore's condition `type` has `status` (and `reason`, if given) for its current generation. */
export const waitStoreCondition = (client: KubeClient, ns: string, name: string, type: string, status: string, reason?: string, timeoutMs = 60_000): Promise<TraceStore> =>
  waitFor(
    `${name} ${type}=${status}${reason ? ` (${reason})` : ''}`,
    async () => {
      const ts = await getStore(client, ns, name);
      const c = conditionOf(ts, type);
      return c?.status === status && (!reason || c.reason === reason) && ts.status?.observedGeneration === ts.metadata.generation ? ts : undefined;
    },
    timeoutMs,
    200,
  );

export function memoryStore(name: string, namespace: string, maxTraces = 1000): TraceStore {
  return {
    apiVersion: 'storage.jaegertracing.io/v1alpha1',
    kind: 'TraceStore',
    metadata: { name, namespace },
    spec: { backend: { memory: { maxTraces } } },
  };
}

export async function applyStore(client: KubeClient, ts: TraceStore): Promise<TraceStore> {
  return client.apply<TraceStore>(resourcePath(TRACESTORES, ts.metadata.namespace, ts.metadata.name), ts, 'jso-test');
}

export async function getStore(client: KubeClient, ns: string, name: string): Promise<TraceStore> {
  return client.get<TraceStore>(resourcePath(TRACESTORES, ns, name));
}

export const conditionOf = (ts: TraceStore, type: string) => ts.status?.conditions?.find((c) => c.type === type);

export async function waitReady(client: KubeClient, ns: string, name: string, timeoutMs = 60_000): Promise<TraceStore> {
  return waitFor(`TraceStore ${ns}/${name} Ready=True`, async () => {
    const ts = await getStore(client, ns, name);
    return conditionOf(ts, 'Ready')?.status === 'True' && ts.status?.observedGeneration === ts.metadata.generation ? ts : undefined;
  }, timeoutMs);
}

/** An operator inside the test process (no leader election unless asked), watching one namespace. */
export async function startInProcessOperator(namespace: string | undefined, overrides: Partial<OperatorOptions> = {}): Promise<Operator> {
  const o = defaultOperatorOptions(PLUGINS);
  o.kubeconfig = kubeconfig();
  o.namespace = namespace;
  o.opsHost = '127.0.0.1';
  o.opsPort = 0;
  o.runtimeImage = 'jaeger-storage-operator:test';
  o.leaderElection.enabled = false;
  Object.assign(o, overrides);
  const op = new Operator(o, pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }));
  await op.start();
  return op;
}

export interface OperatorProcess {
  proc: ChildProcess;
  identity: string;
  output: () => string;
  opsPort: () => Promise<number>;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

/** The operator as a separate OS process (`node dist/src/cli.js operator`), so tests can kill -9 it. */
export function spawnOperator(args: string[], env: Record<string, string> = {}): OperatorProcess {
  const identity = `op-${randomBytes(3).toString('hex')}`;
  const proc = spawn(process.execPath, [join(ROOT, 'dist/src/cli.js'), 'operator', '--ops-bind-address', '127.0.0.1:0', ...args], {
    env: { ...process.env, KUBECONFIG: kubeconfig(), HOSTNAME: identity, JSO_RUNTIME_IMAGE: 'jaeger-storage-operator:test', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return {
    proc,
    identity,
    output: () => out,
    exited,
    opsPort: () =>
      waitFor('operator ops port in its log', async () => {
        const m = /"port":(\d+)[^\n]*ops server listening/.exec(out);
        return m ? Number(m[1]) : undefined;
      }, 20_000),
    kill: (signal = 'SIGKILL') => proc.kill(signal),
  };
}

/** GET http(s) text from a loopback URL. */
export function fetchText(url: string, token?: string): Promise<{ code: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    if (!['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)) return reject(new Error(`refusing to dial non-loopback ${url}`));
    const get = u.protocol === 'https:' ? https.get : http.get;
    const req = get(url, { headers: token ? { Authorization: `Bearer ${token}` } : {}, rejectUnauthorized: false, timeout: 10_000 }, (r) => {
      let body = '';
      r.on('data', (c: Buffer) => (body += c.toString()));
      r.on('end', () => resolve({ code: r.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

/** Sums a Prometheus counter over the series whose labels match all of `labels`. */
export function sumMetric(text: string, name: string, labels: Record<string, string | RegExp> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const m = /^[^{ ]+(?:\{(.*)\})? ([^ ]+)/.exec(line);
    if (!m) continue;
    const lbls = Object.fromEntries([...(m[1] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    const ok = Object.entries(labels).every(([k, v]) => (v instanceof RegExp ? v.test(lbls[k] ?? '') : lbls[k] === v));
    if (ok) sum += Number(m[2]);
  }
  return sum;
}

export interface AuditEvent {
  verb: string;
  userAgent?: string;
  stageTimestamp: string;
  objectRef?: { resource?: string; namespace?: string; name?: string; subresource?: string };
  responseStatus?: { code?: number };
}

/** Write requests the API server recorded in its audit log (every create/update/patch/delete). */
export function auditedWrites(filter: (e: AuditEvent) => boolean = () => true): AuditEvent[] {
  const dir = process.env.JSO_TEST_CP_DIR;
  if (!dir) throw new Error('JSO_TEST_CP_DIR is not set: run the tests with `npm test`');
  let text = '';
  try {
    text = readFileSync(join(dir, 'audit.log'), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditEvent)
    .filter((e) => e.responseStatus?.code === undefined || e.responseStatus.code < 400)
    .filter(filter);
}

export interface ApiProxy {
  /** a kubeconfig whose server is the proxy */
  kubeconfig: string;
  /** cuts every open connection; while `down`, new connections are refused at once */
  sever(down?: boolean): void;
  /** accepts connections again */
  restore(): void;
  close(): Promise<void>;
}

/** A loopback TCP proxy in front of the API server that a test can sever, to simulate a lost API connection. */
export async function startApiProxy(): Promise<ApiProxy> {
  const target = new URL(process.env.JSO_TEST_APISERVER!);
  const sockets = new Set<Socket>();
  let refusing = false;
  const proxy = createServer((down) => {
    if (refusing) return down.destroy();
    const up = connect(Number(target.port), '127.0.0.1');
    sockets.add(down);
    sockets.add(up);
    down.pipe(up).pipe(down);
    const close = () => (down.destroy(), up.destroy(), sockets.delete(down), sockets.delete(up));
    down.on('error', close).on('close', close);
    up.on('error', close).on('close', close);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
  const port = (proxy.address() as { port: number }).port;
  const kc = join(process.env.JSO_TEST_CP_DIR!, `kubeconfig-proxy-${port}`);
  writeFileSync(kc, readFileSync(kubeconfig(), 'utf8').replace(target.origin, `https://127.0.0.1:${port}`));
  return {
    kubeconfig: kc,
    sever(down = false) {
      refusing = down;
      for (const s of sockets) s.destroy();
    },
    restore() {
      refusing = false;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        proxy.close(() => r());
      }),
  };
}

/** A runtime configuration for tests: every listener on a free loopback port, plus `config` (backend, ingest, ...). */
export const loopbackRuntimeConfig = (config: Record<string, unknown>): RuntimeConfig =>
  parseRuntimeConfig({ apiVersion: 'storage.jaegertracing.io/v1alpha1', kind: 'RuntimeConfig', listen: listenAll('127.0.0.1:0'), ...config });

/** Our runtime (memory backend) as a remote storage server over TLS that accepts one bearer token. */
export async function startSecuredRemoteStorage(pki: TestPki, token: string): Promise<RunningRuntime> {
  const tokens = join(pki.dir, 'tokens');
  writeFileSync(tokens, `${token}\n`);
  return startRuntime(
    loopbackRuntimeConfig({
      backend: { memory: { maxTraces: 1000 } },
      ingest: { batchAgeMs: 20 },
      security: { remoteStorage: { tls: { certFile: pki.certFile, keyFile: pki.keyFile }, auth: { bearerTokenFile: tokens } } },
    }),
    pino({ level: 'silent' }),
  );
}

/** A test PKI made with openssl: a CA, a server certificate for 127.0.0.1 and a client certificate, as files. */
export interface TestPki {
  dir: string;
  caFile: string;
  ca: string;
  certFile: string;
  keyFile: string;
  clientCertFile: string;
  clientKeyFile: string;
  clientCert: string;
  clientKey: string;
}

export function testPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'jso-pki-'));
  const f = (n: string) => join(dir, n);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '1', '-subj', '/CN=jso-test-ca');
  // DNS:localhost for gRPC clients, which must name a TLS server by a DNS name (see listener-security.test.ts)
  writeFileSync(f('server.cnf'), 'subjectAltName = IP:127.0.0.1, DNS:localhost\nextendedKeyUsage = serverAuth\n');
  writeFileSync(f('client.cnf'), 'extendedKeyUsage = clientAuth\n');
  for (const [who, cn] of [['tls', '127.0.0.1'], ['client', 'jso-test-client']] as const) {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f(`${who}.key`), '-out', f(`${who}.csr`), '-subj', `/CN=${cn}`);
    ssl('x509', '-req', '-in', f(`${who}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${who}.crt`), '-days', '1', '-extfile', f(who === 'tls' ? 'server.cnf' : 'client.cnf'));
  }
  return {
    dir,
    caFile: f('ca.crt'),
    ca: readFileSync(f('ca.crt'), 'utf8'),
    certFile: f('tls.crt'),
    keyFile: f('tls.key'),
    clientCertFile: f('client.crt'),
    clientKeyFile: f('client.key'),
    clientCert: readFileSync(f('client.crt'), 'utf8'),
    clientKey: readFileSync(f('client.key'), 'utf8'),
  };
}
