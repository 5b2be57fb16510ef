// One local mode per machine: its state file (pid, kubeconfig, addresses) lives under the cache directory and
// doubles as a lock. A file whose process is gone (kill -9, crash, reboot) is stale and does not block.
import { existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export interface LocalState {
  pid: number;
  /** process start time in clock ticks since boot (/proc/PID/stat field 22): a reused pid does not look alive */
  startTicks?: number;
  startedAt: string;
  phase: 'starting' | 'up';
  kubeconfig?: string;
  /** printed name -> address */
  addresses?: Record<string, string>;
}

export function defaultStateFile(env: NodeJS.ProcessEnv = process.env): string {
  if (env.JSO_LOCAL_STATE) return env.JSO_LOCAL_STATE;
  return join(env.JSO_CACHE || join(homedir(), '.cache', 'jaeger-storage-operator'), 'local.json');
}

/** Parent pid and start time of a process from /proc (Linux); undefined elsewhere or when it is gone. */
export function procStat(pid: number | 'self'): { ppid: number; startTicks: number; state: string } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may hold spaces and parentheses: the fields after it start after the last ')'
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { state: f[0]!, ppid: Number(f[1]), startTicks: Number(f[19]) };
  } catch {
    return undefined;
  }
}

export function isAlive(st: Pick<LocalState, 'pid' | 'startTicks'>): boolean {
  try {
    process.kill(st.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const now = procStat(st.pid);
  if (!now) return !existsSync('/proc/self/stat'); // no /proc: the signal check is all there is
  return now.state !== 'Z' && (st.startTicks === undefined || now.startTicks === st.startTicks);
}

/** A failure of local mode that one line explains fully: printed without a stack trace. */
export class LocalModeError extends Error {
  override name = 'LocalModeError';
}

export class AlreadyRunning extends LocalModeError {
  constructor(
    readonly state: LocalState,
    readonly file: string,
  ) {
    const where = state.phase === 'up'
      ? `${Object.entries(state.addresses ?? {}).map(([k, v]) => `${k} ${v}`).join(', ')}${state.kubeconfig ? `, KUBECONFIG=${state.kubeconfig}` : ''}`
      : `still starting since ${state.startedAt}`;
    super(`local mode is already running (pid ${state.pid}): ${where}; stop it first (kill ${state.pid}), state in ${file}`);
  }
}

/** Holds the state file for this process until release(). */
export class LocalLock {
  private state: LocalState;

  private constructor(readonly file: string) {
    this.state = { pid: process.pid, startTicks: procStat('self')?.startTicks, startedAt: new Date().toISOString(), phase: 'starting' };
  }

  /** Creates the state file, or throws AlreadyRunning when a live local mode holds it. */
  static acquire(file = defaultStateFile()): LocalLock {
    mkdirSync(dirname(file), { recursive: true });
    const lock = new LocalLock(file);
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = openSync(file, 'wx', 0o600);
        writeFileSync(fd, JSON.stringify(lock.state, null, 2));
        closeSync(fd);
        return lock;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      let held: LocalState | undefined;
      try {
        held = JSON.parse(readFileSync(file, 'utf8')) as LocalState;
      } catch {
        held = undefined; // half-written or unreadable: treated as stale
      }
      if (held && typeof held.pid === 'number' && held.pid !== process.pid && isAlive(held)) throw new AlreadyRunning(held, file);
      rmSync(file, { force: true });
    }
    throw new Error(`could not create ${file}`);
  }

  update(patch: Partial<Omit<LocalState, 'pid' | 'startTicks'>>): void {
    this.state = { ...this.state, ...patch };
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.state, null, 2), { mode: 0o600 });
    renameSync(tmp, this.file);
  }

  /** Removes the file if it is still ours (synchronous: also runs from an 'exit' handler). */
  release(): void {
    try {
      const held = JSON.parse(readFileSync(this.file, 'utf8')) as LocalState;
      if (held.pid === process.pid) rmSync(this.file, { force: true });
    } catch {
      /* already gone */
    }
  }
}
