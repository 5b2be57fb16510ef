// What the test servers started as child processes share: the tail of their output for error messages, whether a
// process has exited, stopping it, removing a server's temp dirs when its first start fails, and a process's parent and CPU time.
import type { ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const exited = (p: ChildProcess): boolean => p.exitCode !== null || p.signalCode !== null;

/** Sends `signal` and waits for the exit; SIGKILL after `graceMs` if the process is still there. */
export async function terminate(proc: ChildProcess, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  if (exited(proc)) return;
  const done = new Promise((r) => proc.once('exit', r));
  proc.kill(signal);
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  await done;
  clearTimeout(timer);
}

/** Collects a process's stdout and stderr, keeping a bounded tail; `log()` is the last 8,000 characters. */
export function outputTail(): { attach(proc: ChildProcess): void; log(): string } {
  let out = '';
  const append = (c: Buffer): void => {
    out += c.toString();
    if (out.length > 64_000) out = out.slice(-32_000);
  };
  return {
    attach(proc) {
      proc.stdout?.on('data', append);
      proc.stderr?.on('data', append);
    },
    log: () => out.slice(-8000),
  };
}

/** The first start of a server whose temp dirs live under `base`: removed when the start fails. */
export async function firstStart<T>(base: string, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (e) {
    rmSync(base, { recursive: true, force: true });
    throw e;
  }
}

/**
 * A process's parent and its user+system CPU time in clock ticks, from /proc/<pid>/stat; undefined when it is gone.
 * The fields after "(comm)" (which may hold spaces, so the text is read after the last ")") are: state ppid ...,
 * utime the 14th field and stime the 15th.
 */
export function procStat(pid: number): { ppid: number; ticks: number } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) };
  } catch {
    return undefined;
  }
}

/**
 * One server for the suites of a test file: `shared()` starts it on first use, and the last `release()` stops it,
 * once every suite that took it is done.
 */
export function sharedServer<T extends { stop(): Promise<void> }>(start: () => Promise<T>): { shared(): Promise<T>; release(): Promise<void> } {
  let server: Promise<T> | undefined;
  let users = 0;
  return {
    shared() {
      users++;
      server ??= start();
      return server;
    },
    async release() {
      if (--users === 0 && server) {
        const s = server;
        server = undefined;
        // a server that never started has nothing to stop (its suites already failed on the start)
        await (await s.catch(() => undefined))?.stop();
      }
    },
  };
}
