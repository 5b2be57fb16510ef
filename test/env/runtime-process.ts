// Runs the runtime as its own process (`cli.js runtime --config`), as it runs in a pod, on loopback ports it picks
// itself; the ports are read from its start-up log line. Tests kill it, restart it and read its output.
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';

export interface RuntimeProcess {
  proc: ChildProcess;
  ports: Record<'admin' | 'otlpHttp' | 'otlpGrpc' | 'queryHttp', number>;
  exited: Promise<void>;
  /** everything it logged so far (pino JSON lines) */
  output: () => string;
}

/** Writes a runtime config on loopback ports (log level info: the start line carries the ports) to `file`. */
export function writeRuntimeConfig(file: string, config: Record<string, unknown>): string {
  const listen = Object.fromEntries(['admin', 'otlpGrpc', 'otlpHttp', 'queryHttp', 'queryGrpc', 'remoteStorage', 'samplingHttp', 'samplingGrpc'].map((k) => [k, '127.0.0.1:0']));
  writeFileSync(file, JSON.stringify({ apiVersion: 'storage.jaegertracing.io/v1alpha1', kind: 'RuntimeConfig', listen, log: { level: 'info' }, ...config }));
  return file;
}

export async function startRuntimeProcess(config: string): Promise<RuntimeProcess> {
  const proc = spawn(process.execPath, [join(ROOT, 'dist/src/cli.js'), 'runtime', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  let out = '';
  let err = '';
  proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  const ports = await new Promise<RuntimeProcess['ports']>((resolve, reject) => {
    const t = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`runtime did not start within 30 s: ${err || out}`));
    }, 30_000);
    const check = () => {
      const m = /"ports":(\{[^}]*\})/.exec(out);
      if (!m) return;
      clearTimeout(t);
      proc.stdout!.off('data', check);
      resolve(JSON.parse(m[1]!) as RuntimeProcess['ports']);
    };
    proc.stdout!.on('data', check);
    void exited.then(() => reject(new Error(`runtime exited at start: ${err || out}`)));
  });
  return { proc, ports, exited, output: () => out + err };
}

