// Starts a single-node Cassandra server (built by test/env/build-cassandra.sh: Maven Central jars on the JVM) on
// loopback ports, with its data in a temp dir unless one is given. Plain (AllowAll) by default; with `auth`, the
// PasswordAuthenticator and CassandraAuthorizer with Cassandra's default superuser (CASSANDRA_SUPERUSER). The node
// dies with the process that started it (CassandraLauncher exits once JSO_PARENT_PID is gone).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import cassandra from 'cassandra-driver';
import { REPO_ROOT, freePort } from '../../src/local/controlplane.js';

import { exited, firstStart, outputTail, sleep, terminate } from './server-process.js';

/** how long a stopping node may take before it is killed */
const GRACE_MS = 30_000;

const BUILD = 'bash test/env/build-cassandra.sh';
const READY_TIMEOUT_MS = 120_000;
const SRC = join(REPO_ROOT, 'test/env/cassandra');

/** The superuser Cassandra creates at its first start with the PasswordAuthenticator (`auth: true`). */
export const CASSANDRA_SUPERUSER = { username: 'cassandra', password: 'cassandra' } as const;
/** The data center of the node (SimpleSnitch): the driver's `localDataCenter`. */
export const CASSANDRA_DC = 'datacenter1';

/**
 * Where build-cassandra.sh put the server: `cassandra-launcher.jar` (the main class), `lib/` (Cassandra and its
 * dependencies) and `cassandra.jsa` (class-data-sharing archive, optional). Refuses a cache built from other sources.
 */
export function cassandraDir(): string {
  const dir = execFileSync('bash', ['-c', `source "${join(REPO_ROOT, 'test/env/versions.sh')}"; echo "$CASSANDRA_DIR"`], { encoding: 'utf8' }).trim();
  const missing = ['.stamp', 'cassandra-launcher.jar', 'lib'].filter((f) => !existsSync(join(dir, f)));
  if (missing.length) throw new Error(`the Cassandra test server is missing (${missing.join(', ')} in ${dir}): build it with: ${BUILD}`);
  // the same key as the script's stamp: the pom, the launcher (with the parent watch it compiles in) and the JVM
  // options it was built and archived with, in the script's order
  const key = createHash('sha256')
    .update(Buffer.concat([join(SRC, 'pom.xml'), join(SRC, 'CassandraLauncher.java'), join(SRC, '..', 'java', 'ParentWatch.java'), join(SRC, 'jvm.options')].map((f) => readFileSync(f))))
    .digest('hex')
    .slice(0, 16);
  if (!readFileSync(join(dir, '.stamp'), 'utf8').includes(` ${key} `)) throw new Error(`the Cassandra test server in ${dir} was built from other sources: run: ${BUILD}`);
  return dir;
}

export interface CassandraOptions {
  /** PasswordAuthenticator + CassandraAuthorizer (superuser CASSANDRA_SUPERUSER); default AllowAll */
  auth?: boolean;
  /** native (CQL) port on 127.0.0.1 (default: a free one) */
  port?: number;
  /** data directory; kept on stop() when given (default: inside a temp dir that stop() removes) */
  dataDir?: string;
  /** JVM heap (-Xmx), default 512m */
  heap?: string;
  /** client-to-node encryption only (no plain CQL), with this PEM certificate and unencrypted key; `ca` signed it */
  tls?: { certFile: string; keyFile: string; ca: string };
  /**
   * when a write is acknowledged: 'batch' (default) once the commit log holding it is synced to disk; 'periodic'
   * (Cassandra's own default) at once, the commit log synced every 10 s
   */
  commitlogSync?: 'batch' | 'periodic';
}

export interface RunningCassandra {
  /** 127.0.0.1 */
  host: string;
  /** native (CQL) port */
  port: number;
  /** internode (storage) port, not used by clients */
  storagePort: number;
  dataDir: string;
  /** the superuser with `auth`, for the driver's `credentials` */
  credentials?: { username: string; password: string };
  /** the JVM; replaced by restart() */
  proc: ChildProcess;
  /** the tail of the server's log (stdout and stderr) */
  log(): string;
  /**
   * Stops the node and removes its temp dirs; leaves no process. A node whose data is thrown away is killed
   * (SIGKILL); one with a given dataDir is drained (SIGTERM, SIGKILL after 30 s) so that it is kept clean.
   */
  stop(): Promise<void>;
  /** stops the node (SIGTERM, or SIGKILL of the JVM when `hard`) and starts it again on the same ports and data dir */
  restart(hard?: boolean): Promise<void>;
}

function fill(template: string, values: Record<string, string>): string {
  return template.replace(/@([A-Z_]+)@/g, (m, k: string) => {
    const v = values[k];
    if (v === undefined) throw new Error(`no value for ${m} in test/env/cassandra`);
    return v;
  });
}

/** a TCP connection to 127.0.0.1:port is accepted (within 1 s) */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** a CQL session answers SELECT release_version FROM system.local (as the superuser with auth) */
async function answers(port: number, credentials?: { username: string; password: string }, ca?: string): Promise<boolean> {
  if (!(await accepts(port))) return false;
  const client = new cassandra.Client({
    contactPoints: [`127.0.0.1:${port}`],
    localDataCenter: CASSANDRA_DC,
    ...(credentials ? { credentials } : {}),
    ...(ca ? { sslOptions: { ca } } : {}),
    socketOptions: { connectTimeout: 3000, readTimeout: 5000 },
  });
  try {
    await client.connect();
    const rs = await client.execute('SELECT release_version FROM system.local');
    return typeof rs.first()?.get('release_version') === 'string';
  } catch {
    return false;
  } finally {
    await client.shutdown().catch(() => undefined);
  }
}

export async function startCassandra(o: CassandraOptions = {}): Promise<RunningCassandra> {
  const dir = cassandraDir();
  const base = mkdtempSync(join(tmpdir(), 'jso-cassandra-'));
  const conf = join(base, 'conf');
  const tmp = join(base, 'tmp');
  const dataDir = o.dataDir ?? join(base, 'data');
  const credentials = o.auth ? { ...CASSANDRA_SUPERUSER } : undefined;
  let port = o.port ?? (await freePort());
  let storagePort = await freePort();

  const writeConfig = (): void => {
    const yaml = fill(readFileSync(join(SRC, 'cassandra.yaml'), 'utf8'), {
      STORAGE_PORT: String(storagePort),
      NATIVE_PORT: String(port),
      DATA_DIR: dataDir,
      AUTHENTICATOR: o.auth ? 'PasswordAuthenticator' : 'AllowAllAuthenticator',
      AUTHORIZER: o.auth ? 'CassandraAuthorizer' : 'AllowAllAuthorizer',
    });
    let tls = '';
    if (o.tls) {
      // the PEM key store: the unencrypted private key followed by the certificate
      const keystore = join(conf, 'node.pem');
      writeFileSync(keystore, readFileSync(o.tls.keyFile, 'utf8') + readFileSync(o.tls.certFile, 'utf8'), { mode: 0o600 });
      tls = `\nclient_encryption_options:\n  enabled: true\n  optional: false\n  require_client_auth: false\n  keystore: ${keystore}\n  ssl_context_factory:\n    class_name: org.apache.cassandra.security.PEMBasedSslContextFactory\n`;
    }
    const sync = /^commitlog_sync: batch$/m;
    if (o.commitlogSync === 'periodic' && !sync.test(yaml)) throw new Error('test/env/cassandra/cassandra.yaml has no line "commitlog_sync: batch" to make periodic');
    writeFileSync(join(conf, 'cassandra.yaml'), (o.commitlogSync === 'periodic' ? yaml.replace(sync, 'commitlog_sync: periodic\ncommitlog_sync_period: 10000ms') : yaml) + tls);
  };
  await firstStart(base, async () => {
    for (const d of [conf, tmp, dataDir]) mkdirSync(d, { recursive: true });
    writeFileSync(join(conf, 'logback.xml'), readFileSync(join(SRC, 'logback.xml')));
    writeConfig();
  });

  const args = [
    `-Xmx${o.heap ?? '512m'}`,
    `@${join(SRC, 'jvm.options')}`,
    // classes of a recorded start, mapped instead of loaded and verified (about half the start time); skipped if stale
    ...(existsSync(join(dir, 'cassandra.jsa')) ? [`-XX:SharedArchiveFile=${join(dir, 'cassandra.jsa')}`, '-Xlog:cds=off', '-Xlog:cds+dynamic=off'] : []),
    `-XX:ErrorFile=${join(base, 'hs_err_pid%p.log')}`,
    `-Djava.io.tmpdir=${tmp}`,
    `-Dcassandra.config=file://${join(conf, 'cassandra.yaml')}`,
    `-Dcassandra.storagedir=${dataDir}`,
    `-Dlogback.configurationFile=${join(conf, 'logback.xml')}`,
    '-cp',
    `${join(dir, 'cassandra-launcher.jar')}:${join(dir, 'lib', '*')}`,
    'CassandraLauncher',
  ];
  // Cassandra locks all its memory (mlockall) at start, which as root (CAP_IPC_LOCK) succeeds and makes the whole heap
  // and every thread stack resident (~900 MB instead of ~400 MB); without the capability it logs a warning and goes on
  const asRoot = process.getuid?.() === 0 && existsSync('/usr/bin/setpriv');
  const [cmd, argv] = asRoot ? ['/usr/bin/setpriv', ['--bounding-set', '-ipc_lock', 'java', ...args]] : ['java', args];

  const output = outputTail();
  const log = output.log;

  const launch = async (): Promise<ChildProcess> => {
    // JSO_PARENT_PID: the launcher exits when this process is gone (crash, kill -9) without calling stop()
    const proc = spawn(cmd, argv, { cwd: base, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, JSO_PARENT_PID: String(process.pid) } });
    output.attach(proc);
    // the line naming why a start failed, which the shutdown that follows pushes out of the log's tail
    let startupError = '';
    const scan = (c: Buffer): void => {
      startupError ||= /^Exception \(.*encountered during startup.*$/m.exec(c.toString())?.[0] ?? '';
    };
    proc.stdout?.on('data', scan);
    proc.stderr?.on('data', scan);
    let failed: Error | undefined;
    proc.once('error', (e) => (failed = e));
    const t0 = Date.now();
    for (;;) {
      if (failed) throw new Error(`could not run java (${failed.message}); install a JDK 17 and run: ${BUILD}`);
      if (exited(proc)) throw new Error(`Cassandra exited (code ${proc.exitCode}, signal ${proc.signalCode})${startupError ? `: ${startupError}` : ''}\n${log()}`);
      if (await answers(port, credentials, o.tls?.ca)) return proc;
      if (Date.now() - t0 > READY_TIMEOUT_MS) {
        await terminate(proc, 'SIGKILL', GRACE_MS);
        throw new Error(`Cassandra did not answer CQL on 127.0.0.1:${port} within ${READY_TIMEOUT_MS / 1000} s:\n${log()}`);
      }
      await sleep(250);
    }
  };

  // a port handed out by freePort can still be taken before the node binds it: then again on other ports (ports the
  // caller chose are kept, and the node fails)
  const proc = await firstStart(base, async () => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await launch();
      } catch (e) {
        if (attempt >= 3 || !(e instanceof Error) || !/^Cassandra exited.*(Failed to bind|Unable to bind|Address already in use)/.test(e.message)) throw e;
        if (o.port === undefined) port = await freePort();
        storagePort = await freePort();
        writeConfig();
      }
    }
  });

  const server: RunningCassandra = {
    host: '127.0.0.1',
    port,
    storagePort,
    dataDir,
    ...(credentials ? { credentials } : {}),
    proc,
    log,
    async stop() {
      await terminate(server.proc, o.dataDir ? 'SIGTERM' : 'SIGKILL', GRACE_MS);
      rmSync(base, { recursive: true, force: true });
    },
    async restart(hard = false) {
      await terminate(server.proc, hard ? 'SIGKILL' : 'SIGTERM', GRACE_MS);
      server.proc = await launch();
    },
  };
  return server;
}
