// Starts the ClickHouse test server: test/env/clickhouse-front.ts (ClickHouse's HTTP interface over the ClickHouse
// engine of the npm package chdb, installed by test/env/build-clickhouse.sh) as a child process on a loopback port,
// with its data in a temp dir unless one is given. Clients such as @clickhouse/client talk to `url` as to a ClickHouse
// server. The front exits with the process that started it (it watches --parent-pid).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, freePort } from '../../src/local/controlplane.js';

import { exited, firstStart, outputTail, sleep, terminate } from './server-process.js';

const BUILD = 'bash test/env/build-clickhouse.sh';
const FRONT = join(REPO_ROOT, 'dist', 'test', 'env', 'clickhouse-front.js');
const READY_TIMEOUT_MS = 60_000;
/** how long a stopping server may take (it finishes the running statement and closes the engine) before it is killed */
const GRACE_MS = 30_000;

export interface ClickHouseOptions {
  /** the one user the server takes (default `default`); with `password`, the client's credentials must match */
  user?: string;
  /** the user's password (default empty) */
  password?: string;
  /** HTTPS only, with this PEM certificate and unencrypted key */
  tls?: { certFile: string; keyFile: string };
  /** the engine's data directory; kept by stop() when given (default: inside a temp dir that stop() removes) */
  dataDir?: string;
  /** port on 127.0.0.1 (default: a free one) */
  port?: number;
}

export interface ClickHouseServer {
  /** http(s)://127.0.0.1:<port>, for createClient({ url }) */
  url: string;
  port: number;
  dataDir: string;
  /** the credentials the server takes, for createClient({ username, password }) */
  username: string;
  password: string;
  /** the front's process; replaced by restart() */
  proc: ChildProcess;
  /** the tail of the front's output (stdout and stderr) */
  log(): string;
  /** SIGTERM (the front finishes the running statement and closes the engine), SIGKILL after 30 s; removes the temp dir */
  stop(): Promise<void>;
  /** SIGKILL, at once (a crash); the data dir is kept, for restart() */
  kill(): Promise<void>;
  /** stops the server if it runs (SIGTERM) and starts it again on the same port and data dir */
  restart(): Promise<void>;
}

/** $CHDB_DIR, where build-clickhouse.sh installed chdb; refuses a missing or unfinished install */
export function chdbDir(): string {
  const dir = execFileSync('bash', ['-c', `source "${join(REPO_ROOT, 'test/env/versions.sh')}"; echo "$CHDB_DIR"`], { encoding: 'utf8' }).trim();
  const missing = ['.stamp', 'node_modules/chdb/package.json'].filter((f) => !existsSync(join(dir, f)));
  if (missing.length) throw new Error(`the ClickHouse test server's engine (npm chdb) is missing (${missing.join(', ')} in ${dir}): install it with: ${BUILD}`);
  return dir;
}

export async function startClickHouse(o: ClickHouseOptions = {}): Promise<ClickHouseServer> {
  const dir = chdbDir();
  if (!existsSync(FRONT)) throw new Error(`${FRONT} is missing: run npm run build`);
  const base = mkdtempSync(join(tmpdir(), 'jso-clickhouse-'));
  const dataDir = o.dataDir ?? join(base, 'data');
  const username = o.user ?? 'default';
  const password = o.password ?? '';
  let port = o.port ?? (await freePort());
  const output = outputTail();

  const launch = async (): Promise<ChildProcess> => {
    mkdirSync(dataDir, { recursive: true });
    const args = [FRONT, '--port', String(port), '--data', dataDir, '--user', username, '--password', password, '--parent-pid', String(process.pid)];
    if (o.tls) args.push('--tls-cert', o.tls.certFile, '--tls-key', o.tls.keyFile);
    // TZ: the engine's (and so the server's) time zone is the process's; a ClickHouse server's is UTC unless configured
    const proc = spawn(process.execPath, args, { cwd: base, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CHDB_DIR: dir, TZ: 'UTC' } });
    output.attach(proc);
    let ready = false;
    proc.stdout?.on('data', (c: Buffer) => {
      if (/^listening \d+$/m.test(c.toString())) ready = true;
    });
    let failed: Error | undefined;
    proc.once('error', (e) => (failed = e));
    const t0 = Date.now();
    for (;;) {
      if (failed) throw new Error(`could not run the ClickHouse test server (${failed.message})`);
      if (ready) return proc;
      if (exited(proc)) {
        const log = output.log();
        throw new Error(`the ClickHouse test server exited (code ${proc.exitCode}, signal ${proc.signalCode})${/not installed/.test(log) ? ` (install its engine with: ${BUILD})` : ''}:\n${log}`);
      }
      if (Date.now() - t0 > READY_TIMEOUT_MS) {
        await terminate(proc, 'SIGKILL', GRACE_MS);
        throw new Error(`the ClickHouse test server did not listen on 127.0.0.1:${port} within ${READY_TIMEOUT_MS / 1000} s:\n${output.log()}`);
      }
      await sleep(50);
    }
  };

  // a port handed out by freePort can be taken before the front binds it: then again on another (a port the caller
  // chose is kept, and the start fails)
  const proc = await firstStart(base, async () => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await launch();
      } catch (e) {
        if (attempt >= 3 || o.port !== undefined || !(e instanceof Error) || !/EADDRINUSE/.test(e.message)) throw e;
        port = await freePort();
      }
    }
  });

  const server: ClickHouseServer = {
    url: `${o.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    dataDir,
    username,
    password,
    proc,
    log: output.log,
    async stop() {
      await terminate(server.proc, 'SIGTERM', GRACE_MS);
      rmSync(base, { recursive: true, force: true });
    },
    async kill() {
      await terminate(server.proc, 'SIGKILL', GRACE_MS);
    },
    async restart() {
      await terminate(server.proc, 'SIGTERM', GRACE_MS);
      server.proc = await launch();
    },
  };
  return server;
}
