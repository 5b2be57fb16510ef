// Starts the Jaeger v2 binary (built by test/env/build-jaeger.sh) with a generated config on loopback ports.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, freePort } from '../../src/local/controlplane.js';

export function jaegerBinary(): string {
  const bin = execFileSync('bash', ['-c', `source "${join(REPO_ROOT, 'test/env/versions.sh')}"; echo "$JAEGER_BIN_DIR/jaeger"`], { encoding: 'utf8' }).trim();
  if (!existsSync(bin)) throw new Error(`the Jaeger v2 binary is missing: build it with: bash test/env/build-jaeger.sh`);
  return bin;
}

export interface RunningJaeger {
  proc: ChildProcess;
  otlpHttp: number;
  otlpGrpc: number;
  queryHttp: number;
  /** remote sampling HTTP port, when started with a sampling file */
  samplingHttp?: number;
  /** Prometheus port of the collector's own metrics, when started with `metrics` */
  metricsHttp?: number;
  /** jaeger.storage.v2 gRPC port of the remote_storage extension, when started with `remoteStorage` */
  remoteStorage?: number;
  log: () => string;
  stop(): Promise<void>;
}

export interface JaegerOptions {
  /** serve remote sampling (file provider) from this strategies file, re-read every `reloadInterval` */
  sampling?: { file: string; reloadInterval: string };
  /** expose the collector's own metrics (receiver and exporter span counters) in Prometheus format */
  metrics?: boolean;
  /** expose the trace storage over jaeger.storage.v2 gRPC (the remote_storage extension) */
  remoteStorage?: boolean;
  /**
   * false: no batch processor, so an OTLP Export is answered only once the storage exporter wrote it (what a
   * remote-storage client needs to read its own writes)
   */
  batch?: boolean;
}

/** Jaeger v2 whose trace storage is `storageYaml` (indented for `backends.store:`). */
export async function startJaeger(storageYaml: string, o: JaegerOptions = {}): Promise<RunningJaeger> {
  // a port found free can be taken by another process before Jaeger binds it: then start again on new ports
  for (let attempt = 1; ; attempt++) {
    try {
      return await startJaegerOnce(storageYaml, o);
    } catch (e) {
      if (attempt >= 3 || !(e instanceof PortTaken)) throw e;
    }
  }
}

class PortTaken extends Error {}

async function startJaegerOnce(storageYaml: string, o: JaegerOptions): Promise<RunningJaeger> {
  const dir = mkdtempSync(join(tmpdir(), 'jso-jaeger-'));
  const [g, h, q, qg] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const sh = o.sampling ? await freePort() : undefined;
  const sg = o.sampling ? await freePort() : undefined;
  const mp = o.metrics ? await freePort() : undefined;
  const rp = o.remoteStorage ? await freePort() : undefined;
  const remote = rp ? `  remote_storage:\n    endpoint: 127.0.0.1:${rp}\n    storage: store\n` : '';
  const batch = o.batch !== false;
  const metrics = mp
    ? `      level: basic
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: ${mp}
`
    : '      level: none\n';
  const sampling = o.sampling
    ? `  remote_sampling:
    file:
      path: ${o.sampling.file}
      reload_interval: ${o.sampling.reloadInterval}
    http:
      endpoint: 127.0.0.1:${sh}
    grpc:
      endpoint: 127.0.0.1:${sg}
`
    : '';
  const yaml = `service:
  extensions: [jaeger_storage, jaeger_query${o.sampling ? ', remote_sampling' : ''}${rp ? ', remote_storage' : ''}]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [${batch ? 'batch' : ''}]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
${metrics}    logs:
      level: warn
extensions:
${sampling}${remote}  jaeger_query:
    # no self-tracing: it would export to 127.0.0.1:4317, where nothing listens, and stall shutdown 10 s
    enable_tracing: false
    storage:
      traces: store
    http:
      endpoint: 127.0.0.1:${q}
    grpc:
      endpoint: 127.0.0.1:${qg}
  jaeger_storage:
    backends:
      store:
${storageYaml}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:${g}
      http:
        endpoint: 127.0.0.1:${h}
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: store
`;
  writeFileSync(join(dir, 'config.yaml'), yaml);
  const proc = spawn(jaegerBinary(), ['--config', join(dir, 'config.yaml')], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const log = () => out.slice(-4000);
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null) {
      const Failure = /bind: address already in use/.test(out) ? PortTaken : Error;
      rmSync(dir, { recursive: true, force: true });
      throw new Failure(`jaeger exited (${proc.exitCode}):\n${log()}`);
    }
    try {
      if ((await fetch(`http://127.0.0.1:${q}/api/v3/services`)).status < 500) break;
    } catch {
      /* starting */
    }
    if (i > 300) throw new Error(`jaeger did not start:\n${log()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    proc,
    otlpHttp: h,
    otlpGrpc: g,
    queryHttp: q,
    ...(sh ? { samplingHttp: sh } : {}),
    ...(mp ? { metricsHttp: mp } : {}),
    ...(rp ? { remoteStorage: rp } : {}),
    log,
    async stop() {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await new Promise((r) => proc.once('exit', r));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
