// Starts a single-node OpenSearch server (built by test/env/build-opensearch.sh: Maven Central jars on the JVM) on a
// loopback port, with its data in a temp dir unless one is given.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, freePort } from '../../src/local/controlplane.js';

import { exited, firstStart, outputTail, sleep, terminate } from './server-process.js';

/** how long a stopping node may take before it is killed */
const GRACE_MS = 20_000;

const MISSING = 'the OpenSearch test server is missing: build it with: bash test/env/build-opensearch.sh';
const READY_TIMEOUT_MS = 90_000;

/**
 * Where build-opensearch.sh put the server: `embedded-opensearch.jar` (the main class), `lib/` (OpenSearch and its
 * modules) and `opensearch.jsa` (class-data-sharing archive, optional).
 */
export function openSearchDir(): string {
  const dir = execFileSync('bash', ['-c', `source "${join(REPO_ROOT, 'test/env/versions.sh')}"; echo "$OPENSEARCH_DIR"`], { encoding: 'utf8' }).trim();
  if (!existsSync(join(dir, '.stamp')) || !existsSync(join(dir, 'embedded-opensearch.jar')) || !readdirSync(join(dir, 'lib')).some((f) => f.startsWith('opensearch-'))) {
    throw new Error(MISSING);
  }
  return dir;
}

export interface RunningOpenSearch {
  /** http://127.0.0.1:<port> */
  url: string;
  port: number;
  dataDir: string;
  /** the JVM; replaced by restart() */
  proc: ChildProcess;
  /** the tail of the server's stdout and stderr */
  log(): string;
  /** closes the node (SIGTERM, then SIGKILL after 20 s) and removes its temp dirs; leaves no process */
  stop(): Promise<void>;
  /** stops the node (SIGTERM, or SIGKILL when `hard`) and starts it again on the same port and data dir */
  restart(hard?: boolean): Promise<void>;
}

export interface OpenSearchOptions {
  /** HTTP port on 127.0.0.1 (default: a free one) */
  port?: number;
  /** data directory; kept on stop() when given (default: inside a temp dir that stop() removes) */
  dataDir?: string;
  /** extra node settings, e.g. { 'action.auto_create_index': 'false' } */
  settings?: Record<string, string>;
  /** JVM heap (-Xmx), default 512m */
  heap?: string;
}

export async function startOpenSearch(o: OpenSearchOptions = {}): Promise<RunningOpenSearch> {
  const dir = openSearchDir();
  const port = o.port ?? (await freePort());
  const base = mkdtempSync(join(tmpdir(), 'jso-opensearch-'));
  const home = join(base, 'home');
  const dataDir = o.dataDir ?? join(base, 'data');
  mkdirSync(join(home, 'tmp'), { recursive: true });
  mkdirSync(dataDir, { recursive: true });
  const settings: Record<string, string> = {
    'http.port': String(port),
    'path.home': home,
    'path.data': dataDir,
    'cluster.name': 'jso-test',
    ...o.settings,
  };
  const args = [
    `-Xms${o.heap ?? '512m'}`,
    `-Xmx${o.heap ?? '512m'}`,
    '-XX:+UseSerialGC',
    // classes of a recorded start, mapped instead of loaded and verified (~2x faster start); skipped if stale
    ...(existsSync(join(dir, 'opensearch.jsa')) ? [`-XX:SharedArchiveFile=${join(dir, 'opensearch.jsa')}`, '-Xlog:cds=off', '-Xlog:cds+dynamic=off'] : []),
    `-XX:ErrorFile=${join(home, 'hs_err_pid%p.log')}`,
    '-Xss1m',
    '-Djava.awt.headless=true',
    '-Dfile.encoding=UTF-8',
    `-Djava.io.tmpdir=${join(home, 'tmp')}`,
    `-Djna.tmpdir=${join(home, 'tmp')}`,
    '-Dopensearch.set.netty.runtime.available.processors=false',
    '-Dio.netty.noUnsafe=true',
    '-Dio.netty.noKeySetOptimization=true',
    '-Dio.netty.recycler.maxCapacityPerThread=0',
    '-Dlog4j.shutdownHookEnabled=false',
    '-Dlog4j2.disable.jmx=true',
    '-cp',
    `${join(dir, 'embedded-opensearch.jar')}:${join(dir, 'lib', '*')}`,
    'EmbeddedOpenSearch',
    ...Object.entries(settings).map(([k, v]) => `${k}=${v}`),
  ];

  const output = outputTail();
  const log = output.log;
  const url = `http://127.0.0.1:${port}`;

  /** 200 from GET / and then from the cluster health with every primary shard assigned (data recovered on restart) */
  const ready = async (): Promise<boolean> => {
    for (const path of ['/', '/_cluster/health?wait_for_status=yellow&timeout=5s']) {
      const res = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(7000) });
      await res.arrayBuffer();
      if (res.status !== 200) return false;
    }
    return true;
  };

  const launch = async (): Promise<ChildProcess> => {
    // JSO_PARENT_PID: the server closes itself when this process is gone (crash, kill -9) without calling stop()
    const proc = spawn('java', args, { cwd: home, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, JSO_PARENT_PID: String(process.pid) } });
    output.attach(proc);
    const spawnError = new Promise<Error>((r) => proc.once('error', r));
    let failed: Error | undefined;
    void spawnError.then((e) => (failed = e));
    const t0 = Date.now();
    for (;;) {
      if (failed) throw new Error(`could not run java (${failed.message}); install a JDK >= 17 and run: bash test/env/build-opensearch.sh`);
      if (exited(proc)) throw new Error(`OpenSearch exited (code ${proc.exitCode}, signal ${proc.signalCode}):\n${log()}`);
      try {
        if (await ready()) return proc;
      } catch {
        /* starting */
      }
      if (Date.now() - t0 > READY_TIMEOUT_MS) {
        await terminate(proc, 'SIGKILL', GRACE_MS);
        throw new Error(`OpenSearch did not become ready (GET ${url}/ and cluster health yellow) within ${READY_TIMEOUT_MS / 1000} s:\n${log()}`);
      }
      await sleep(100);
    }
  };

  const proc = await firstStart(base, launch);
  const server: RunningOpenSearch = {
    url,
    port,
    dataDir,
    proc,
    log,
    async stop() {
      await terminate(server.proc, 'SIGTERM', GRACE_MS);
      rmSync(base, { recursive: true, force: true });
    },
    async restart(hard = false) {
      await terminate(server.proc, hard ? 'SIGKILL' : 'SIGTERM', GRACE_MS);
      server.proc = await launch();
    },
  };
  return server;
}
