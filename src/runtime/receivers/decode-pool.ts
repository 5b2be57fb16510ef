// Decode threads for the OTLP/protobuf receivers. Checking a request (every field, every attribute) is most of the
// CPU an export costs; worker threads do it, in parallel with the main thread, which receives, builds the spans from
// the checked bytes (typed arrays of offsets: no second pass over attributes) and stores them. A request's bytes are
// moved to its thread and back, not copied, when they own their memory.
// Small requests, and every request when no thread is configured, are decoded on the main thread. A thread that
// dies fails the requests it held with a retryable error and is replaced.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { type DecodedTraces, type TracesPlan, buildTraces, decodeTracesProto } from '../../otlp/otlp-decode.js';
import { InvalidArgumentError } from '../../storage/api/errors.js';

/** posted to a decode thread: the memory holding the request (moved), which is `length` bytes at `offset` */
export interface ScanRequest {
  id: number;
  bytes: ArrayBuffer;
  offset: number;
  length: number;
}

/** what a decode thread answers, with the bytes moved back */
export type ScanReply = { id: number; bytes: ArrayBuffer } & ({ plan: TracesPlan } | { invalid: { field: string; reason: string } } | { failed: string });

/** A decode thread died or failed unexpectedly: nothing was stored, the client may retry. */
export class DecodeUnavailableError extends Error {}

/** requests smaller than this are decoded on the main thread by default: posting them costs more than it saves */
export const MIN_OFFLOAD_BYTES = 16 * 1024;

export interface DecodePoolOptions {
  /** smallest request sent to a thread (default MIN_OFFLOAD_BYTES) */
  minBytes?: number;
  /** the thread's script (tests give one that misbehaves) */
  workerUrl?: URL;
  /** how long after a thread died another starts (default RESPAWN_MS) */
  respawnMs?: number;
}

/**
 * The CPUs this process may use: the scheduler's affinity (availableParallelism) capped by a cgroup v2 CPU quota
 * (a container's CPU limit), which availableParallelism does not see.
 */
export function usableCpus(cpuMax = '/sys/fs/cgroup/cpu.max'): number {
  let cpus = availableParallelism();
  try {
    const [quota, period] = readFileSync(cpuMax, 'utf8').trim().split(/\s+/);
    if (quota && quota !== 'max' && Number(period) > 0) cpus = Math.min(cpus, Math.max(1, Math.ceil(Number(quota) / Number(period))));
  } catch {
    // no cgroup v2 CPU controller here: the affinity is the limit
  }
  return cpus;
}

/**
 * The default thread count: the usable CPUs less two (the main thread's, and one for the collector, the network and
 * the load around it), at most 4. On 2 CPUs that is none: there the threads' own cost (a second heap and JIT, moving
 * each request twice) ate what they took off the main thread (bench:ingest, BENCH_DECODE_THREADS).
 */
export const defaultDecodeThreads = (): number => Math.min(4, Math.max(0, usableCpus() - 2));

interface Pending {
  resolve: (d: DecodedTraces) => void;
  reject: (e: Error) => void;
  offset: number;
  length: number;
}

/**
 * Bytes around a request in its memory that may still be moved with it: gRPC hands over each message as a view past
 * its 5-byte frame header, in memory of its own. Anything more may be another message's, and is copied around.
 */
const SLACK = 16;

class Thread {
  readonly worker: Worker;
  readonly pending = new Map<number, Pending>();
  /** bytes of the requests it holds, to pick the least loaded thread */
  load = 0;
  dead = false;

  constructor(url: URL, onExit: (t: Thread, why: string) => void) {
    this.worker = new Worker(url, { resourceLimits: { maxOldGenerationSizeMb: 256 } });
    this.worker.unref();
    this.worker.on('message', (m: ScanReply) => this.#answer(m));
    this.worker.on('error', (e: Error) => onExit(this, e.stack ?? e.message));
    this.worker.on('exit', (code: number) => onExit(this, `exited with code ${code}`));
  }

  #answer(m: ScanReply): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    this.load -= p.length;
    const buf = Buffer.from(m.bytes, p.offset, p.length);
    if ('plan' in m) {
      try {
        p.resolve(buildTraces(buf, m.plan, true));
      } catch (e) {
        p.reject(e instanceof Error ? e : new Error(String(e)));
      }
    } else if ('invalid' in m) p.reject(new InvalidArgumentError(m.invalid.field, m.invalid.reason));
    else p.reject(new Error(`decode thread failed: ${m.failed}`));
  }

  /** fails what it holds: the thread is gone */
  fail(why: string): void {
    this.dead = true;
    for (const p of this.pending.values()) p.reject(new DecodeUnavailableError(`the request could not be decoded (decode thread ${why}): retry`));
    this.pending.clear();
    this.load = 0;
  }
}

/** how long after a thread died another is started (requests are decoded on the main thread meanwhile) */
export const RESPAWN_MS = 1000;

export class DecodePool {
  /** the live threads */
  readonly #threads: Thread[] = [];
  readonly #size: number;
  #started = false;
  #closed = false;
  #next = 1;
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #minBytes: number;
  readonly #url: URL;
  readonly #respawnMs: number;

  constructor(
    threads: number,
    private readonly log: Logger,
    o: DecodePoolOptions = {},
  ) {
    this.#size = threads;
    this.#minBytes = o.minBytes ?? MIN_OFFLOAD_BYTES;
    this.#url = o.workerUrl ?? new URL('./decode-worker.js', import.meta.url);
    this.#respawnMs = o.respawnMs ?? RESPAWN_MS;
  }

  /** threads configured */
  get size(): number {
    return this.#size;
  }

  /** threads running now */
  get running(): number {
    return this.#threads.length;
  }

  #spawn(): void {
    const t = new Thread(this.#url, (dead, why) => {
      if (dead.dead) return;
      dead.fail(why);
      const i = this.#threads.indexOf(dead);
      if (i >= 0) this.#threads.splice(i, 1);
      if (this.#closed) return;
      this.log.error({ why }, `OTLP decode thread stopped: the main thread decodes until another starts in ${this.#respawnMs} ms`);
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        if (!this.#closed) this.#spawn();
      }, this.#respawnMs);
      timer.unref();
      this.#timers.add(timer);
    });
    this.#threads.push(t);
  }

  /**
   * The spans of an OTLP/protobuf request, lazily decoded. Rejects with InvalidArgumentError for a malformed
   * request and DecodeUnavailableError when its thread died. The request's Buffer must not be used afterwards:
   * its memory may have moved to the thread and back.
   */
  decode(body: Buffer): Promise<DecodedTraces> {
    if (!this.#started && !this.#closed && this.#size > 0 && body.length >= this.#minBytes) {
      // started with the first request that needs them: a runtime that never ingests runs none
      this.#started = true;
      for (let i = 0; i < this.#size; i++) this.#spawn();
    }
    if (this.#closed || this.#threads.length === 0 || body.length < this.#minBytes) return Promise.resolve().then(() => decodeTracesProto(body, { lazy: true }));
    let t = this.#threads[0]!;
    for (const x of this.#threads) if (x.load < t.load) t = x;
    const id = this.#next++;
    const length = body.length;
    return new Promise<DecodedTraces>((resolve, reject) => {
      const mem = body.buffer;
      const own = mem instanceof ArrayBuffer && body.byteOffset <= SLACK && mem.byteLength - body.byteOffset - length <= SLACK;
      let req: ScanRequest = { id, bytes: mem as ArrayBuffer, offset: body.byteOffset, length };
      try {
        if (!own) throw new Error('shared memory');
        t.worker.postMessage(req, [req.bytes]);
      } catch {
        // the bytes share memory with others (a pooled slab) or cannot be moved: the thread gets a copy
        const copy = new ArrayBuffer(length);
        new Uint8Array(copy).set(body);
        req = { id, bytes: copy, offset: 0, length };
        t.worker.postMessage(req, [copy]);
      }
      t.pending.set(id, { resolve, reject, offset: req.offset, length });
      t.load += length;
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    const threads = this.#threads.splice(0);
    for (const t of threads) t.fail('stopped');
    await Promise.all(threads.map((t) => t.worker.terminate()));
  }
}
