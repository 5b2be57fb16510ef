#!/usr/bin/env node
// Entry points: `operator`, `runtime`, and `local` (everything on one machine for a first try).
import { parseArgs } from 'node:util';
import { Operator, defaultOperatorOptions, watchedNamespaces } from './controllers/manager.js';
import { createLogger } from './log.js';
import { ConfigError, defaultRuntimeConfig } from './api/runtime-config.js';
import { loadRuntimeConfig, withEnvOverrides } from './runtime/config.js';
import { startRuntime } from './runtime/server.js';
import { PLUGINS } from './storage/plugins.js';
import { LocalModeError } from './local/lock.js';

const USAGE = `usage: jaeger-storage-operator <command> [flags]

commands:
  operator   run the operator against the cluster of $KUBECONFIG (or in-cluster)
             --kubeconfig FILE  --namespace NS[,NS...] (default: all; alias --watch-namespaces)  --workers N (4)
             --ops-bind-address HOST:PORT (0.0.0.0:8080: /metrics /healthz /readyz)
             --runtime-image IMAGE  --leader-elect true|false (true)
             --leader-election-namespace NS  --lease-duration S (15)  --renew-deadline S (10)  --retry-period S (2)
  runtime    run the storage runtime: --config FILE (default: memory backend, default ports)
  local      run everything on this machine: a local control plane when there is no kubeconfig,
             the CRDs, the operator and config/samples/tracestore-memory.yaml
`;

function hostPort(v: string): { host: string; port: number } {
  const i = v.lastIndexOf(':');
  const port = Number(v.slice(i + 1));
  if (i < 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--ops-bind-address: "${v}" is not HOST:PORT`);
  return { host: v.slice(0, i) || '0.0.0.0', port };
}

function seconds(flag: string, v: string | undefined, def: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${flag}: "${v}" is not a positive number of seconds`);
  return n * 1000;
}

async function runOperator(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      kubeconfig: { type: 'string' },
      namespace: { type: 'string' },
      'watch-namespaces': { type: 'string' },
      workers: { type: 'string' },
      'ops-bind-address': { type: 'string' },
      'runtime-image': { type: 'string' },
      'leader-elect': { type: 'string' },
      'leader-election-namespace': { type: 'string' },
      'leader-election-id': { type: 'string' },
      'lease-duration': { type: 'string' },
      'renew-deadline': { type: 'string' },
      'retry-period': { type: 'string' },
    },
  });
  const o = defaultOperatorOptions(PLUGINS);
  if (values.kubeconfig) o.kubeconfig = values.kubeconfig;
  const namespaces = values['watch-namespaces'] ?? values.namespace;
  if (namespaces) o.namespace = (watchedNamespaces(namespaces) ?? []).join(',');
  if (values.workers) {
    o.workers = Number(values.workers);
    if (!Number.isInteger(o.workers) || o.workers < 1 || o.workers > 64) throw new Error(`--workers: "${values.workers}" must be an integer from 1 to 64`);
  }
  if (values['ops-bind-address']) Object.assign(o, (({ host, port }) => ({ opsHost: host, opsPort: port }))(hostPort(values['ops-bind-address'])));
  if (values['runtime-image']) o.runtimeImage = values['runtime-image'];
  if (values['leader-elect'] !== undefined) o.leaderElection.enabled = values['leader-elect'] !== 'false';
  if (values['leader-election-namespace']) o.leaderElection.namespace = values['leader-election-namespace'];
  if (values['leader-election-id']) o.leaderElection.name = values['leader-election-id'];
  o.leaderElection.leaseDurationMs = seconds('lease-duration', values['lease-duration'], o.leaderElection.leaseDurationMs);
  o.leaderElection.renewDeadlineMs = seconds('renew-deadline', values['renew-deadline'], o.leaderElection.renewDeadlineMs);
  o.leaderElection.retryPeriodMs = seconds('retry-period', values['retry-period'], o.leaderElection.retryPeriodMs);
  const log = createLogger('operator');
  const op = new Operator(o, log);
  onShutdown(() => op.stop(), log);
  await op.start();
}

async function runRuntime(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string' } } });
  const cfg = withEnvOverrides(values.config ? loadRuntimeConfig(values.config) : defaultRuntimeConfig());
  const log = createLogger('runtime', cfg.log?.level);
  keepServing(log);
  const rt = await startRuntime(cfg, log);
  onShutdown(() => rt.stop(), log);
}

/**
 * The last resort of the runtime process: every listener has its own handler, so an error that still escapes is
 * a bug. It is logged loudly and the process keeps serving: what was acknowledged is already durable, and
 * exiting would turn one bad request into an outage for every client.
 */
function keepServing(log: { fatal: (o: object, m: string) => void }): void {
  const report = (kind: string) => (e: unknown) => log.fatal({ err: e instanceof Error ? (e.stack ?? e.message) : String(e), kind }, 'unhandled error: this is a bug, please report it; the runtime keeps serving');
  process.on('unhandledRejection', report('unhandledRejection'));
  process.on('uncaughtException', report('uncaughtException'));
}

function onShutdown(stop: () => Promise<void>, log: { info: (o: object, m: string) => void }): void {
  let count = 0;
  const handler = (sig: string): void => {
    if (++count > 1) process.exit(130);
    log.info({ signal: sig }, 'shutting down');
    const t = setTimeout(() => process.exit(1), 30_000);
    t.unref();
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => handler('SIGTERM'));
  process.on('SIGINT', () => handler('SIGINT'));
}

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  switch (cmd) {
    case 'operator':
      return runOperator(rest);
    case 'runtime':
      return runRuntime(rest);
    case 'local': {
      const { runLocal } = await import('./local/local.js');
      return runLocal(rest);
    }
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return;
    default:
      process.stderr.write(`unknown command "${cmd}"\n\n${USAGE}`);
      process.exit(2);
  }
}

main().catch((e: unknown) => {
  if (e instanceof ConfigError || e instanceof LocalModeError) process.stderr.write(`${e.message}\n`);
  else process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
