// Starts a single-node Elasticsearch server (Elasticsearch's integration-test distribution, installed by
// test/env/build-elasticsearch.sh) on a loopback port: plain HTTP without security, or with the security module on
// (Basic auth against a file realm, HTTPS with a certificate from a CA generated for this node). Run as root, the
// node drops to the system user the build script created, since Elasticsearch refuses root. The node dies with the
// process that started it (parent-death signal on its launcher; the server exits when the launcher is gone).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, freePort } from '../../src/local/controlplane.js';
import { exited, firstStart, outputTail, procStat, sleep } from './server-process.js';

const READY_TIMEOUT_MS = 120_000;
const BUILD = 'bash test/env/build-elasticsearch.sh';

/** The file-realm users every node has (written by build-elasticsearch.sh); they matter only with `secure`. */
export const ES_USERS = {
  /** built-in superuser role */
  admin: { username: 'jaeger', password: 'jaeger-test-password' },
  /** role jaeger_storage: the least privileges a TraceStore's user needs (README "Elasticsearch") */
  storage: { username: 'storage', password: 'storage-test-password' },
  /** built-in viewer role: reads, writes nothing */
  viewer: { username: 'viewer', password: 'viewer-test-password' },
} as const;

function sourced(expr: string): string {
  return execFileSync('bash', ['-c', `source "${join(REPO_ROOT, 'test/env/versions.sh')}"; echo ${expr}`], { encoding: 'utf8' }).trim();
}

/** The versions build-elasticsearch.sh installs, newest first as pinned (the first is the default). */
export function elasticsearchVersions(): string[] {
  return sourced('"$ELASTICSEARCH_VERSIONS"').split(/\s+/).filter(Boolean);
}

interface Install {
  home: string;
  usersConf: string;
  javaHome: string;
  user?: string;
}

function install(version: string): Install {
  const dir = join(sourced('"$JSO_CACHE"'), `elasticsearch-${version}`);
  const missing = ['.stamp', 'java-home', 'home/bin/elasticsearch', 'users-conf/users', 'users-conf/users_roles', 'users-conf/roles.yml'].filter((f) => !existsSync(join(dir, f)));
  if (missing.length) throw new Error(`the Elasticsearch ${version} test server is missing (${missing.join(', ')}): install it with: ${BUILD}`);
  // installed by another revision of the build script (another checkout sharing the cache): its users may differ
  const script = createHash('sha256').update(readFileSync(join(REPO_ROOT, 'test/env/build-elasticsearch.sh'))).digest('hex').slice(0, 16);
  if (!readFileSync(join(dir, '.stamp'), 'utf8').includes(` ${script} `)) throw new Error(`the Elasticsearch ${version} test server in ${dir} was installed by another revision of the build script: run: ${BUILD}`);
  const user = process.getuid?.() === 0 ? sourced('"$ELASTICSEARCH_USER"') : undefined;
  return { home: join(dir, 'home'), usersConf: join(dir, 'users-conf'), javaHome: readFileSync(join(dir, 'java-home'), 'utf8').trim(), ...(user ? { user } : {}) };
}

export interface ElasticsearchOptions {
  /** one of elasticsearchVersions() (default: the first) */
  version?: string;
  /** HTTP port on 127.0.0.1 (default: a free one) */
  port?: number;
  /** security module on: Basic auth (ES_USERS) and HTTPS with a generated CA */
  secure?: boolean;
  /** extra node settings */
  settings?: Record<string, string>;
  /** JVM heap, default 512m */
  heap?: string;
}

export interface RunningElasticsearch {
  /** http(s)://127.0.0.1:<port> */
  url: string;
  port: number;
  version: string;
  /** with `secure`: the CA bundle (PEM) the node's certificate is signed by */
  ca?: string;
  /** the launcher process; replaced by restart() */
  proc: ChildProcess;
  log(): string;
  /** a request to the node as the admin user (status and parsed JSON body) */
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }>;
  /** stops the node (SIGTERM, SIGKILL after 20 s) and removes its temp dirs; leaves no process */
  stop(): Promise<void>;
  /** stops the node (SIGTERM, or SIGKILL of the server JVM when `hard`) and starts it again on the same port and data */
  restart(hard?: boolean): Promise<void>;
}


function certificates(dir: string): void {
  const ssl = (...args: string[]): void => {
    try {
      execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      throw new Error(`openssl ${args[0]} failed (${e instanceof Error ? e.message : String(e)}): install openssl to run the secure Elasticsearch node`);
    }
  };
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=jso-test-ca');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'node.key', '-out', 'node.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  ssl('x509', '-req', '-in', 'node.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'node.crt', '-days', '2', '-extfile', 'san.ext');
}

function chownTree(path: string, uid: number, gid: number): void {
  chownSync(path, uid, gid);
  if (statSync(path).isDirectory()) for (const e of readdirSync(path)) chownTree(join(path, e), uid, gid);
}

/** The node's directories under `base`: the distribution linked in, its config with the users (and certificates). */
function prepareNode(base: string, inst: Install, o: ElasticsearchOptions, port: number): { conf: string; home: string; dirs: Record<'data' | 'logs' | 'tmp', string>; ca?: string } {
  const conf = join(base, 'conf');
  const dirs = { data: join(base, 'data'), logs: join(base, 'logs'), tmp: join(base, 'tmp') };
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  // the distribution linked in (the node's user may not traverse the cache under $HOME), its config copied
  const home = join(base, 'home');
  try {
    execFileSync('cp', ['-al', inst.home, home], { stdio: 'ignore' });
  } catch {
    cpSync(inst.home, home, { recursive: true });
  }
  cpSync(join(inst.home, 'config'), conf, { recursive: true });
  for (const f of ['users', 'users_roles', 'roles.yml']) cpSync(join(inst.usersConf, f), join(conf, f));
  const settings: Record<string, string> = {
    'network.host': '127.0.0.1',
    'http.port': String(port),
    'transport.port': '0',
    'discovery.type': 'single-node',
    'cluster.name': 'jso-test',
    'path.data': dirs.data,
    'path.logs': dirs.logs,
    'xpack.security.enabled': String(o.secure ?? false),
    ...(o.secure
      ? {
          'xpack.security.http.ssl.enabled': 'true',
          'xpack.security.http.ssl.key': 'certs/node.key',
          'xpack.security.http.ssl.certificate': 'certs/node.crt',
          'xpack.security.http.ssl.certificate_authorities': 'certs/ca.crt',
        }
      : {}),
    ...o.settings,
  };
  let ca: string | undefined;
  if (o.secure) {
    mkdirSync(join(conf, 'certs'));
    certificates(join(conf, 'certs'));
    ca = readFileSync(join(conf, 'certs', 'ca.crt'), 'utf8');
  }
  writeFileSync(join(conf, 'elasticsearch.yml'), Object.entries(settings).map(([k, v]) => `${k}: ${JSON.stringify(v)}\n`).join(''));
  if (inst.user) {
    const uid = Number(execFileSync('id', ['-u', inst.user], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', inst.user], { encoding: 'utf8' }).trim());
    for (const d of [conf, ...Object.values(dirs)]) chownTree(d, uid, gid);
  }
  execFileSync('chmod', ['a+rx', base]);
  return { conf, home, dirs, ...(ca ? { ca } : {}) };
}

export async function startElasticsearch(o: ElasticsearchOptions = {}): Promise<RunningElasticsearch> {
  const version = o.version ?? elasticsearchVersions()[0]!;
  const inst = install(version);
  const port = o.port ?? (await freePort());
  const base = mkdtempSync(join(tmpdir(), 'jso-es-'));
  // everything under base goes when the first start fails, whatever step failed
  const { conf, home, dirs, ca } = await firstStart(base, async () => prepareNode(base, inst, o, port));

  const scheme = o.secure ? 'https' : 'http';
  const url = `${scheme}://127.0.0.1:${port}`;
  const pidFile = join(dirs.tmp, 'es.pid');
  const output = outputTail();
  const log = output.log;

  const call = (method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const { username, password } = ES_USERS.admin;
      const headers: Record<string, string> = {
        ...(payload ? { 'content-type': 'application/json' } : {}),
        ...(o.secure ? { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` } : {}),
      };
      const req = (o.secure ? httpsRequest : httpRequest)(`${url}${path}`, { method, headers, ...(ca ? { ca } : {}), timeout: 10_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            /* not JSON */
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in 10 s`)));
      req.on('error', reject);
      req.end(payload);
    });

  const launch = async (): Promise<ChildProcess> => {
    rmSync(pidFile, { force: true });
    const bin = join(home, 'bin', 'elasticsearch');
    // setpriv: the parent-death signal (the node goes when this process goes, even on kill -9), and the user
    const args = [...(inst.user ? ['--reuid', inst.user, '--regid', inst.user, '--clear-groups'] : []), '--pdeathsig', 'KILL', bin, '-p', pidFile];
    const env: NodeJS.ProcessEnv = { ...process.env, ES_PATH_CONF: conf, ES_JAVA_HOME: inst.javaHome, ES_TMPDIR: dirs.tmp, ES_JAVA_OPTS: `-Xms${o.heap ?? '512m'} -Xmx${o.heap ?? '512m'}` };
    delete env.JAVA_HOME;
    const proc = spawn('setpriv', args, { cwd: dirs.tmp, stdio: ['ignore', 'pipe', 'pipe'], env });
    output.attach(proc);
    let failed: Error | undefined;
    proc.once('error', (e) => (failed = e));
    const t0 = Date.now();
    for (;;) {
      if (failed) throw new Error(`could not run setpriv (${failed.message}); install util-linux and run: ${BUILD}`);
      if (exited(proc)) throw new Error(`Elasticsearch ${version} exited (code ${proc.exitCode}, signal ${proc.signalCode}):\n${log()}`);
      try {
        const r = await call('GET', '/_cluster/health?wait_for_status=yellow&timeout=5s');
        if (r.status === 200) return proc;
      } catch {
        /* starting */
      }
      if (Date.now() - t0 > READY_TIMEOUT_MS) {
        await kill(proc, true);
        throw new Error(`Elasticsearch ${version} did not become ready (cluster health yellow at ${url}) within ${READY_TIMEOUT_MS / 1000} s:\n${log()}`);
      }
      await sleep(200);
    }
  };

  /** the server JVM's pid (the launcher writes it), when running */
  // the pid file is writable by the node's user: its pid is signalled only while it is a child of our launcher
  const serverPid = (launcher: ChildProcess): number | undefined => {
    try {
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      return pid > 0 && procStat(pid)?.ppid === launcher.pid ? pid : undefined;
    } catch {
      return undefined;
    }
  };
  const kill = async (proc: ChildProcess, hard: boolean): Promise<void> => {
    if (exited(proc)) return;
    const gone = new Promise((r) => proc.once('exit', r));
    const pid = serverPid(proc);
    const signal = hard ? 'SIGKILL' : 'SIGTERM';
    try {
      if (pid) process.kill(pid, signal);
      else proc.kill(signal);
    } catch {
      proc.kill(signal);
    }
    const timer = setTimeout(() => {
      try {
        const still = serverPid(proc);
        if (still) process.kill(still, 'SIGKILL');
      } catch {
        /* gone */
      }
      proc.kill('SIGKILL');
    }, 20_000);
    await gone;
    clearTimeout(timer);
  };

  const proc = await firstStart(base, launch);
  const server: RunningElasticsearch = {
    url,
    port,
    version,
    ...(ca ? { ca } : {}),
    proc,
    log,
    call,
    async stop() {
      await kill(server.proc, false);
      rmSync(base, { recursive: true, force: true });
    },
    async restart(hard = false) {
      await kill(server.proc, hard);
      server.proc = await launch();
    },
  };
  return server;
}
