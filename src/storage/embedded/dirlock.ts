// One process at a time opens an embedded store's directory. LMDB lets several processes share an environment, but
// each of ours numbers groups, dictionary entries, resources and scopes from its own memory: two writers would hand
// out the same numbers and damage each other's data for good. The lock file names its holder (host, pid and the
// process's start time); a holder that is gone (killed with kill -9, its container restarted) leaves a stale file,
// which the next opener takes over, so a crash never blocks a restart.
import { closeSync, linkSync, openSync, readFileSync, realpathSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { UnavailableError } from '../api/index.js';

export const LOCK_FILE = 'runtime.lock';

interface Holder {
  host: string;
  pid: number;
  /** the process's start time (Linux: clock ticks since boot), which tells a reused pid from its holder */
  started: string;
}

/** The second opener of a store's directory, while its holder lives. */
export class StoreLockedError extends UnavailableError {
  constructor(
    readonly dir: string,
    readonly holder: string,
  ) {
    super(`the embedded store in ${dir} is already open (held by ${holder}): one runtime at a time can use a data directory; stop the other one or point dataDir elsewhere`);
    this.name = 'StoreLockedError';
  }
}

/** Directories this process holds (the lock file cannot tell a second open in the same process from its holder). */
const held = new Set<string>();

/** The start time of process `pid`, or undefined if it does not run (or this system does not say). */
function startedAt(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // a zombie (killed, not yet reaped by its parent) holds nothing
    return fields[0] === 'Z' || fields[0] === 'X' ? '' : fields[19];
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether the holder named in a lock file still runs. */
function holds(h: Holder, self: Holder): boolean {
  // another host: the holder cannot be checked from here; a volume moves to another host only once its pod is gone
  if (h.host !== self.host) return false;
  // this process's pid in a lock file it does not hold: left by an earlier process (a restarted container reuses pids)
  if (h.pid === self.pid) return false;
  const started = startedAt(h.pid);
  if (started !== undefined) return started === h.started;
  return self.started === '' && alive(h.pid);
}

const describe = (h: Holder): string => `pid ${h.pid} on ${h.host}`;

function readHolder(file: string): Holder | undefined {
  try {
    const h = JSON.parse(readFileSync(file, 'utf8')) as Partial<Holder>;
    return typeof h.pid === 'number' && typeof h.host === 'string' ? { host: h.host, pid: h.pid, started: String(h.started ?? '') } : undefined;
  } catch {
    return undefined;
  }
}

/** A held lock on a store's directory. */
export class DirLock {
  private constructor(
    private readonly dir: string,
    private readonly file: string,
    private readonly me: string,
  ) {}

  /** Takes the lock of `dir`, or throws StoreLockedError naming its living holder. */
  static take(dir: string): DirLock {
    const real = realpathSync(dir);
    if (held.has(real)) throw new StoreLockedError(dir, `this process, pid ${process.pid}`);
    const self: Holder = { host: hostname(), pid: process.pid, started: startedAt(process.pid) ?? '' };
    const me = JSON.stringify(self);
    const file = join(real, LOCK_FILE);
    // written whole under another name first, so a reader never sees a half-written lock file
    const tmp = `${file}.${process.pid}.${Date.now()}`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, me);
    } finally {
      closeSync(fd);
    }
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          linkSync(tmp, file); // fails if the file exists
          break;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        }
        const h = readHolder(file);
        if (h && holds(h, self)) throw new StoreLockedError(dir, describe(h));
        if (attempt >= 2) throw new StoreLockedError(dir, h ? describe(h) : 'an unreadable lock file');
        // stale: replace it whole, then check that no opener taking it over at the same time replaced it after us
        renameSync(tmp, file);
        if (readFileSync(file, 'utf8') === me) {
          held.add(real);
          return new DirLock(real, file, me);
        }
        const fd2 = openSync(tmp, 'w', 0o600);
        try {
          writeSync(fd2, me);
        } finally {
          closeSync(fd2);
        }
      }
    } finally {
      try {
        unlinkSync(tmp);
      } catch {
        // renamed into place
      }
    }
    held.add(real);
    return new DirLock(real, file, me);
  }

  /** Gives the lock up (if the file is still ours). */
  release(): void {
    held.delete(this.dir);
    try {
      if (readFileSync(this.file, 'utf8') === this.me) unlinkSync(this.file);
    } catch {
      // gone already
    }
  }
}
